/* Tests of the prefetching loader (src/data/loader.c) over a synthetic source whose samples
 * depend on (seed, epoch, index) and whose reads take uneven time: batches equal direct reads in
 * the epoch order, bit for bit, for 1, 2 and 4 threads and prefetch depths 1-4; shards; a resumed
 * start and max_batches; evaluation passes with a short, zero-padded last batch; an error from
 * one sample surfaces at its batch with the sample's message; freeing mid-epoch never hangs.
 * And the data source over a dataset folder (src/data/dataset_source.c) on IDX files imported
 * here: by default a record reads as the IDX source reads it (x / 255); center and random crops;
 * the mean image subtracted before the scale; errors naming the database. */
#include "core/error.h"
#include "core/rng.h"
#include "harness.h"
#include "pdl/dataset.h"
#include "pdl/loader.h"

#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { C = 2, SH = 3, SW = 4, SAMPLE = C * SH * SW, CLASSES = 5 };

typedef struct synth {
    pdl_data_source base;
    int64_t fail_index; /* reading this sample fails (-1: none) */
    long delay_ns;      /* upper bound of a read's sleep */
    atomic_long reads;
} synth;

static pdl_status synth_read(pdl_data_source *base, const pdl_sample_ctx *ctx, int64_t index,
                             float *x, int32_t *label)
{
    synth *s = (synth *)base;
    atomic_fetch_add(&s->reads, 1);
    if (s->delay_ns) {
        long ns = (long)pdl_rng_below(3, 3, (uint64_t)index, (uint64_t)s->delay_ns);
        nanosleep(&(struct timespec){.tv_nsec = ns}, NULL);
    }
    if (index == s->fail_index)
        return pdl_error(PDL_ERR_FORMAT, "record %lld is broken", (long long)index);
    uint64_t stream = ctx ? (uint64_t)ctx->epoch + 1 : 0, seed = ctx ? ctx->seed : 0;
    for (int i = 0; i < SAMPLE; i++)
        x[i] = (float)index + pdl_rng_uniform(seed, stream, (uint64_t)(index * SAMPLE + i));
    *label = (int32_t)(index % CLASSES);
    return PDL_OK;
}

static void synth_free(pdl_data_source *base)
{
    (void)base;
}

static const pdl_data_source_ops synth_ops = {.read = synth_read, .free = synth_free};

static synth *make_synth(int64_t count)
{
    synth *s = calloc(1, sizeof *s);
    s->base = (pdl_data_source){.ops = &synth_ops, .count = count, .classes = CLASSES};
    s->base.sample = pdl_shape_make(3, (int64_t[]){C, SH, SW});
    snprintf(s->base.name, sizeof s->base.name, "synthetic");
    s->fail_index = -1;
    return s;
}

/* Checks every batch the loader gives against direct reads: training batches follow
 * pdl_epoch_order with the context (seed, epoch); evaluation ones index order without one. */
static int64_t check_stream(pdl_loader *l, synth *s, const pdl_loader_options *o)
{
    int64_t rows = o->rows ? o->rows : o->batch, count = s->base.count, delivered = 0;
    int64_t *order = malloc((size_t)count * sizeof *order);
    float *want = malloc((size_t)(rows * SAMPLE) * sizeof *want);
    int32_t *labels = malloc((size_t)rows * sizeof *labels);
    int64_t epoch = -1, expect_epoch = o->epoch, expect_index = o->batch_index;
    int64_t per_epoch = o->batches    ? o->batches
                        : o->training ? count / o->batch
                                      : (count + o->batch - 1) / o->batch;
    for (;;) {
        pdl_batch b;
        pdl_status st = pdl_loader_next(l, &b);
        CHECK_OK(st);
        if (st != PDL_OK || !b.x)
            break;
        CHECK(b.epoch == expect_epoch && b.index == expect_index && b.wait_s >= 0);
        if (b.epoch != epoch && o->training)
            pdl_epoch_order(o->seed, b.epoch, count, order);
        epoch = b.epoch;
        int64_t first = b.index * o->batch + o->row0;
        int64_t n = o->training            ? rows
                    : first >= count       ? 0
                    : count - first < rows ? count - first
                                           : rows;
        CHECK(b.n == n);
        pdl_sample_ctx ctx = {.seed = o->seed, .epoch = b.epoch};
        for (int64_t i = 0; i < n; i++) {
            int64_t index = o->training ? order[first + i] : first + i;
            CHECK_OK(pdl_data_source_read(&s->base, o->training ? &ctx : NULL, index,
                                          want + i * SAMPLE, &labels[i]));
        }
        CHECK(memcmp(b.x, want, (size_t)(n * SAMPLE) * sizeof *want) == 0);
        CHECK(memcmp(b.labels, labels, (size_t)n * sizeof *labels) == 0);
        for (int64_t i = n * SAMPLE; i < rows * SAMPLE; i++)
            CHECK(b.x[i] == 0.0f);
        for (int64_t i = n; i < rows; i++)
            CHECK(b.labels[i] == -1);
        delivered++;
        if (++expect_index == per_epoch) {
            expect_index = 0;
            expect_epoch++;
        }
    }
    free(order);
    free(want);
    free(labels);
    return delivered;
}

static void test_threads_and_depths_give_the_same_bits(void)
{
    synth *s = make_synth(50);
    s->delay_ns = 20000;
    const int threads[] = {1, 2, 4};
    for (int t = 0; t < 3; t++)
        for (int prefetch = 1; prefetch <= 4; prefetch++) {
            pdl_loader_options o = {.batch = 8,
                                    .training = true,
                                    .seed = 11,
                                    .epochs = 2,
                                    .threads = threads[t],
                                    .prefetch = prefetch};
            pdl_loader *l = NULL;
            CHECK_OK(pdl_loader_create(&s->base, &o, &l));
            if (l)
                CHECK(check_stream(l, s, &o) == 2 * (50 / 8));
            pdl_batch end;
            CHECK_OK(pdl_loader_next(l, &end)); /* past the end: no batch, still no error */
            CHECK(!end.x && end.n == 0);
            pdl_loader_free(l);
        }
    free(s);
}

static void test_resume_position_and_limit(void)
{
    synth *s = make_synth(40);
    pdl_loader_options o = {.batch = 6,
                            .training = true,
                            .seed = 2,
                            .epoch = 1,
                            .batch_index = 4,
                            .epochs = 3,
                            .threads = 3};
    pdl_loader *l = NULL;
    CHECK_OK(pdl_loader_create(&s->base, &o, &l));
    CHECK(check_stream(l, s, &o) == 2 + 6); /* rest of epoch 1, all of epoch 2 */
    pdl_loader_free(l);
    o.max_batches = 3;
    CHECK_OK(pdl_loader_create(&s->base, &o, &l));
    CHECK(check_stream(l, s, &o) == 3);
    pdl_loader_free(l);
    /* batches per epoch below the maximum: 4 batches of 5 from 40 samples */
    o = (pdl_loader_options){.batch = 5, .batches = 4, .training = true, .seed = 2, .epochs = 2};
    CHECK_OK(pdl_loader_create(&s->base, &o, &l));
    CHECK(check_stream(l, s, &o) == 8);
    pdl_loader_free(l);
    free(s);
}

static void test_shards(void)
{
    synth *s = make_synth(45);
    for (int64_t row0 = 0; row0 < 12; row0 += 4) {
        pdl_loader_options o = {.batch = 12,
                                .row0 = row0,
                                .rows = 4,
                                .training = true,
                                .seed = 5,
                                .epochs = 2,
                                .threads = 2,
                                .prefetch = 2};
        pdl_loader *l = NULL;
        CHECK_OK(pdl_loader_create(&s->base, &o, &l));
        CHECK(check_stream(l, s, &o) == 2 * 3);
        pdl_loader_free(l);
    }
    /* evaluation shards of the short last batch: rows past the data are padding */
    for (int64_t row0 = 0; row0 < 12; row0 += 6) {
        pdl_loader_options o = {.batch = 12, .row0 = row0, .rows = 6, .threads = 2};
        pdl_loader *l = NULL;
        CHECK_OK(pdl_loader_create(&s->base, &o, &l));
        CHECK(check_stream(l, s, &o) == 4);
        pdl_loader_free(l);
    }
    free(s);
}

static void test_evaluation_pass(void)
{
    synth *s = make_synth(50);
    pdl_loader_options o = {.batch = 16, .threads = 4, .prefetch = 1};
    pdl_loader *l = NULL;
    CHECK_OK(pdl_loader_create(&s->base, &o, &l));
    CHECK(check_stream(l, s, &o) == 4); /* 16, 16, 16 and a short 2 */
    pdl_loader_free(l);
    free(s);
}

static void test_error_surfaces_at_its_batch(void)
{
    synth *s = make_synth(48);
    pdl_loader_options o = {.batch = 8, .training = true, .seed = 4, .epochs = 1, .threads = 3};
    int64_t order[48];
    pdl_epoch_order(o.seed, 0, 48, order);
    s->fail_index = order[8 * 3 + 5]; /* row 5 of batch 3 */
    pdl_loader *l = NULL;
    CHECK_OK(pdl_loader_create(&s->base, &o, &l));
    pdl_batch b;
    for (int i = 0; i < 3; i++)
        CHECK_OK(pdl_loader_next(l, &b));
    CHECK(pdl_loader_next(l, &b) == PDL_ERR_FORMAT);
    char want[64];
    snprintf(want, sizeof want, "record %lld is broken", (long long)s->fail_index);
    CHECK(strstr(pdl_last_error(), want) && strstr(pdl_last_error(), "synthetic"));
    CHECK(!b.x);
    CHECK(pdl_loader_next(l, &b) == PDL_ERR_FORMAT); /* and stays failed */
    CHECK(strstr(pdl_last_error(), want));
    pdl_loader_free(l);
    free(s);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void test_free_mid_epoch(void)
{
    synth *s = make_synth(400);
    s->delay_ns = 1000000; /* up to 1 ms per read */
    pdl_loader_options o = {
        .batch = 32, .training = true, .seed = 1, .epochs = 5, .threads = 4, .prefetch = 4};
    pdl_loader *l = NULL;
    double t0 = now_s();
    CHECK_OK(pdl_loader_create(&s->base, &o, &l));
    pdl_loader_free(l); /* before any batch */
    CHECK_OK(pdl_loader_create(&s->base, &o, &l));
    pdl_batch b;
    CHECK_OK(pdl_loader_next(l, &b));
    CHECK_OK(pdl_loader_next(l, &b));
    pdl_loader_free(l); /* with readers busy on later batches */
    CHECK(now_s() - t0 < 2.0);
    /* the ring bounds the work done ahead: 5 slots of the first loader, 6 batches (2 handed
     * out, 4 ahead) of the second; unbounded readers would be epochs ahead */
    CHECK(atomic_load(&s->reads) <= (5 + 6) * 32);
    free(s);
}

static void test_bad_options(void)
{
    synth *s = make_synth(10);
    pdl_loader *l = NULL;
    pdl_loader_options o = {.batch = 8, .row0 = 6, .rows = 4, .training = true};
    CHECK(pdl_loader_create(&s->base, &o, &l) == PDL_ERR_INVALID && !l);
    CHECK(strstr(pdl_last_error(), "synthetic"));
    o = (pdl_loader_options){.batch = 11, .training = true};
    CHECK(pdl_loader_create(&s->base, &o, &l) == PDL_ERR_INVALID && !l);
    CHECK(strstr(pdl_last_error(), "10 samples"));
    o = (pdl_loader_options){.batch = 5, .training = true, .batch_index = 3};
    CHECK(pdl_loader_create(&s->base, &o, &l) == PDL_ERR_INVALID && !l);
    free(s);
}

/* ---- the data source over a dataset folder ------------------------------------------------ */

enum { DS_COUNT = 18, DS_H = 10, DS_W = 12 };

static void put_be32(FILE *f, uint32_t v)
{
    uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    fwrite(b, 1, 4, f);
}

/* IDX files of DS_COUNT distinct gray DS_H x DS_W images, labels i % 3, imported as a dataset
 * folder (train_db only). */
static bool make_dataset(const char *dir)
{
    FILE *fi = fopen("test_loader-images-idx3-ubyte", "wb");
    FILE *fl = fopen("test_loader-labels-idx1-ubyte", "wb");
    if (!fi || !fl)
        return false;
    put_be32(fi, 0x803);
    put_be32(fi, DS_COUNT);
    put_be32(fi, DS_H);
    put_be32(fi, DS_W);
    put_be32(fl, 0x801);
    put_be32(fl, DS_COUNT);
    for (int i = 0; i < DS_COUNT; i++) {
        for (int p = 0; p < DS_H * DS_W; p++)
            fputc((int)pdl_rng_below(6, 0, (uint64_t)(i * DS_H * DS_W + p), 256), fi);
        fputc(i % 3, fl);
    }
    fclose(fi);
    fclose(fl);
    pdl_dataset_options o;
    pdl_dataset_options_init(&o);
    o.val_pct = 0;
    o.force = true;
    o.threads = 2;
    pdl_status st =
        pdl_dataset_import_idx("test_loader-images-idx3-ubyte", "test_loader-labels-idx1-ubyte",
                               NULL, NULL, dir, &o, NULL);
    CHECK_OK(st);
    return st == PDL_OK;
}

/* With the default [data] (no crop, no mean, scale 1/255) a record reads as the IDX source reads
 * the same image: x / 255. Records may be stored in another order: each must match one. */
static void test_dataset_source_matches_idx(void)
{
    const char *dir = "test_loader_dataset";
    if (!make_dataset(dir))
        return;
    pdl_data_source *idx = NULL, *ds = NULL;
    pdl_data_config config = pdl_data_config_default();
    pdl_shape input = pdl_shape_make(3, (int64_t[]){1, DS_H, DS_W});
    CHECK_OK(pdl_idx_open("test_loader-images-idx3-ubyte", "test_loader-labels-idx1-ubyte", &idx));
    CHECK_OK(pdl_dataset_source_open(dir, "train", &config, input, &ds));
    if (!idx || !ds)
        goto done;
    CHECK(ds->count == DS_COUNT && ds->classes == 3 && pdl_shape_equal(&ds->sample, &input));
    float a[DS_H * DS_W], b[DS_H * DS_W];
    int32_t la, lb;
    for (int64_t r = 0; r < DS_COUNT; r++) {
        CHECK_OK(pdl_data_source_read(ds, NULL, r, a, &la));
        int matches = 0;
        for (int64_t i = 0; i < DS_COUNT; i++) {
            CHECK_OK(pdl_data_source_read(idx, NULL, i, b, &lb));
            bool same = la == lb;
            for (int p = 0; p < DS_H * DS_W && same; p++)
                same = fabsf(a[p] - b[p]) <= 1e-6f * b[p];
            matches += same;
        }
        CHECK(matches == 1);
    }
    /* a center crop for evaluation, random ones for training */
    pdl_data_source_free(ds);
    ds = NULL;
    input = pdl_shape_make(3, (int64_t[]){1, DS_H - 2, DS_W - 4});
    config.mirror = true;
    CHECK_OK(pdl_dataset_source_open(dir, "train", &config, input, &ds));
    if (!ds)
        goto done;
    float full[DS_H * DS_W], crop[DS_H * DS_W], again[DS_H * DS_W];
    pdl_data_source *whole = NULL;
    config.mirror = false;
    CHECK_OK(pdl_dataset_source_open(dir, "train", &config,
                                     pdl_shape_make(3, (int64_t[]){1, DS_H, DS_W}), &whole));
    CHECK_OK(pdl_data_source_read(whole, NULL, 4, full, &la));
    CHECK_OK(pdl_data_source_read(ds, NULL, 4, crop, &la));
    for (int y = 0; y < DS_H - 2; y++)
        for (int x = 0; x < DS_W - 4; x++)
            CHECK(crop[y * (DS_W - 4) + x] == full[(y + 1) * DS_W + x + 2]);
    int changed = 0;
    for (int e = 0; e < 8; e++) {
        pdl_sample_ctx ctx = {.seed = 1, .epoch = e};
        CHECK_OK(pdl_data_source_read(ds, &ctx, 4, again, &la));
        changed += memcmp(again, crop, sizeof(float) * (DS_H - 2) * (DS_W - 4)) != 0;
    }
    CHECK(changed >= 5);
    pdl_data_source_free(whole);
done:
    pdl_data_source_free(idx);
    pdl_data_source_free(ds);
}

/* mean = image subtracts mean.binaryproto before the scale; bad fits name the database. */
static void test_dataset_source_mean_and_errors(void)
{
    const char *dir = "test_loader_dataset";
    if (!make_dataset(dir))
        return;
    pdl_data_config config = pdl_data_config_default();
    pdl_shape input = pdl_shape_make(3, (int64_t[]){1, DS_H, DS_W});
    pdl_data_source *plain = NULL, *centered = NULL, *ds = NULL;
    float *mean = NULL;
    pdl_shape mean_shape;
    CHECK_OK(pdl_mean_load("test_loader_dataset/mean.binaryproto", &mean, &mean_shape));
    CHECK_OK(pdl_dataset_source_open(dir, "train", &config, input, &plain));
    config.mean = PDL_MEAN_IMAGE;
    config.scale = 0.5f;
    CHECK_OK(pdl_dataset_source_open(dir, "train", &config, input, &centered));
    if (mean && plain && centered) {
        float a[DS_H * DS_W], b[DS_H * DS_W];
        int32_t la, lb;
        CHECK_OK(pdl_data_source_read(plain, NULL, 7, a, &la));
        CHECK_OK(pdl_data_source_read(centered, NULL, 7, b, &lb));
        for (int p = 0; p < DS_H * DS_W; p++)
            CHECK_CLOSE(b[p], (a[p] * 255.0f - mean[p]) * 0.5f, 1e-3, 1e-5);
    }
    free(mean);
    config = pdl_data_config_default();
    CHECK(pdl_dataset_source_open(dir, "train", &config,
                                  pdl_shape_make(3, (int64_t[]){3, DS_H, DS_W}),
                                  &ds) == PDL_ERR_SHAPE);
    CHECK(strstr(pdl_last_error(), "train_db") && strstr(pdl_last_error(), "channel"));
    CHECK(pdl_dataset_source_open(dir, "train", &config,
                                  pdl_shape_make(3, (int64_t[]){1, DS_H + 1, DS_W}),
                                  &ds) == PDL_ERR_SHAPE);
    CHECK(strstr(pdl_last_error(), "train_db") && strstr(pdl_last_error(), "smaller"));
    CHECK(pdl_dataset_source_open(dir, "val", &config, input, &ds) != PDL_OK && !ds);
    CHECK(strstr(pdl_last_error(), dir));
    pdl_data_source_free(plain);
    pdl_data_source_free(centered);
}

int main(void)
{
    RUN(test_threads_and_depths_give_the_same_bits);
    RUN(test_resume_position_and_limit);
    RUN(test_shards);
    RUN(test_evaluation_pass);
    RUN(test_error_surfaces_at_its_batch);
    RUN(test_free_mid_epoch);
    RUN(test_bad_options);
    RUN(test_dataset_source_matches_idx);
    RUN(test_dataset_source_mean_and_errors);
    return harness_summary();
}
