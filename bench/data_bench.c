/* Benchmark of the data path on datasets of 256x256 color records (PNG or JPEG): LMDB reads
 * (records/s, raw value bytes by key in random order), decode (images/s), decode + augment as
 * training reads it (crop 224 + mirror + mean image, images/s) on one thread, and the
 * prefetching loader on T threads (images per second of wall time, and per second of CPU
 * time: what the threads cost). One-thread figures use the thread's
 * CPU time, so other load on the machine does not count; each is the median of --runs passes
 * over the records after a warm-up pass. bench/peers/compare_data.sh runs it beside the Python
 * peer (bench/peers/data_peer.py) on the same databases. Not part of the test run.
 * Built by CMake (PDL_BENCH, on by default) as build/bench/data_bench.
 * Usage: data_bench --make IMAGE_FOLDER OUT_FOLDER   (OUT/png and OUT/jpg datasets, 256x256)
 *        data_bench [--runs N] [--threads T] [--json] DATASET...   (each a dataset folder) */
#include "data/image.h"
#include "pdl/dataset.h"
#include "pdl/loader.h"

#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_RUNS 64
#define CROP 224
#define SEED 1

static double seconds_of(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void die(const char *what)
{
    fprintf(stderr, "data_bench: %s: %s\n", what, pdl_last_error());
    exit(1);
}

/* ---- --make ------------------------------------------------------------------------------ */

static void make_datasets(const char *images, const char *out)
{
    static const char *const encodings[2] = {"png", "jpg"};
    for (int e = 0; e < 2; e++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", out, encodings[e]);
        pdl_dataset_options o;
        pdl_dataset_options_init(&o);
        o.encoding = encodings[e];
        o.val_pct = 0;
        o.force = true;
        pdl_dataset_report report = {0};
        if (pdl_dataset_create(images, path, &o, &report) != PDL_OK)
            die(path);
        fprintf(stderr, "data_bench: %s: %lld records in %.1f s\n", path,
                (long long)report.records[0], report.seconds);
        pdl_dataset_report_free(&report);
    }
}

/* ---- measurements -----------------------------------------------------------------------------
 */

typedef struct bench {
    pdl_dataset *ds;
    pdl_data_source *src; /* train split, crop 224 + mirror + mean image */
    int64_t count;
    int64_t *order; /* a random order of the records */
    MDB_env *env;
    MDB_dbi dbi;
    MDB_txn *txn;
} bench;

typedef double (*pass_fn)(bench *b); /* one pass over all records; returns a checksum */

static double pass_lmdb(bench *b)
{
    double bytes = 0;
    for (int64_t i = 0; i < b->count; i++) {
        const char *key = pdl_dataset_key(b->ds, b->order[i]);
        MDB_val k = {strlen(key), (void *)key}, v;
        if (mdb_get(b->txn, b->dbi, &k, &v) != 0) {
            fprintf(stderr, "data_bench: key '%s' not found\n", key);
            exit(1);
        }
        bytes += (double)((const uint8_t *)v.mv_data)[v.mv_size / 2] + (double)v.mv_size;
    }
    return bytes;
}

static double pass_decode(bench *b)
{
    pdl_image img = {0};
    double sum = 0;
    for (int64_t i = 0; i < b->count; i++) {
        int32_t label;
        if (pdl_dataset_read(b->ds, b->order[i], &img, &label) != PDL_OK)
            die("decode");
        sum += img.data[i % (img.width * img.height)];
    }
    pdl_image_free(&img);
    return sum;
}

static double pass_augment(bench *b)
{
    static float x[3 * CROP * CROP];
    static int64_t epoch;
    pdl_sample_ctx ctx = {.seed = SEED, .epoch = epoch++};
    double sum = 0;
    for (int64_t i = 0; i < b->count; i++) {
        int32_t label;
        if (pdl_data_source_read(b->src, &ctx, b->order[i], x, &label) != PDL_OK)
            die("decode + augment");
        sum += x[i % (3 * CROP * CROP)];
    }
    return sum;
}

/* Median records/s of runs passes, one thread, by its CPU time. */
static double rate(bench *b, pass_fn pass, int runs)
{
    double rates[MAX_RUNS], sink = pass(b); /* warm-up: caches, page cache, allocations */
    for (int r = 0; r < runs; r++) {
        double t0 = seconds_of(CLOCK_THREAD_CPUTIME_ID);
        sink += pass(b);
        rates[r] = (double)b->count / (seconds_of(CLOCK_THREAD_CPUTIME_ID) - t0);
    }
    if (sink == -1.0)
        printf("%g\n", sink); /* keeps the passes from being optimized away */
    qsort(rates, (size_t)runs, sizeof rates[0], cmp_double);
    return rates[runs / 2];
}

/* Median images/s of one loader over whole epochs (the first is the warm-up), batches of 32:
 * of wall time, and per second of the process's CPU time (*per_cpu_s: the decode + augment rate
 * of one thread, less what the threads and the ring cost). */
static double loader_rate(bench *b, int threads, int runs, double *per_cpu_s)
{
    double rates[MAX_RUNS], cpu_rates[MAX_RUNS];
    pdl_loader_options o = {.batch = 32,
                            .training = true,
                            .seed = SEED,
                            .epochs = runs + 1,
                            .threads = threads,
                            .prefetch = 4};
    pdl_loader *l = NULL;
    if (pdl_loader_create(b->src, &o, &l) != PDL_OK)
        die("loader");
    int64_t images = 0, epoch = 0;
    double t0 = 0, c0 = 0;
    for (;;) {
        pdl_batch batch;
        if (pdl_loader_next(l, &batch) != PDL_OK)
            die("loader");
        if (!batch.x || batch.epoch != epoch) { /* an epoch ended */
            double t = seconds_of(CLOCK_MONOTONIC), c = seconds_of(CLOCK_PROCESS_CPUTIME_ID);
            if (epoch > 0) {
                rates[epoch - 1] = (double)images / (t - t0);
                cpu_rates[epoch - 1] = (double)images / (c - c0);
            }
            t0 = t;
            c0 = c;
            images = 0;
            epoch = batch.epoch;
        }
        if (!batch.x)
            break;
        images += batch.n;
    }
    pdl_loader_free(l);
    qsort(rates, (size_t)runs, sizeof rates[0], cmp_double);
    qsort(cpu_rates, (size_t)runs, sizeof cpu_rates[0], cmp_double);
    *per_cpu_s = cpu_rates[runs / 2];
    return rates[runs / 2];
}

static void open_bench(const char *dir, bench *b)
{
    memset(b, 0, sizeof *b);
    if (pdl_dataset_open(dir, "train", &b->ds) != PDL_OK)
        die(dir);
    const pdl_dataset_info *info = pdl_dataset_get_info(b->ds);
    b->count = info->count;
    pdl_data_config c = pdl_data_config_default();
    c.mirror = true;
    c.mean = PDL_MEAN_IMAGE;
    c.crop[0] = c.crop[1] = CROP;
    if (pdl_dataset_source_open(dir, "train", &c,
                                pdl_shape_make(3, (int64_t[]){info->channels, CROP, CROP}),
                                &b->src) != PDL_OK)
        die(dir);
    b->order = malloc((size_t)b->count * sizeof *b->order);
    pdl_epoch_order(SEED, 0, b->count, b->order);
    if (mdb_env_create(&b->env) || mdb_env_open(b->env, info->path, MDB_RDONLY | MDB_NOLOCK, 0) ||
        mdb_txn_begin(b->env, NULL, MDB_RDONLY, &b->txn) ||
        mdb_dbi_open(b->txn, NULL, 0, &b->dbi)) {
        fprintf(stderr, "data_bench: cannot open the LMDB '%s'\n", info->path);
        exit(1);
    }
}

static void close_bench(bench *b)
{
    mdb_txn_abort(b->txn);
    mdb_env_close(b->env);
    free(b->order);
    pdl_data_source_free(b->src);
    pdl_dataset_free(b->ds);
}

static void report(bool json, const char *dataset, const char *work, int threads, double per_s)
{
    if (json)
        printf("{\"dataset\": \"%s\", \"work\": \"%s\", \"threads\": %d, \"per_s\": %.1f}\n",
               dataset, work, threads, per_s);
    else
        printf("%-28s %-16s %7d %12.1f\n", dataset, work, threads, per_s);
}

int main(int argc, char **argv)
{
    int runs = 5, threads = 2, n = 0;
    bool json = false;
    const char **datasets = calloc((size_t)argc, sizeof *datasets);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--make") && i + 2 < argc) {
            make_datasets(argv[i + 1], argv[i + 2]);
            return 0;
        } else if (!strcmp(argv[i], "--runs") && i + 1 < argc) {
            runs = atoi(argv[++i]);
        } else if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
            threads = atoi(argv[++i]);
        } else if (!strcmp(argv[i], "--json")) {
            json = true;
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "usage: data_bench --make IMAGES OUT | [--runs N] [--threads T] "
                            "[--json] DATASET...\n");
            return 2;
        } else {
            datasets[n++] = argv[i];
        }
    }
    runs = runs < 1 ? 1 : runs > MAX_RUNS ? MAX_RUNS : runs;
    threads = threads < 1 ? 1 : threads;
    if (!json)
        printf("%-28s %-16s %7s %12s\n", "dataset", "work", "threads", "per second");
    for (int i = 0; i < n; i++) {
        bench b;
        open_bench(datasets[i], &b);
        report(json, datasets[i], "lmdb_read", 1, rate(&b, pass_lmdb, runs));
        report(json, datasets[i], "decode", 1, rate(&b, pass_decode, runs));
        report(json, datasets[i], "decode_augment", 1, rate(&b, pass_augment, runs));
        double per_cpu_s, wall = loader_rate(&b, threads, runs, &per_cpu_s);
        report(json, datasets[i], "loader_cpu", threads, per_cpu_s);
        report(json, datasets[i], "loader", threads, wall);
        close_bench(&b);
    }
    free(datasets);
    return 0;
}
