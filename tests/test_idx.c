/* Tests of the IDX data source and the generic source calls: raw and gzip files load to the same
 * floats; bad magic, truncation, trailing bytes, count mismatch, corrupt gzip, a missing file and
 * labels beyond the model's classes are refused with errors naming the file; index and label
 * checks of pdl_data_source_read. Files are written into the working directory. */
#include "harness.h"
#include "pdl/pdl.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <zlib.h>

enum { COUNT = 5, ROWS = 3, COLS = 4 };
static const int32_t labels5[COUNT] = {0, 2, 1, 2, 0};

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void write_bytes(const char *path, const uint8_t *data, size_t n, bool gz)
{
    if (gz) {
        gzFile f = gzopen(path, "wb");
        CHECK(f != NULL && gzwrite(f, data, (unsigned)n) == (int)n);
        gzclose(f);
    } else {
        FILE *f = fopen(path, "wb");
        CHECK(f != NULL && fwrite(data, 1, n, f) == n);
        fclose(f);
    }
}

static uint8_t pixel(int64_t i) { return (uint8_t)(i * 37 % 256); }

/* An image file of count images; drop bytes are cut off the end, extra appended. */
static void write_images(const char *path, bool gz, uint32_t magic, int count, int drop,
                         int extra)
{
    static uint8_t buf[16 + COUNT * ROWS * COLS + 16];
    put_be32(buf, magic);
    put_be32(buf + 4, (uint32_t)count);
    put_be32(buf + 8, ROWS);
    put_be32(buf + 12, COLS);
    size_t n = 16 + (size_t)count * ROWS * COLS;
    for (size_t i = 16; i < n + (size_t)extra; i++)
        buf[i] = pixel((int64_t)i - 16);
    write_bytes(path, buf, n - (size_t)drop + (size_t)extra, gz);
}

static void write_labels(const char *path, bool gz, uint32_t magic, int count, int drop,
                         const int32_t *labels)
{
    uint8_t buf[8 + 64];
    put_be32(buf, magic);
    put_be32(buf + 4, (uint32_t)count);
    for (int i = 0; i < count; i++)
        buf[8 + i] = (uint8_t)labels[i];
    write_bytes(path, buf, 8 + (size_t)count - (size_t)drop, gz);
}

/* Opening must fail with code and a message containing each of the needles. */
static void expect_open_error(const char *images, const char *labels, pdl_status code,
                              const char *needle1, const char *needle2)
{
    pdl_data_source *src = (pdl_data_source *)1;
    pdl_status status = pdl_idx_open(images, labels, &src);
    CHECK(status == code);
    CHECK(src == NULL);
    CHECK(strstr(pdl_last_error(), needle1) != NULL);
    CHECK(!needle2 || strstr(pdl_last_error(), needle2) != NULL);
    if (status == PDL_OK)
        pdl_data_source_free(src);
}

static void check_contents(pdl_data_source *src)
{
    CHECK(src->count == COUNT);
    CHECK(src->sample.ndim == 3 && src->sample.dim[0] == 1 && src->sample.dim[1] == ROWS &&
          src->sample.dim[2] == COLS);
    CHECK(src->classes == 3);
    float x[ROWS * COLS];
    int32_t label = -7;
    for (int64_t s = 0; s < COUNT; s++) {
        CHECK_OK(pdl_data_source_read(src, NULL, s, x, &label));
        CHECK(label == labels5[s]);
        for (int i = 0; i < ROWS * COLS; i++)
            CHECK(x[i] == (float)pixel(s * ROWS * COLS + i) / 255.0f);
    }
}

static void test_load_raw_and_gzip(void)
{
    const bool modes[] = {false, true};
    for (int m = 0; m < 2; m++) {
        write_images("idx_images", modes[m], 0x803, COUNT, 0, 0);
        write_labels("idx_labels", modes[m], 0x801, COUNT, 0, labels5);
        pdl_data_source *src = NULL;
        CHECK_OK(pdl_idx_open("idx_images", "idx_labels", &src));
        if (src)
            check_contents(src);
        pdl_data_source_free(src);
    }
}

static void test_batch_and_ranges(void)
{
    write_images("idx_images", false, 0x803, COUNT, 0, 0);
    write_labels("idx_labels", false, 0x801, COUNT, 0, labels5);
    pdl_data_source *src = NULL;
    CHECK_OK(pdl_idx_open("idx_images", "idx_labels", &src));
    if (!src)
        return;
    const int64_t order[] = {4, 1};
    float x[2 * ROWS * COLS];
    int32_t labels[2];
    CHECK_OK(pdl_data_source_batch(src, NULL, order, 2, x, labels));
    CHECK(labels[0] == labels5[4] && labels[1] == labels5[1]);
    CHECK(x[ROWS * COLS] == (float)pixel(1 * ROWS * COLS) / 255.0f);
    int32_t label;
    CHECK(pdl_data_source_read(src, NULL, COUNT, x, &label) == PDL_ERR_INVALID);
    CHECK(strstr(pdl_last_error(), "idx_images") && strstr(pdl_last_error(), "index 5"));
    CHECK(pdl_data_source_read(src, NULL, -1, x, &label) == PDL_ERR_INVALID);
    const int64_t bad[] = {0, 9};
    CHECK(pdl_data_source_batch(src, NULL, bad, 2, x, labels) == PDL_ERR_INVALID);
    pdl_data_source_free(src);
}

static void test_unlabeled(void)
{
    write_images("idx_images", true, 0x803, COUNT, 0, 0);
    pdl_data_source *src = NULL;
    CHECK_OK(pdl_idx_open("idx_images", NULL, &src));
    if (!src)
        return;
    float x[ROWS * COLS];
    int32_t label = 0;
    CHECK(src->classes == 0);
    CHECK_OK(pdl_data_source_read(src, NULL, 2, x, &label));
    CHECK(label == -1);
    pdl_data_source_free(src);
}

static void test_bad_files(void)
{
    write_labels("idx_labels", false, 0x801, COUNT, 0, labels5);
    write_images("idx_bad", false, 0x801, COUNT, 0, 0);
    expect_open_error("idx_bad", "idx_labels", PDL_ERR_FORMAT, "idx_bad", "magic");
    write_images("idx_bad", true, 0x803, COUNT, 3, 0);
    expect_open_error("idx_bad", "idx_labels", PDL_ERR_FORMAT, "idx_bad", "truncated");
    CHECK(strstr(pdl_last_error(), "expected 76 bytes, found 73"));
    write_images("idx_bad", false, 0x803, COUNT, 0, 2);
    expect_open_error("idx_bad", "idx_labels", PDL_ERR_FORMAT, "idx_bad", "2 bytes after");
    write_images("idx_bad", false, 0x803, 0, 0, 0);
    expect_open_error("idx_bad", "idx_labels", PDL_ERR_FORMAT, "idx_bad", "count");
    write_bytes("idx_bad", (const uint8_t *)"\0\0\x08", 3, false);
    expect_open_error("idx_bad", "idx_labels", PDL_ERR_FORMAT, "idx_bad", "header");
    expect_open_error("no_such_file", "idx_labels", PDL_ERR_IO, "no_such_file", NULL);
}

static void test_bad_labels(void)
{
    write_images("idx_images", false, 0x803, COUNT, 0, 0);
    write_labels("idx_bad", false, 0x803, COUNT, 0, labels5);
    expect_open_error("idx_images", "idx_bad", PDL_ERR_FORMAT, "idx_bad", "magic");
    write_labels("idx_bad", true, 0x801, COUNT, 2, labels5);
    expect_open_error("idx_images", "idx_bad", PDL_ERR_FORMAT, "idx_bad", "truncated");
    CHECK(strstr(pdl_last_error(), "expected 13 bytes, found 11"));
    write_labels("idx_bad", false, 0x801, COUNT - 1, 0, labels5);
    expect_open_error("idx_images", "idx_bad", PDL_ERR_FORMAT, "idx_bad", "idx_images");
    CHECK(strstr(pdl_last_error(), "4 labels") && strstr(pdl_last_error(), "5 images"));
    expect_open_error("idx_images", "no_such_labels", PDL_ERR_IO, "no_such_labels", NULL);
}

static void test_corrupt_gzip(void)
{
    write_images("idx_full.gz", true, 0x803, COUNT, 0, 0);
    uint8_t buf[256];
    FILE *f = fopen("idx_full.gz", "rb");
    size_t n = f ? fread(buf, 1, sizeof buf, f) : 0;
    if (f)
        fclose(f);
    CHECK(n > 20);
    write_bytes("idx_bad", buf, n - 12, false); /* the gzip stream is cut */
    expect_open_error("idx_bad", "idx_labels", PDL_ERR_FORMAT, "idx_bad", NULL);
}

/* Labels beyond the model's classes: refused by evaluation (and training) naming the file. */
static void test_labels_beyond_model(void)
{
    const int32_t labels[COUNT] = {0, 12, 1, 2, 0};
    write_images("idx_images", false, 0x803, COUNT, 0, 0);
    write_labels("idx_labels12", false, 0x801, COUNT, 0, labels);
    pdl_data_source *src = NULL;
    pdl_net *net = NULL;
    CHECK_OK(pdl_idx_open("idx_images", "idx_labels12", &src));
    CHECK_OK(pdl_net_from_text("[net]\ninput = 1x3x4\nclasses = 10\n[fc]\noutput = 10\n"
                               "[softmax_loss]\n",
                               "inline.cfg", &net));
    if (src && net) {
        CHECK(src->classes == 13);
        pdl_eval_result r;
        CHECK(pdl_evaluate(net, src, 2, 1, &r) == PDL_ERR_INVALID);
        CHECK(strstr(pdl_last_error(), "idx_labels12") && strstr(pdl_last_error(), "12"));
        CHECK(strstr(pdl_last_error(), "10 classes"));
    }
    pdl_net_free(net);
    pdl_data_source_free(src);
}

int main(void)
{
    RUN(test_load_raw_and_gzip);
    RUN(test_batch_and_ranges);
    RUN(test_unlabeled);
    RUN(test_bad_files);
    RUN(test_bad_labels);
    RUN(test_corrupt_gzip);
    RUN(test_labels_beyond_model);
    return harness_summary();
}
