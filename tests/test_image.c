/* Tests of src/data/image*.c: decoding every fixture of tests/fixtures/images against the pixels
 * PIL gives (expected.txt, written by make_images.py), gray/color conversions, the bad-file corpus
 * and every truncation of a few files, PNG/JPEG encoding round trips, and resizing: area
 * averaging and bilinear against PIL, synthetic images of known content through DIGITS' four
 * modes, noise where and as specified. */
#include "core/rng.h"
#include "data/image.h"
#include "harness.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FIXTURES PDL_SOURCE_DIR "/tests/fixtures/images/"

static uint8_t *read_bytes(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    CHECK(f != NULL);
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc((size_t)n + 1);
    CHECK(b && fread(b, 1, (size_t)n, f) == (size_t)n);
    fclose(f);
    *size = (size_t)n;
    return b;
}

static uint8_t px(const pdl_image *img, int c, int y, int x)
{
    return img->data[((size_t)c * img->height + y) * img->width + x];
}

static void fill_pattern(pdl_image *img, unsigned salt)
{
    size_t n = (size_t)img->channels * img->width * img->height;
    for (size_t i = 0; i < n; i++)
        img->data[i] = (uint8_t)(pdl_rng_u64(salt, 7, i) >> 56);
}

/* Runs every line of expected.txt: kind file channels width height values (C, H, W). */
static void test_against_pil(void)
{
    FILE *f = fopen(FIXTURES "expected.txt", "r");
    CHECK(f != NULL);
    if (!f)
        return;
    char kind[16], name[128];
    int channels, w, h, lines = 0;
    while (fscanf(f, "%15s %127s %d %d %d", kind, name, &channels, &w, &h) == 5) {
        size_t n = (size_t)channels * w * h;
        uint8_t *want = malloc(n);
        for (size_t i = 0; i < n; i++) {
            int v = -1;
            CHECK(fscanf(f, "%d", &v) == 1);
            want[i] = (uint8_t)v;
        }
        char path[256];
        snprintf(path, sizeof path, "%s%s", FIXTURES, name);
        pdl_image src = {0}, got = {0};
        CHECK_OK(pdl_image_read_file(path, channels, &src));
        int tolerance = strstr(name, ".jpg") ? 1 : 0;
        if (strcmp(kind, "decode") == 0) {
            got = src;
            src.data = NULL;
        } else {
            CHECK_OK(pdl_image_scale(&src, w, h, &got));
            tolerance = 1; /* PIL rounds its intermediate (horizontal) pass to bytes */
        }
        CHECK(got.width == w && got.height == h && got.channels == channels);
        int worst = 0;
        if (got.data && got.width == w && got.height == h && got.channels == channels)
            for (size_t i = 0; i < n; i++) {
                int d = abs((int)got.data[i] - (int)want[i]);
                worst = d > worst ? d : worst;
            }
        if (worst > tolerance)
            fprintf(stderr, "%s %s channels %d %dx%d: off by %d\n", kind, name, channels, w, h,
                    worst);
        CHECK(worst <= tolerance);
        pdl_image_free(&src);
        pdl_image_free(&got);
        free(want);
        lines++;
    }
    fclose(f);
    CHECK(lines >= 40);
}

/* channels 0 keeps the file's: gray stays gray, anything with color (or a palette) is RGB. */
static void test_native_channels(void)
{
    static const struct { const char *name; int channels, w, h; } cases[] = {
        {"gray.png", 1, 7, 5},        {"rgb.png", 3, 7, 5},     {"rgba.png", 3, 6, 5},
        {"gray_alpha.png", 1, 5, 6},  {"palette.png", 3, 7, 6}, {"bits1.png", 1, 9, 4},
        {"gray16.png", 1, 5, 4},      {"rgb16.png", 3, 5, 4},   {"interlaced.png", 3, 11, 10},
        {"one.png", 3, 1, 1},         {"gray.jpg", 1, 9, 7},    {"color.jpg", 3, 10, 7},
        {"progressive.jpg", 3, 11, 9}, {"cmyk.jpg", 3, 6, 5},    {"one.jpg", 3, 1, 1},
        {"gray.pgm", 1, 6, 4},        {"rgb.ppm", 3, 4, 3},     {"max15.pgm", 1, 5, 3},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char path[256];
        snprintf(path, sizeof path, "%s%s", FIXTURES, cases[i].name);
        pdl_image img;
        CHECK_OK(pdl_image_read_file(path, 0, &img));
        if (img.channels != cases[i].channels || img.width != cases[i].w ||
            img.height != cases[i].h)
            fprintf(stderr, "%s: %dx%dx%d\n", cases[i].name, img.channels, img.height,
                    img.width);
        CHECK(img.channels == cases[i].channels && img.width == cases[i].w &&
              img.height == cases[i].h);
        pdl_image_free(&img);
    }
}

/* Gray to color replicates; color to gray is PIL's L with its rounding. */
static void test_conversions(void)
{
    pdl_image gray, rgb, l;
    CHECK_OK(pdl_image_read_file(FIXTURES "gray.png", 1, &gray));
    CHECK_OK(pdl_image_read_file(FIXTURES "gray.png", 3, &rgb));
    size_t plane = (size_t)gray.width * gray.height;
    for (int c = 0; c < 3; c++)
        CHECK(rgb.data && memcmp(rgb.data + c * plane, gray.data, plane) == 0);
    pdl_image_free(&rgb);
    CHECK_OK(pdl_image_read_file(FIXTURES "one.png", 1, &l));
    /* (200 * 19595 + 100 * 38470 + 50 * 7471 + 0x8000) >> 16 = 8172318 >> 16 = 124 */
    CHECK(l.data && l.data[0] == 124);
    pdl_image_free(&l);
    pdl_image_free(&gray);
}

static void expect_bad(const char *name, pdl_status code, const char *reason)
{
    char path[256];
    snprintf(path, sizeof path, "%s%s", FIXTURES, name);
    pdl_image img = {.width = 99};
    pdl_status status = pdl_image_read_file(path, 0, &img);
    if (status != code || !strstr(pdl_last_error(), reason))
        fprintf(stderr, "%s: status %d, '%s'\n", name, (int)status, pdl_last_error());
    CHECK(status == code);
    CHECK(strstr(pdl_last_error(), name) != NULL);
    CHECK(strstr(pdl_last_error(), reason) != NULL);
    CHECK(img.data == NULL && img.width == 0);
}

static void test_bad_files(void)
{
    expect_bad("truncated.jpg", PDL_ERR_FORMAT, "Premature end of JPEG file");
    expect_bad("truncated.png", PDL_ERR_FORMAT, "truncated");
    expect_bad("corrupt_idat.png", PDL_ERR_FORMAT, "bad PNG");
    expect_bad("garbage.jpg", PDL_ERR_FORMAT, "not a PNG, JPEG");
    expect_bad("garbage.png", PDL_ERR_FORMAT, "not a PNG, JPEG");
    expect_bad("empty.png", PDL_ERR_FORMAT, "empty file");
    expect_bad("huge.png", PDL_ERR_UNSUPPORTED, "100000x100000 is beyond the limits");
    expect_bad("huge_pixels.png", PDL_ERR_UNSUPPORTED, "30000x30000 is beyond the limits");
    expect_bad("huge.jpg", PDL_ERR_UNSUPPORTED, "65000x65000 is beyond the limits");
    expect_bad("no_such_file.png", PDL_ERR_IO, "No such file");
    expect_bad("", PDL_ERR_IO, "not a regular file"); /* the folder itself */
    pdl_image img;
    CHECK(pdl_image_decode("P5 3 2 255\n\1\2\3\4\5", 15, 0, "short.pgm", &img) ==
          PDL_ERR_FORMAT);
    CHECK(strstr(pdl_last_error(), "short.pgm") && strstr(pdl_last_error(), "truncated PNM"));
    CHECK(pdl_image_decode("P6 3 x 255\n", 11, 0, "bad.ppm", &img) == PDL_ERR_FORMAT);
    CHECK(strstr(pdl_last_error(), "bad PNM header"));
    CHECK(pdl_image_decode("P5 1 1 0\n\0", 10, 0, "zero.pgm", &img) == PDL_ERR_FORMAT);
    CHECK(pdl_image_decode("P5 1 1 255\n\0", 12, 2, "x.pgm", &img) == PDL_ERR_INVALID);
}

/* Every prefix of a few files either decodes or fails with a message naming the file. */
static void test_truncations(void)
{
    static const char *const names[] = {"color.jpg", "progressive.jpg", "interlaced.png",
                                        "rgb16.png", "rgb.ppm", "cmyk.jpg"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char path[256];
        snprintf(path, sizeof path, "%s%s", FIXTURES, names[i]);
        size_t size = 0;
        uint8_t *bytes = read_bytes(path, &size);
        int failed = 0;
        for (size_t n = 0; bytes && n < size; n++) {
            pdl_image img;
            uint8_t *copy = malloc(n + 1); /* exactly n bytes visible to ASan */
            memcpy(copy, bytes, n);
            if (pdl_image_decode(copy, n, 0, names[i], &img) == PDL_OK) {
                CHECK(img.data != NULL);
                pdl_image_free(&img);
            } else {
                failed++;
                CHECK(strstr(pdl_last_error(), names[i]) != NULL && img.data == NULL);
            }
            free(copy);
        }
        CHECK(failed >= (int)size / 2);
        free(bytes);
    }
}

static void test_sniff_and_names(void)
{
    CHECK(pdl_image_sniff("\x89PNG\r\n\x1a\n", 8) == PDL_IMAGE_PNG);
    CHECK(pdl_image_sniff("\x89PNG\r\n\x1a", 7) == PDL_IMAGE_UNKNOWN);
    CHECK(pdl_image_sniff("\xff\xd8\xff\xe0", 4) == PDL_IMAGE_JPEG);
    CHECK(pdl_image_sniff("P6\n", 3) == PDL_IMAGE_PNM);
    CHECK(pdl_image_sniff("P3\n", 3) == PDL_IMAGE_UNKNOWN);
    CHECK(pdl_image_sniff("", 0) == PDL_IMAGE_UNKNOWN);
    for (int m = PDL_RESIZE_SQUASH; m <= PDL_RESIZE_HALF_CROP; m++) {
        pdl_resize_mode back = PDL_RESIZE_SQUASH;
        CHECK(pdl_resize_mode_parse(pdl_resize_mode_name((pdl_resize_mode)m), &back));
        CHECK((int)back == m);
    }
    pdl_resize_mode mode;
    CHECK(pdl_resize_mode_parse("half_crop", &mode) && mode == PDL_RESIZE_HALF_CROP);
    CHECK(!pdl_resize_mode_parse("stretch", &mode) && !pdl_resize_mode_parse(NULL, &mode));
}

static void test_alloc(void)
{
    pdl_image img;
    CHECK(pdl_image_alloc(&img, 4, 4, 2) == PDL_ERR_INVALID && img.data == NULL);
    CHECK(pdl_image_alloc(&img, 0, 4, 1) == PDL_ERR_INVALID);
    CHECK(pdl_image_alloc(&img, 32769, 1, 1) == PDL_ERR_INVALID);
    CHECK(pdl_image_alloc(&img, 32768, 32768, 1) == PDL_ERR_INVALID); /* 2^30 pixels */
    CHECK_OK(pdl_image_alloc(&img, 3, 2, 3));
    CHECK(img.data && img.data[17] == 0);
    pdl_image_free(&img);
    CHECK(img.data == NULL && img.width == 0);
    pdl_image_free(NULL);
}

static void test_png_round_trip(void)
{
    for (int channels = 1; channels <= 3; channels += 2)
        for (int level = 0; level <= 9; level += 9) {
            pdl_image img, back;
            CHECK_OK(pdl_image_alloc(&img, 13, 7, channels));
            fill_pattern(&img, (unsigned)(channels + level));
            uint8_t *bytes = NULL;
            size_t size = 0;
            CHECK_OK(pdl_image_encode_png(&img, level, &bytes, &size));
            CHECK(pdl_image_sniff(bytes, size) == PDL_IMAGE_PNG);
            CHECK_OK(pdl_image_decode(bytes, size, 0, "round.png", &back));
            CHECK(back.channels == channels && back.width == 13 && back.height == 7);
            CHECK(back.data && memcmp(back.data, img.data, (size_t)channels * 13 * 7) == 0);
            free(bytes);
            pdl_image_free(&back);
            pdl_image_free(&img);
        }
    pdl_image img, back;
    uint8_t *bytes = NULL;
    size_t size = 0;
    CHECK_OK(pdl_image_alloc(&img, 5, 3, 3));
    fill_pattern(&img, 3);
    CHECK(pdl_image_encode_png(&img, 10, &bytes, &size) == PDL_ERR_INVALID && !bytes);
    CHECK_OK(pdl_image_write_png(&img, "test_image_out.png"));
    CHECK_OK(pdl_image_read_file("test_image_out.png", 3, &back));
    CHECK(back.data && memcmp(back.data, img.data, 45) == 0);
    remove("test_image_out.png");
    CHECK(pdl_image_write_png(&img, "no_such_dir/x.png") == PDL_ERR_IO);
    CHECK(strstr(pdl_last_error(), "no_such_dir/x.png") != NULL);
    pdl_image_free(&back);
    pdl_image_free(&img);
}

/* The sampling factors of component k in a JPEG's SOF0 (h << 4 | v), -1 without one. */
static int jpeg_sampling(const uint8_t *b, size_t n, int k)
{
    for (size_t i = 2; i + 10 + 3 * (size_t)k < n; i++)
        if (b[i] == 0xff && b[i + 1] == 0xc0)
            return b[i + 11 + 3 * k];
    return -1;
}

static void test_jpeg_round_trip(void)
{
    pdl_image img, back;
    CHECK_OK(pdl_image_alloc(&img, 32, 24, 3));
    for (int c = 0; c < 3; c++) /* smooth content: JPEG keeps it within a few levels */
        for (int y = 0; y < 24; y++)
            for (int x = 0; x < 32; x++)
                img.data[(c * 24 + y) * 32 + x] = (uint8_t)(40 + c * 50 + x * 2 + y * 2);
    uint8_t *bytes = NULL;
    size_t size = 0;
    CHECK_OK(pdl_image_encode_jpeg(&img, 95, &bytes, &size));
    CHECK(pdl_image_sniff(bytes, size) == PDL_IMAGE_JPEG);
    CHECK(jpeg_sampling(bytes, size, 0) == 0x22 && jpeg_sampling(bytes, size, 1) == 0x11);
    CHECK_OK(pdl_image_decode(bytes, size, 0, "round.jpg", &back));
    CHECK(back.channels == 3 && back.width == 32 && back.height == 24);
    double err = 0;
    for (size_t i = 0; back.data && i < 3 * 24 * 32; i++)
        err += abs((int)back.data[i] - (int)img.data[i]);
    CHECK(err / (3 * 24 * 32) < 2.0);
    free(bytes);
    pdl_image_free(&back);
    pdl_image_free(&img);
    CHECK_OK(pdl_image_alloc(&img, 9, 9, 1));
    memset(img.data, 130, 81);
    CHECK_OK(pdl_image_encode_jpeg(&img, 50, &bytes, &size));
    CHECK_OK(pdl_image_decode(bytes, size, 0, "gray.jpg", &back));
    CHECK(back.channels == 1 && back.data && back.data[40] == 130);
    free(bytes);
    CHECK(pdl_image_encode_jpeg(&img, 0, &bytes, &size) == PDL_ERR_INVALID && !bytes);
    pdl_image_free(&back);
    pdl_image_free(&img);
}

/* A 2x2 checkerboard of 10/200 shrunk by 2 is 105 everywhere; by 4 too. */
static void test_area_checkerboard(void)
{
    pdl_image img, out;
    CHECK_OK(pdl_image_alloc(&img, 8, 8, 1));
    for (int y = 0; y < 8; y++)
        for (int x = 0; x < 8; x++)
            img.data[y * 8 + x] = (x + y) % 2 ? 200 : 10;
    for (int size = 4; size >= 2; size -= 2) {
        CHECK_OK(pdl_image_scale(&img, size, size, &out));
        for (int i = 0; out.data && i < size * size; i++)
            CHECK(out.data[i] == 105);
        pdl_image_free(&out);
    }
    /* 8 -> 3 is not an integer factor: output 0 covers source [0, 8/3), weights 3/8 3/8 2/8 */
    CHECK_OK(pdl_image_scale(&img, 3, 8, &out));
    CHECK(out.data && out.data[0] == (uint8_t)(0.375 * 10 + 0.375 * 200 + 0.25 * 10 + 0.5));
    pdl_image_free(&out);
    pdl_image_free(&img);
}

/* Bilinear enlarging keeps the corners and interpolates between pixel centers. */
static void test_bilinear(void)
{
    pdl_image img, out;
    CHECK_OK(pdl_image_alloc(&img, 2, 2, 1));
    img.data[0] = 0, img.data[1] = 100, img.data[2] = 200, img.data[3] = 60;
    CHECK_OK(pdl_image_scale(&img, 8, 8, &out));
    CHECK(out.data && px(&out, 0, 0, 0) == 0 && px(&out, 0, 0, 7) == 100 &&
          px(&out, 0, 7, 0) == 200 && px(&out, 0, 7, 7) == 60);
    /* output x = 2 sits at source 2.5 / 4 - 0.5 = 0.125: 0 + 0.125 * 100 = 12.5 -> 13 */
    CHECK(out.data && px(&out, 0, 0, 2) == 13);
    pdl_image_free(&out);
    CHECK_OK(pdl_image_scale(&img, 2, 2, &out)); /* same size: the same pixels */
    CHECK(out.data && memcmp(out.data, img.data, 4) == 0);
    pdl_image_free(&out);
    pdl_image_free(&img);
}

/* A horizontal ramp squashed (x shrinks, y grows) stays a nondecreasing ramp in every row. */
static void test_squash_gradient(void)
{
    pdl_image img, out;
    CHECK_OK(pdl_image_alloc(&img, 50, 7, 3));
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < 7; y++)
            for (int x = 0; x < 50; x++)
                img.data[(c * 7 + y) * 50 + x] = (uint8_t)(x * 5);
    CHECK_OK(pdl_image_resize(&img, 13, 20, PDL_RESIZE_SQUASH, 1, 2, &out));
    for (int c = 0; out.data && c < 3; c++)
        for (int y = 0; y < 20; y++)
            for (int x = 0; x < 13; x++) {
                CHECK(px(&out, c, y, x) == px(&out, 0, 0, x));
                if (x > 0)
                    CHECK(px(&out, c, y, x) > px(&out, c, y, x - 1));
            }
    CHECK(out.data && px(&out, 0, 0, 0) < 10 && px(&out, 0, 0, 12) > 235);
    pdl_image_free(&out);
    pdl_image_free(&img);
}

static bool is_noise_at(const pdl_image *out, int c, int y, int x, uint64_t seed, uint64_t stream)
{
    uint64_t i = ((uint64_t)c * out->height + (uint64_t)y) * out->width + (uint64_t)x;
    return px(out, c, y, x) == (uint8_t)(pdl_rng_u64(seed, stream, i / 8) >> (i % 8 * 8));
}

/* Checks out: value inside the rectangle (x0, y0, w, h), the specified noise outside. */
static void check_layout(const pdl_image *out, uint8_t value, int x0, int y0, int w, int h,
                         uint64_t seed, uint64_t stream)
{
    int wrong = 0;
    for (int c = 0; out->data && c < out->channels; c++)
        for (int y = 0; y < out->height; y++)
            for (int x = 0; x < out->width; x++) {
                bool inside = x >= x0 && x < x0 + w && y >= y0 && y < y0 + h;
                wrong += inside ? px(out, c, y, x) != value
                                : !is_noise_at(out, c, y, x, seed, stream);
            }
    CHECK(wrong == 0);
}

/* A constant image stays constant in every mode; fill and half_crop put the noise exactly where
 * DIGITS pads, and the noise is pdl_rng's (seed, stream, pixel). */
/* A constant image resized in mode to 10x10 must show value in the x0, y0, w x h rectangle of
 * the output and seeded noise around it. */
typedef struct constant_case {
    int width, height, channels, value;
    pdl_resize_mode mode;
    int out_w, out_h, x0, y0, w, h;
} constant_case;

static void test_modes_constant(void)
{
    static const constant_case cases[] = {
        {40, 20, 3, 77, PDL_RESIZE_SQUASH, 10, 10, 0, 0, 10, 10},
        {40, 20, 3, 77, PDL_RESIZE_CROP, 10, 10, 0, 0, 10, 10},
        /* fill: width ratio 4 > height ratio 2; height round(20 / 4) = 5, made 6 so that the
         * padding 10 - 6 splits evenly: rows 2..7 are the image */
        {40, 20, 3, 77, PDL_RESIZE_FILL, 10, 10, 0, 2, 10, 6},
        /* half_crop: mean ratio 3; 40 / 3 -> 13 wide (cropped to 10), 20 / 3 -> 7 high, made 8:
         * rows 1..8 */
        {40, 20, 3, 77, PDL_RESIZE_HALF_CROP, 10, 10, 0, 1, 10, 8},
        /* tall: the same on the other axis; 20x40 -> 10x10 fill: columns 2..7 */
        {20, 40, 1, 200, PDL_RESIZE_FILL, 10, 10, 2, 0, 6, 10},
        {20, 40, 1, 200, PDL_RESIZE_HALF_CROP, 10, 10, 1, 0, 8, 10},
        /* the same aspect ratio: every mode is a squash, no noise */
        {20, 40, 1, 200, PDL_RESIZE_FILL, 5, 10, 0, 0, 5, 10},
    };
    const uint64_t seed = 5, stream = 9;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const constant_case *t = &cases[c];
        pdl_image img, out;
        CHECK_OK(pdl_image_alloc(&img, t->width, t->height, t->channels));
        memset(img.data, t->value, (size_t)(t->channels * t->width * t->height));
        CHECK_OK(pdl_image_resize(&img, t->out_w, t->out_h, t->mode, seed, stream, &out));
        check_layout(&out, (uint8_t)t->value, t->x0, t->y0, t->w, t->h, seed, stream);
        pdl_image_free(&out);
        pdl_image_free(&img);
    }
}

/* The same (seed, stream) gives the same bits; another seed other noise. */
static void test_noise_seeded(void)
{
    pdl_image img, a, b, c;
    CHECK_OK(pdl_image_alloc(&img, 30, 10, 3));
    fill_pattern(&img, 1);
    CHECK_OK(pdl_image_resize(&img, 16, 16, PDL_RESIZE_FILL, 42, 3, &a));
    CHECK_OK(pdl_image_resize(&img, 16, 16, PDL_RESIZE_FILL, 42, 3, &b));
    CHECK_OK(pdl_image_resize(&img, 16, 16, PDL_RESIZE_FILL, 43, 3, &c));
    CHECK(a.data && b.data && memcmp(a.data, b.data, 3 * 16 * 16) == 0);
    CHECK(a.data && c.data && memcmp(a.data, c.data, 3 * 16 * 16) != 0);
    /* the picture rows (16 wide, round(10 * 16 / 30) = 5 -> 6 high, rows 5..10) agree */
    CHECK(a.data && c.data && memcmp(a.data + 5 * 16, c.data + 5 * 16, 6 * 16) == 0);
    CHECK(a.data && c.data && memcmp(a.data, c.data, 5 * 16) != 0);
    pdl_image_free(&a);
    pdl_image_free(&b);
    pdl_image_free(&c);
    pdl_image_free(&img);
}

/* Crop removes a border on the long axis: a 40x20 image, 10 red columns each side of a 20x20
 * green center, cropped to 10x10 is scaled to 20x10 and its center 10 columns are all green. */
static void test_crop_border(void)
{
    for (int tall = 0; tall < 2; tall++) {
        int w = tall ? 20 : 40, h = tall ? 40 : 20;
        pdl_image img, out;
        CHECK_OK(pdl_image_alloc(&img, w, h, 3));
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                int along = tall ? y : x;
                bool border = along < 10 || along >= 30;
                img.data[(0 * h + y) * w + x] = border ? 255 : 0;
                img.data[(1 * h + y) * w + x] = border ? 0 : 255;
                img.data[(2 * h + y) * w + x] = 0;
            }
        CHECK_OK(pdl_image_resize(&img, 10, 10, PDL_RESIZE_CROP, 0, 0, &out));
        int wrong = 0;
        for (int i = 0; out.data && i < 100; i++)
            wrong += out.data[i] != 0 || out.data[100 + i] != 255 || out.data[200 + i] != 0;
        CHECK(wrong == 0);
        pdl_image_free(&out);
        /* squash keeps the border: a quarter of each row (or column) is red */
        CHECK_OK(pdl_image_resize(&img, 8, 8, PDL_RESIZE_SQUASH, 0, 0, &out));
        CHECK(out.data && px(&out, 0, tall ? 0 : 3, tall ? 3 : 0) == 255 &&
              px(&out, 0, 4, 4) == 0);
        pdl_image_free(&out);
        pdl_image_free(&img);
    }
}

/* Fill puts the whole picture in the center: an 8x4 image of four 4x2 quadrant colors fills
 * 16x16 as 16x8 at rows 4..11, each quadrant a 8x4 block (but for the bilinear seams). */
static void test_fill_center(void)
{
    pdl_image img, out;
    CHECK_OK(pdl_image_alloc(&img, 8, 4, 1));
    const uint8_t q[4] = {10, 60, 110, 160}; /* top-left, top-right, bottom-left, bottom-right */
    for (int y = 0; y < 4; y++)
        for (int x = 0; x < 8; x++)
            img.data[y * 8 + x] = q[(y >= 2) * 2 + (x >= 4)];
    CHECK_OK(pdl_image_resize(&img, 16, 16, PDL_RESIZE_FILL, 1, 1, &out));
    for (int y = 4; out.data && y < 12; y++)
        for (int x = 0; x < 16; x++)
            if (y != 7 && y != 8 && x != 7 && x != 8) /* output 7 sits at source 3.25 */
                CHECK(px(&out, 0, y, x) == q[(y >= 8) * 2 + (x >= 8)]);
    CHECK(out.data && is_noise_at(&out, 0, 0, 0, 1, 1) && is_noise_at(&out, 0, 15, 15, 1, 1));
    CHECK(out.data && is_noise_at(&out, 0, 3, 9, 1, 1) && is_noise_at(&out, 0, 12, 2, 1, 1));
    pdl_image_free(&out);
    pdl_image_free(&img);
}

/* Extreme shapes never build the huge intermediate DIGITS would: a 1x20000 line cropped to
 * 16x16 reads a 16x320000 virtual image's center window only; a 1x1 source in every mode. */
static void test_extreme_shapes(void)
{
    pdl_image img, out;
    CHECK_OK(pdl_image_alloc(&img, 1, 20000, 1));
    for (int y = 0; y < 20000; y++)
        img.data[y] = y < 9000 ? 10 : y < 11000 ? 99 : 250;
    CHECK_OK(pdl_image_resize(&img, 16, 16, PDL_RESIZE_CROP, 0, 0, &out));
    check_layout(&out, 99, 0, 0, 16, 16, 0, 0);
    pdl_image_free(&out);
    CHECK_OK(pdl_image_resize(&img, 16, 16, PDL_RESIZE_FILL, 0, 0, &out));
    CHECK(out.data && out.width == 16);
    pdl_image_free(&out);
    pdl_image_free(&img);
    CHECK_OK(pdl_image_alloc(&img, 1, 1, 3));
    memset(img.data, 33, 3);
    for (int m = PDL_RESIZE_SQUASH; m <= PDL_RESIZE_HALF_CROP; m++) {
        CHECK_OK(pdl_image_resize(&img, 3, 5, (pdl_resize_mode)m, 0, 0, &out));
        CHECK(out.data && px(&out, 2, 2, 1) == 33);
        pdl_image_free(&out);
    }
    CHECK(pdl_image_resize(&img, 0, 5, PDL_RESIZE_CROP, 0, 0, &out) == PDL_ERR_INVALID);
    CHECK(pdl_image_resize(&img, 5, 5, (pdl_resize_mode)9, 0, 0, &out) == PDL_ERR_INVALID);
    pdl_image_free(&img);
}

int main(void)
{
    RUN(test_against_pil);
    RUN(test_native_channels);
    RUN(test_conversions);
    RUN(test_bad_files);
    RUN(test_truncations);
    RUN(test_sniff_and_names);
    RUN(test_alloc);
    RUN(test_png_round_trip);
    RUN(test_jpeg_round_trip);
    RUN(test_area_checkerboard);
    RUN(test_bilinear);
    RUN(test_squash_gradient);
    RUN(test_modes_constant);
    RUN(test_noise_seeded);
    RUN(test_crop_border);
    RUN(test_fill_center);
    RUN(test_extreme_shapes);
    return harness_summary();
}
