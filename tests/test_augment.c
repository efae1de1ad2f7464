/* Tests of the augmentation (src/data/augment.c) on tiny images whose pixels encode their
 * position: crop bounds and coverage, mirror exactness, mean-then-scale, the mean image taken at
 * the crop, center crop for evaluation, resized crops, rotation and jitter on images with known
 * answers, determinism per (seed, epoch, index); and the [data] section / --set parsing. */
#include "data/augment.h"
#include "harness.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { H = 6, W = 7, CH_STEP = 90 };

/* A (channels, H, W) image with pixel c*CH_STEP + y*10 + x (distinct, below 256). */
static pdl_image position_image(int channels)
{
    pdl_image img = {.width = W, .height = H, .channels = channels};
    img.data = malloc((size_t)(channels * H * W));
    for (int c = 0; c < channels; c++)
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++)
                img.data[(c * H + y) * W + x] = (uint8_t)(c * CH_STEP + y * 10 + x);
    return img;
}

static pdl_data_config raw_config(void)
{
    pdl_data_config c = pdl_data_config_default();
    c.scale = 1.0f;
    return c;
}

static pdl_status init(pdl_augment *a, const pdl_data_config *c, int channels, int oh, int ow)
{
    return pdl_augment_init(a, c, channels, H, W, oh, ow, NULL, NULL, "tiny.db", "none");
}

/* The (y0, x0) of a plain crop read back from its top-left output pixel. */
static void crop_origin(const float *out, int *y0, int *x0)
{
    int v = (int)out[0];
    *y0 = v / 10;
    *x0 = v % 10;
}

static void test_random_crop_bounds_and_coverage(void)
{
    pdl_data_config c = raw_config();
    pdl_augment a;
    pdl_image img = position_image(1);
    CHECK_OK(init(&a, &c, 1, 3, 4));
    bool seen[H][W] = {{false}};
    float out[12];
    pdl_sample_ctx ctx = {.seed = 7, .epoch = 0};
    for (int i = 0; i < 300; i++) {
        pdl_augment_apply(&a, &img, &ctx, i, out);
        int y0, x0;
        crop_origin(out, &y0, &x0);
        CHECK(y0 >= 0 && y0 <= H - 3 && x0 >= 0 && x0 <= W - 4);
        if (y0 < 0 || y0 > H - 3 || x0 < 0 || x0 > W - 4)
            break;
        seen[y0][x0] = true;
        for (int y = 0; y < 3; y++)
            for (int x = 0; x < 4; x++)
                CHECK(out[y * 4 + x] == (float)((y0 + y) * 10 + x0 + x));
    }
    for (int y = 0; y <= H - 3; y++)
        for (int x = 0; x <= W - 4; x++)
            CHECK(seen[y][x]); /* every position (4 x 4 of them) occurs in 300 draws */
    pdl_augment_free(&a);
    free(img.data);
}

static void test_center_crop_for_evaluation(void)
{
    pdl_data_config c = raw_config();
    c.mirror = true;
    c.rotate = 20;
    c.brightness = 0.5f;
    pdl_augment a;
    pdl_image img = position_image(3);
    CHECK_OK(init(&a, &c, 3, 3, 4));
    float out[3 * 12], again[3 * 12];
    pdl_augment_apply(&a, &img, NULL, 5, out);
    pdl_augment_apply(&a, &img, NULL, 6, again);
    CHECK(memcmp(out, again, sizeof out) == 0); /* nothing random without a context */
    for (int ch = 0; ch < 3; ch++) /* Caffe's center: ((H - 3) / 2, (W - 4) / 2) = (1, 1) */
        for (int y = 0; y < 3; y++)
            for (int x = 0; x < 4; x++)
                CHECK(out[(ch * 3 + y) * 4 + x] == (float)(ch * CH_STEP + (1 + y) * 10 + 1 + x));
    pdl_augment_free(&a);
    free(img.data);
}

static void test_mirror_is_exact(void)
{
    pdl_data_config c = raw_config();
    c.mirror = true;
    pdl_augment a;
    pdl_image img = position_image(3);
    CHECK_OK(init(&a, &c, 3, H, W)); /* no crop: only the mirror is random */
    float out[3 * H * W];
    pdl_sample_ctx ctx = {.seed = 1, .epoch = 2};
    int mirrored = 0;
    for (int i = 0; i < 64; i++) {
        pdl_augment_apply(&a, &img, &ctx, i, out);
        bool flip = out[0] == (float)(W - 1);
        mirrored += flip;
        for (int ch = 0; ch < 3; ch++)
            for (int y = 0; y < H; y++)
                for (int x = 0; x < W; x++)
                    CHECK(out[(ch * H + y) * W + x] ==
                          (float)(ch * CH_STEP + y * 10 + (flip ? W - 1 - x : x)));
    }
    CHECK(mirrored > 16 && mirrored < 48);
    pdl_augment_free(&a);
    free(img.data);
}

/* (pixel - mean) * scale, not pixel * scale - mean; the mean image at the crop's pixels,
 * mirrored with them; mean = pixel uses the mean image's per-channel average. */
static void test_mean_then_scale(void)
{
    pdl_data_config c = pdl_data_config_default();
    c.scale = 0.5f;
    c.mirror = true;
    c.mean = PDL_MEAN_IMAGE;
    float mean[3 * H * W];
    for (int i = 0; i < 3 * H * W; i++)
        mean[i] = (float)(i % 13) + 0.25f;
    pdl_shape shape = pdl_shape_make(3, (int64_t[]){3, H, W});
    pdl_image img = position_image(3);
    pdl_augment a;
    CHECK_OK(pdl_augment_init(&a, &c, 3, H, W, 2, 3, mean, &shape, "tiny.db", "mean.binaryproto"));
    float out[3 * 6];
    pdl_sample_ctx ctx = {.seed = 3, .epoch = 1};
    for (int i = 0; i < 40; i++) {
        pdl_augment_apply(&a, &img, &ctx, i, out);
        /* find the crop and flip that explain the first channel's corner pixels */
        bool found = false;
        for (int y0 = 0; y0 <= H - 2 && !found; y0++)
            for (int x0 = 0; x0 <= W - 3 && !found; x0++)
                for (int flip = 0; flip < 2 && !found; flip++) {
                    bool all = true;
                    for (int ch = 0; ch < 3; ch++)
                        for (int y = 0; y < 2; y++)
                            for (int x = 0; x < 3; x++) {
                                int sx = x0 + (flip ? 2 - x : x), at = (ch * H + y0 + y) * W + sx;
                                float want = ((float)img.data[at] - mean[at]) * 0.5f;
                                all = all && out[(ch * 2 + y) * 3 + x] == want;
                            }
                    found = all;
                }
        CHECK(found);
    }
    pdl_augment_free(&a);
    c.mean = PDL_MEAN_PIXEL;
    c.mirror = false;
    CHECK_OK(pdl_augment_init(&a, &c, 3, H, W, H, W, mean, &shape, "tiny.db", "m"));
    double avg[3] = {0, 0, 0};
    for (int i = 0; i < 3 * H * W; i++)
        avg[i / (H * W)] += mean[i] / (H * W);
    float full[3 * H * W];
    pdl_augment_apply(&a, &img, NULL, 0, full);
    CHECK_CLOSE(full[0], (0.0 - avg[0]) * 0.5, 1e-5, 0);
    CHECK_CLOSE(full[H * W + 1], (CH_STEP + 1.0 - avg[1]) * 0.5, 1e-5, 0);
    pdl_augment_free(&a);
    free(img.data);
}

static void test_default_scale_is_one_255th(void)
{
    pdl_data_config c = pdl_data_config_default();
    pdl_augment a;
    pdl_image img = position_image(1);
    CHECK_OK(init(&a, &c, 1, H, W));
    float out[H * W];
    pdl_augment_apply(&a, &img, NULL, 0, out);
    for (int i = 0; i < H * W; i++)
        CHECK_CLOSE(out[i], img.data[i] / 255.0f, 1e-7, 1e-6);
    pdl_augment_free(&a);
    free(img.data);
}

static void test_determinism(void)
{
    pdl_data_config c = raw_config();
    c.mirror = true;
    c.rotate = 10;
    c.brightness = c.contrast = c.saturation = 0.3f;
    c.resized_crop_scale[0] = 0.3f;
    c.resized_crop_scale[1] = 1.0f;
    pdl_augment a;
    pdl_image img = position_image(3);
    CHECK_OK(init(&a, &c, 3, 4, 4));
    float x[48], y[48];
    int differ_epoch = 0, differ_index = 0;
    for (int i = 0; i < 20; i++) {
        pdl_sample_ctx e0 = {.seed = 9, .epoch = 0}, e1 = {.seed = 9, .epoch = 1};
        pdl_augment_apply(&a, &img, &e0, i, x);
        pdl_augment_apply(&a, &img, &e0, i, y);
        CHECK(memcmp(x, y, sizeof x) == 0);
        pdl_augment_apply(&a, &img, &e1, i, y);
        differ_epoch += memcmp(x, y, sizeof x) != 0;
        pdl_augment_apply(&a, &img, &e0, i + 1, y);
        differ_index += memcmp(x, y, sizeof x) != 0;
    }
    CHECK(differ_epoch >= 18 && differ_index >= 18);
    pdl_augment_free(&a);
    free(img.data);
}

/* Different epochs give different crop positions for the same sample. */
static void test_epochs_change_crops(void)
{
    pdl_data_config c = raw_config();
    pdl_augment a;
    pdl_image img = position_image(1);
    CHECK_OK(init(&a, &c, 1, 2, 2));
    float out[4];
    bool seen[100] = {false};
    int distinct = 0;
    for (int e = 0; e < 30; e++) {
        pdl_sample_ctx ctx = {.seed = 4, .epoch = e};
        pdl_augment_apply(&a, &img, &ctx, 17, out);
        int v = (int)out[0];
        distinct += !seen[v];
        seen[v] = true;
    }
    CHECK(distinct >= 10); /* 30 positions possible */
    pdl_augment_free(&a);
    free(img.data);
}

static void test_resized_crop(void)
{
    /* scale (1, 1) and ratio W/H: the whole image resampled to the output. A constant image
     * stays constant; a horizontal ramp stays a ramp within its range. */
    pdl_data_config c = raw_config();
    c.resized_crop_scale[0] = c.resized_crop_scale[1] = 1.0f;
    c.resized_crop_ratio[0] = c.resized_crop_ratio[1] = (float)W / H;
    pdl_augment a;
    pdl_image img = {.width = W, .height = H, .channels = 1, .data = malloc(H * W)};
    for (int i = 0; i < H * W; i++)
        img.data[i] = 90;
    CHECK_OK(init(&a, &c, 1, 3, 3));
    float out[9];
    pdl_sample_ctx ctx = {.seed = 2, .epoch = 0};
    pdl_augment_apply(&a, &img, &ctx, 0, out);
    for (int i = 0; i < 9; i++)
        CHECK_CLOSE(out[i], 90, 1e-4, 0);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            img.data[y * W + x] = (uint8_t)(x * 30);
    pdl_augment_apply(&a, &img, &ctx, 0, out);
    for (int y = 0; y < 3; y++) {
        CHECK(out[y * 3] < out[y * 3 + 1] && out[y * 3 + 1] < out[y * 3 + 2]);
        CHECK(out[y * 3] >= 0 && out[y * 3 + 2] <= 180);
        CHECK_CLOSE(out[y * 3 + 1], 90, 1e-3, 0); /* the center column of a linear ramp */
    }
    pdl_augment_free(&a);
    /* Random areas: the output is always a smooth piece of the ramp, mirrored or not. */
    c.resized_crop_scale[0] = 0.2f;
    c.resized_crop_ratio[0] = 0.5f;
    c.resized_crop_ratio[1] = 2.0f;
    CHECK_OK(init(&a, &c, 1, 3, 3));
    for (int i = 0; i < 50; i++) {
        pdl_augment_apply(&a, &img, &ctx, i, out);
        for (int y = 0; y < 3; y++) {
            CHECK(out[y * 3] <= out[y * 3 + 1] && out[y * 3 + 1] <= out[y * 3 + 2] &&
                  out[y * 3 + 2] <= 180.001f && out[y * 3] >= 0);
            CHECK_CLOSE(out[y * 3], out[0], 1e-3, 0); /* the ramp does not change along y */
        }
    }
    pdl_augment_free(&a);
    free(img.data);
}

static void test_rotation(void)
{
    pdl_data_config c = raw_config();
    c.rotate = 30;
    pdl_augment a;
    pdl_image img = {.width = W, .height = H, .channels = 1, .data = malloc(H * W)};
    memset(img.data, 200, H * W);
    CHECK_OK(init(&a, &c, 1, H, W));
    float out[H * W];
    int filled = 0;
    for (int i = 0; i < 20; i++) {
        pdl_sample_ctx ctx = {.seed = 5, .epoch = 0};
        pdl_augment_apply(&a, &img, &ctx, i, out);
        CHECK_CLOSE(out[(H / 2) * W + W / 2], 200, 1e-3, 0); /* the center stays */
        for (int p = 0; p < H * W; p++) {
            CHECK(out[p] >= 0 && out[p] <= 200.001f);
            filled += out[p] < 199.0f; /* corners rotated in from outside are darker */
        }
    }
    CHECK(filled > 0);
    pdl_augment_free(&a);
    free(img.data);
}

static void test_jitter(void)
{
    pdl_image img = position_image(3);
    pdl_sample_ctx ctx = {.seed = 8, .epoch = 3};
    float out[3 * H * W];
    pdl_augment a;
    /* brightness: every pixel times one factor in [0.8, 1.2] (pixels are < 256 / 1.2 here) */
    pdl_data_config c = raw_config();
    c.brightness = 0.2f;
    CHECK_OK(init(&a, &c, 3, H, W));
    pdl_augment_apply(&a, &img, &ctx, 1, out);
    float f = out[1] / img.data[1];
    CHECK(f >= 0.8f && f <= 1.2f && fabsf(f - 1.0f) > 1e-4f);
    for (int i = 1; i < 3 * H * W; i++)
        if (img.data[i] * 1.2f < 255)
            CHECK_CLOSE(out[i], img.data[i] * f, 1e-3, 1e-5);
    pdl_augment_free(&a);
    /* saturation leaves gray pixels alone (R = G = B) */
    c = raw_config();
    c.saturation = 0.9f;
    memset(img.data, 77, 3 * H * W);
    CHECK_OK(init(&a, &c, 3, H, W));
    pdl_augment_apply(&a, &img, &ctx, 2, out);
    for (int i = 0; i < 3 * H * W; i++)
        CHECK_CLOSE(out[i], 77, 1e-3, 0);
    pdl_augment_free(&a);
    /* contrast keeps the gray mean when nothing clips */
    c = raw_config();
    c.contrast = 0.5f;
    pdl_image gray = position_image(1);
    for (int i = 0; i < H * W; i++)
        gray.data[i] += 100; /* 100 .. 156: nothing clips for factors in [0.5, 1.5] */
    CHECK_OK(init(&a, &c, 1, H, W));
    pdl_augment_apply(&a, &gray, &ctx, 3, out);
    double in_mean = 0, out_mean = 0;
    for (int i = 0; i < H * W; i++) {
        in_mean += gray.data[i] / (double)(H * W);
        out_mean += out[i] / (double)(H * W);
    }
    CHECK_CLOSE(out_mean, in_mean, 1e-3, 0);
    CHECK(fabs(out[0] - gray.data[0]) > 1e-3); /* and does change the pixels */
    pdl_augment_free(&a);
    free(gray.data);
    free(img.data);
}

static void test_init_errors(void)
{
    pdl_data_config c = raw_config();
    pdl_augment a;
    CHECK(init(&a, &c, 1, H + 1, W) == PDL_ERR_SHAPE);
    CHECK(strstr(pdl_last_error(), "tiny.db") && strstr(pdl_last_error(), "smaller"));
    c.mean = PDL_MEAN_IMAGE;
    float mean[H * W] = {0};
    pdl_shape wrong = pdl_shape_make(3, (int64_t[]){1, H - 1, W});
    CHECK(pdl_augment_init(&a, &c, 1, H, W, 2, 2, mean, &wrong, "tiny.db", "m.binaryproto") ==
          PDL_ERR_SHAPE);
    CHECK(strstr(pdl_last_error(), "m.binaryproto"));
    c.mean = PDL_MEAN_PIXEL; /* any size will do for the per-channel average */
    CHECK_OK(pdl_augment_init(&a, &c, 1, H, W, 2, 2, mean, &wrong, "tiny.db", "m.binaryproto"));
    pdl_augment_free(&a);
    c.resized_crop_scale[0] = 0.5f;
    c.resized_crop_scale[1] = 1.0f;
    c.mean = PDL_MEAN_NONE;
    CHECK_OK(init(&a, &c, 1, H + 4, W + 4)); /* resized crops scale up small records */
    pdl_augment_free(&a);
}

static void test_config(void)
{
    static const char text[] = "[net]\ninput = 3x8x8\nclasses = 2\n"
                               "[data]\ncrop = 6\nmirror = yes\nmean = pixel\nscale = 0.5\n"
                               "resized_crop_scale = 0.08, 1\nrotate = 5\nbrightness = 0.4\n"
                               "threads = 3\nprefetch = 2\n";
    pdl_data_config c;
    CHECK_OK(pdl_data_config_from_text(text, "m.cfg", &c));
    CHECK(c.crop[0] == 6 && c.crop[1] == 6 && c.mirror && c.mean == PDL_MEAN_PIXEL);
    CHECK(c.scale == 0.5f && c.rotate == 5.0f && c.brightness == 0.4f && c.contrast == 0.0f);
    CHECK(c.resized_crop_scale[0] == 0.08f && c.resized_crop_scale[1] == 1.0f);
    CHECK_CLOSE(c.resized_crop_ratio[0], 0.75, 1e-7, 0);
    CHECK(c.threads == 3 && c.prefetch == 2);
    pdl_data_config d = pdl_data_config_default();
    CHECK(!d.mirror && d.mean == PDL_MEAN_NONE && d.crop[0] == 0 && d.rotate == 0.0f &&
          d.resized_crop_scale[1] == 0.0f && d.threads == 0);
    CHECK_OK(pdl_data_config_from_text("[net]\ninput = 1x2x2\n", "m.cfg", &d));
    CHECK(d.scale == pdl_data_config_default().scale);

    static const char bad[] = "[net]\ninput = 3x8x8\n[data]\nmirror = 1\ncrop = 7x\n";
    CHECK(pdl_data_config_from_text(bad, "m.cfg", &c) == PDL_ERR_PARSE);
    CHECK(strstr(pdl_last_error(), "m.cfg:5") && strstr(pdl_last_error(), "crop"));
    CHECK(pdl_data_config_from_text("[data]\nmirorr = 1\n", "m.cfg", &c) == PDL_ERR_PARSE);
    CHECK(strstr(pdl_last_error(), "m.cfg:2") && strstr(pdl_last_error(), "unknown key"));
    CHECK(pdl_data_config_from_text("[data]\nresized_crop_ratio = 2, 1\n", "m.cfg", &c) ==
          PDL_ERR_PARSE);
    CHECK(strstr(pdl_last_error(), "resized_crop_ratio"));
    CHECK(pdl_data_config_from_text("[data]\n[data]\n", "m.cfg", &c) == PDL_ERR_PARSE);
    CHECK(strstr(pdl_last_error(), "second [data]"));

    c = pdl_data_config_default();
    CHECK_OK(pdl_data_config_set(&c, "crop", "224"));
    CHECK_OK(pdl_data_config_set(&c, "mean", "image"));
    CHECK_OK(pdl_data_config_set(&c, "resized_crop_scale", "0.5,1"));
    CHECK(c.crop[0] == 224 && c.crop[1] == 224 && c.mean == PDL_MEAN_IMAGE &&
          c.resized_crop_scale[0] == 0.5f);
    CHECK_OK(pdl_data_config_set(&c, "resized_crop_scale", "off"));
    CHECK(c.resized_crop_scale[1] == 0.0f);
    pdl_data_config before = c;
    CHECK(pdl_data_config_set(&c, "crop", "big") == PDL_ERR_INVALID);
    CHECK(strstr(pdl_last_error(), "[data] key 'crop'") && strstr(pdl_last_error(), "big") &&
          !strstr(pdl_last_error(), "--set:"));
    CHECK(pdl_data_config_set(&c, "rotate", "5 # comment") == PDL_ERR_INVALID);
    CHECK(pdl_data_config_set(&c, "prefetch", "0") == PDL_ERR_INVALID);
    CHECK(memcmp(&before, &c, sizeof c) == 0);
    CHECK(pdl_data_config_set(&c, "cropp", "1") == PDL_ERR_INVALID);
    CHECK(strstr(pdl_last_error(), "unknown key") && strstr(pdl_last_error(), "saturation"));
}

int main(void)
{
    RUN(test_random_crop_bounds_and_coverage);
    RUN(test_center_crop_for_evaluation);
    RUN(test_mirror_is_exact);
    RUN(test_mean_then_scale);
    RUN(test_default_scale_is_one_255th);
    RUN(test_determinism);
    RUN(test_epochs_change_crops);
    RUN(test_resized_crop);
    RUN(test_rotation);
    RUN(test_jitter);
    RUN(test_init_errors);
    RUN(test_config);
    return harness_summary();
}
