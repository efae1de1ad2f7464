/* Tests of Datum records, mean files and the LMDB wrapper: raw records hold BGR planar bytes
 * (checked by unpacking with protobuf-c), encoded ones PNG/JPEG files; decode round trips, gray
 * conversion, memory reuse, the wire-format label reader, bad records each refused with the
 * reason; mean.binaryproto written BGR with DIGITS' fields and read back RGB, also Caffe's
 * shape/double forms; LMDB batches, key order, map growth from a tiny map, and bad databases
 * (missing, no data.mdb, truncated) refused with the path. Files go under the working folder. */
#include "harness.h"

#include "data/caffe.pb-c.h"
#include "data/datum.h"
#include "data/lmdb_db.h"
#include "pdl/dataset.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define TMP "test_datum_tmp"

/* A 3-channel (or gray) image whose pixel (c, y, x) is a known function. */
static pdl_image make_image(int w, int h, int c)
{
    pdl_image img = {0};
    CHECK_OK(pdl_image_alloc(&img, w, h, c));
    for (int ch = 0; ch < c; ch++)
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                img.data[(ch * h + y) * w + x] = (uint8_t)(ch * 80 + y * 7 + x * 3);
    return img;
}

static bool same_pixels(const pdl_image *a, const pdl_image *b)
{
    return a->width == b->width && a->height == b->height && a->channels == b->channels &&
           !memcmp(a->data, b->data, (size_t)a->width * a->height * a->channels);
}

static void test_raw_color_is_bgr_planar(void)
{
    pdl_image img = make_image(5, 4, 3), back = {0};
    uint8_t *bytes = NULL;
    size_t size = 0;
    CHECK_OK(pdl_datum_encode(&img, 7, PDL_DATUM_RAW, 3, 90, &bytes, &size));
    Caffe__Datum *d = caffe__datum__unpack(NULL, size, bytes);
    CHECK(d && d->channels == 3 && d->height == 4 && d->width == 5 && d->label == 7);
    CHECK(d && !d->encoded && d->data.len == 60);
    /* Caffe's plane 0 is blue: our plane 2. */
    CHECK(d && !memcmp(d->data.data, img.data + 40, 20) && !memcmp(d->data.data + 40, img.data, 20));
    caffe__datum__free_unpacked(d, NULL);
    pdl_datum_meta meta;
    CHECK_OK(pdl_datum_decode(bytes, size, 0, "rec", &back, &meta));
    CHECK(same_pixels(&img, &back) && meta.label == 7 && meta.encoding == PDL_DATUM_RAW);
    /* Decoding into an image of the same size keeps its memory. */
    uint8_t *memory = back.data;
    memset(back.data, 0, 60);
    CHECK_OK(pdl_datum_decode(bytes, size, 3, "rec", &back, &meta));
    CHECK(back.data == memory && same_pixels(&img, &back));
    /* A raw color record cannot be read as gray. */
    CHECK(pdl_datum_decode(bytes, size, 1, "rec7", &back, &meta) == PDL_ERR_SHAPE);
    CHECK(strstr(pdl_last_error(), "rec7") != NULL);
    int32_t label = -1;
    CHECK_OK(pdl_datum_label(bytes, size, "rec", &label));
    CHECK(label == 7);
    free(bytes);
    pdl_image_free(&img);
    pdl_image_free(&back);
}

static void test_encoded_records(void)
{
    pdl_image img = make_image(9, 6, 3), back = {0}, gray = {0}, direct = {0};
    uint8_t *bytes = NULL;
    size_t size = 0;
    pdl_datum_meta meta;
    CHECK_OK(pdl_datum_encode(&img, -3, PDL_DATUM_PNG, 6, 90, &bytes, &size));
    Caffe__Datum *d = caffe__datum__unpack(NULL, size, bytes);
    CHECK(d && d->encoded && d->channels == 3 && d->height == 6 && d->width == 9);
    CHECK(d && pdl_image_sniff(d->data.data, d->data.len) == PDL_IMAGE_PNG);
    CHECK_OK(pdl_datum_decode(bytes, size, 0, "png", &back, &meta));
    CHECK(same_pixels(&img, &back) && meta.label == -3 && meta.encoding == PDL_DATUM_PNG);
    /* Gray from an encoded color record: what the image decoder makes of the same file. */
    CHECK_OK(pdl_datum_decode(bytes, size, 1, "png", &gray, &meta));
    if (d)
        CHECK_OK(pdl_image_decode(d->data.data, d->data.len, 1, "png", &direct));
    CHECK(gray.channels == 1 && same_pixels(&gray, &direct));
    caffe__datum__free_unpacked(d, NULL);
    int32_t label = 0;
    CHECK_OK(pdl_datum_label(bytes, size, "png", &label));
    CHECK(label == -3);
    free(bytes);

    CHECK_OK(pdl_datum_encode(&img, 2, PDL_DATUM_JPEG, 6, 95, &bytes, &size));
    CHECK_OK(pdl_datum_decode(bytes, size, 3, "jpg", &back, &meta));
    CHECK(meta.encoding == PDL_DATUM_JPEG && back.width == 9 && back.height == 6);
    int worst = 0;
    for (int i = 0; i < 9 * 6 * 3; i++) {
        int diff = abs((int)back.data[i] - (int)img.data[i]);
        worst = diff > worst ? diff : worst;
    }
    CHECK(worst < 40); /* lossy, but the same picture */
    free(bytes);
    pdl_image_free(&img);
    pdl_image_free(&back);
    pdl_image_free(&gray);
    pdl_image_free(&direct);
}

/* Packs a hand-made Datum. */
static uint8_t *pack(const Caffe__Datum *d, size_t *size)
{
    *size = caffe__datum__get_packed_size(d);
    uint8_t *bytes = malloc(*size ? *size : 1);
    caffe__datum__pack(d, bytes);
    return bytes;
}

static void expect_bad(const uint8_t *bytes, size_t size, pdl_status code, const char *needle)
{
    pdl_image img = {0};
    pdl_datum_meta meta;
    pdl_status status = pdl_datum_decode(bytes, size, 0, "record 9", &img, &meta);
    CHECK(status == code);
    CHECK(strstr(pdl_last_error(), "record 9") != NULL);
    CHECK(strstr(pdl_last_error(), needle) != NULL);
    if (status == PDL_OK || !strstr(pdl_last_error(), needle))
        fprintf(stderr, "  got %d: %s\n", (int)status, pdl_last_error());
    pdl_image_free(&img);
}

static void test_bad_records(void)
{
    static const uint8_t garbage[] = {0xff, 0xff, 0xff, 0x07, 0x01};
    expect_bad(garbage, sizeof garbage, PDL_ERR_FORMAT, "protobuf");
    int32_t label;
    CHECK(pdl_datum_label(garbage, sizeof garbage, "record 9", &label) == PDL_ERR_FORMAT);

    uint8_t pixels[12] = {0};
    Caffe__Datum d = CAFFE__DATUM__INIT;
    d.has_channels = d.has_height = d.has_width = d.has_data = true;
    d.channels = 3;
    d.height = 2;
    d.width = 3;
    d.data.data = pixels;
    d.data.len = sizeof pixels; /* 18 expected */
    size_t size;
    uint8_t *bytes = pack(&d, &size);
    expect_bad(bytes, size, PDL_ERR_FORMAT, "expected 18");
    free(bytes);

    d.channels = 2;
    d.data.len = 12;
    bytes = pack(&d, &size);
    expect_bad(bytes, size, PDL_ERR_UNSUPPORTED, "2 channels");
    free(bytes);

    d.has_encoded = d.encoded = true;
    d.channels = 3;
    bytes = pack(&d, &size);
    expect_bad(bytes, size, PDL_ERR_FORMAT, "record 9"); /* 12 zero bytes are no image */
    free(bytes);

    float values[2] = {1, 2};
    Caffe__Datum f = CAFFE__DATUM__INIT;
    f.n_float_data = 2;
    f.float_data = values;
    bytes = pack(&f, &size);
    expect_bad(bytes, size, PDL_ERR_UNSUPPORTED, "float_data");
    CHECK_OK(pdl_datum_label(bytes, size, "record 9", &label));
    CHECK(label == 0); /* unset: Caffe's default */
    free(bytes);
}

static void test_mean_files(void)
{
    mkdir(TMP, 0777);
    float mean[2 * 3 * 3];
    for (int i = 0; i < 18; i++)
        mean[i] = (float)i * 10.5f; /* 2.5 * ... ties round to even */
    pdl_shape shape = pdl_shape_make(3, (int64_t[]){3, 2, 3}), got_shape;
    CHECK_OK(pdl_mean_save(TMP "/mean.binaryproto", TMP "/mean.png", mean, &shape));
    FILE *f = fopen(TMP "/mean.binaryproto", "rb");
    uint8_t buf[4096];
    size_t n = f ? fread(buf, 1, sizeof buf, f) : 0;
    if (f)
        fclose(f);
    Caffe__BlobProto *blob = caffe__blob_proto__unpack(NULL, n, buf);
    CHECK(blob && blob->num == 1 && blob->channels == 3 && blob->height == 2 && blob->width == 3);
    /* Stored BGR: the first stored value is blue (our channel 2), rounded half to even. */
    CHECK(blob && blob->n_data == 18 && blob->data[0] == 126.0f && blob->data[12] == 0.0f);
    CHECK(blob && blob->data[13] == 10.0f && blob->data[15] == 32.0f); /* 10.5->10, 31.5->32 */
    caffe__blob_proto__free_unpacked(blob, NULL);
    float *back = NULL;
    CHECK_OK(pdl_mean_load(TMP "/mean.binaryproto", &back, &got_shape));
    CHECK(pdl_shape_equal(&shape, &got_shape));
    for (int i = 0; back && i < 18; i++)
        CHECK(back[i] == rintf(mean[i]));
    free(back);
    pdl_image png = {0};
    CHECK_OK(pdl_image_read_file(TMP "/mean.png", 0, &png));
    CHECK(png.channels == 3 && png.width == 3 && png.height == 2 && png.data[17] == 178);
    pdl_image_free(&png);

    /* Caffe's newer form: a shape (1, 1, 2, 2) and double data. */
    Caffe__BlobShape bs = CAFFE__BLOB_SHAPE__INIT;
    int64_t dims[4] = {1, 1, 2, 2};
    double values[4] = {0.5, 1.5, 2.5, 3.5};
    bs.n_dim = 4;
    bs.dim = dims;
    Caffe__BlobProto b2 = CAFFE__BLOB_PROTO__INIT;
    b2.shape = &bs;
    b2.n_double_data = 4;
    b2.double_data = values;
    n = caffe__blob_proto__pack(&b2, buf);
    f = fopen(TMP "/shape.binaryproto", "wb");
    CHECK(f && fwrite(buf, 1, n, f) == n);
    if (f)
        fclose(f);
    CHECK_OK(pdl_mean_load(TMP "/shape.binaryproto", &back, &got_shape));
    CHECK(got_shape.ndim == 3 && got_shape.dim[0] == 1 && got_shape.dim[1] == 2);
    CHECK(back && back[3] == 3.5f);
    free(back);

    /* Too few values for the shape, and not a blob at all. */
    b2.n_double_data = 3;
    n = caffe__blob_proto__pack(&b2, buf);
    f = fopen(TMP "/short.binaryproto", "wb");
    CHECK(f && fwrite(buf, 1, n, f) == n);
    if (f)
        fclose(f);
    CHECK(pdl_mean_load(TMP "/short.binaryproto", &back, &got_shape) == PDL_ERR_FORMAT);
    CHECK(strstr(pdl_last_error(), "short.binaryproto") && strstr(pdl_last_error(), "3 values"));
    CHECK(pdl_mean_load(TMP "/missing.binaryproto", &back, &got_shape) == PDL_ERR_IO);
    CHECK(strstr(pdl_last_error(), "missing.binaryproto") != NULL);
}

typedef struct walk_seen {
    int64_t n;
    char keys[64][16];
} walk_seen;

static pdl_status remember(void *arg, int64_t index, const void *key, size_t key_size,
                           const void *value, size_t value_size)
{
    walk_seen *s = arg;
    CHECK(index == s->n && value_size == 3000 && ((const uint8_t *)value)[0] == (uint8_t)index);
    if (s->n < 64 && key_size < 16)
        memcpy(s->keys[s->n], key, key_size);
    s->n++;
    return PDL_OK;
}

static pdl_status first_byte(void *arg, const void *value, size_t size)
{
    *(int *)arg = size ? ((const uint8_t *)value)[0] : -1;
    return PDL_OK;
}

static void test_lmdb(void)
{
    mkdir(TMP, 0777);
    system("rm -rf " TMP "/db");
    pdl_lmdb *db = NULL;
    CHECK_OK(pdl_lmdb_create(TMP "/db", 16384, &db)); /* a few pages: must grow */
    size_t start = db ? pdl_lmdb_map_size(db) : 0;
    static uint8_t values[40][3000];
    char keys[40][16];
    pdl_lmdb_item items[40];
    for (int i = 0; i < 40; i++) {
        memset(values[i], i, sizeof values[i]);
        snprintf(keys[i], sizeof keys[i], "%08d_%d", i, i % 3);
        items[i] = (pdl_lmdb_item){keys[i], strlen(keys[i]), values[i], sizeof values[i]};
    }
    CHECK_OK(pdl_lmdb_put_batch(db, items, 20, true));
    CHECK_OK(pdl_lmdb_put_batch(db, items + 20, 20, true));
    CHECK(db && pdl_lmdb_map_size(db) >= 4 * start);
    /* Out of order with append: refused, naming the key. */
    CHECK(pdl_lmdb_put_batch(db, items + 3, 1, true) == PDL_ERR_INVALID);
    CHECK(strstr(pdl_last_error(), "00000003_0") != NULL);
    CHECK_OK(pdl_lmdb_close(db));

    CHECK_OK(pdl_lmdb_open(TMP "/db", &db));
    int64_t count = 0;
    CHECK_OK(pdl_lmdb_count(db, &count));
    CHECK(count == 40);
    walk_seen seen = {0};
    CHECK_OK(pdl_lmdb_each(db, remember, &seen));
    CHECK(seen.n == 40 && !strcmp(seen.keys[39], "00000039_0"));
    int byte = 0;
    CHECK_OK(pdl_lmdb_get(db, "00000017_2", 10, first_byte, &byte));
    CHECK(byte == 17);
    CHECK(pdl_lmdb_get(db, "nope", 4, first_byte, &byte) == PDL_ERR_FORMAT);
    CHECK(strstr(pdl_last_error(), "nope") && strstr(pdl_last_error(), TMP "/db"));
    pdl_lmdb_close(db);

    /* The data file itself (MDB_NOSUBDIR) opens too. */
    CHECK_OK(pdl_lmdb_open(TMP "/db/data.mdb", &db));
    pdl_lmdb_close(db);

    CHECK(pdl_lmdb_open(TMP "/absent", &db) == PDL_ERR_IO && db == NULL);
    CHECK(strstr(pdl_last_error(), TMP "/absent") != NULL);
    mkdir(TMP "/empty", 0777);
    CHECK(pdl_lmdb_open(TMP "/empty", &db) == PDL_ERR_FORMAT);
    CHECK(strstr(pdl_last_error(), "no data.mdb") != NULL);
    /* A truncated data file and a file that is no database. */
    system("rm -rf " TMP "/cut && mkdir " TMP "/cut && head -c 20000 " TMP
           "/db/data.mdb > " TMP "/cut/data.mdb");
    CHECK(pdl_lmdb_open(TMP "/cut", &db) == PDL_ERR_FORMAT);
    CHECK(strstr(pdl_last_error(), "truncated") != NULL);
    system("rm -rf " TMP "/junk && mkdir " TMP "/junk && head -c 20000 /dev/zero > " TMP
           "/junk/data.mdb");
    CHECK(pdl_lmdb_open(TMP "/junk", &db) == PDL_ERR_FORMAT);
    CHECK(strstr(pdl_last_error(), TMP "/junk") != NULL);
}

int main(void)
{
    RUN(test_raw_color_is_bgr_planar);
    RUN(test_encoded_records);
    RUN(test_bad_records);
    RUN(test_mean_files);
    RUN(test_lmdb);
    system("rm -rf " TMP);
    return harness_summary();
}
