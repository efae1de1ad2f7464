/* Round trips through pdl_dataset_create / pdl_dataset_import_idx and the reader: every record
 * equals pdl_image_resize of exactly one input file (each resize mode, gray and color, raw and
 * PNG), plain known-content cases (a solid color, 2x2 averaging, luma), DIGITS' split rounding
 * and min/max per class exact, labels from sorted folder names, keys, the train mean, list-file
 * input with bad lines, separate val/test inputs, the bad-image corpus of tests/fixtures/images
 * skipped with reasons, a stale .partial rebuilt, force and interruption, map growth from a
 * tiny map, the same records whatever the thread count, and IDX import. Files are written under
 * the working folder. */
#include "harness.h"

#include "core/rng.h"
#include "data/image.h"
#include "data/lmdb_db.h"
#include "pdl/data.h"
#include "pdl/dataset.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#define TMP "test_dataset_build_tmp"
#define MAX_FILES 64

/* The input files, in the order the builder lists them (classes, then paths, sorted). */
typedef struct source {
    char path[256];
    int klass; /* index in the input's class folders, before dropping */
} source;

static source sources[MAX_FILES];
static int n_sources;

static void sh(const char *command)
{
    CHECK(system(command) == 0);
}

/* Writes image number k of class c (w x h, color) with distinct content. */
static void write_image(const char *path, int c, int k, int w, int h)
{
    pdl_image img = {0};
    CHECK_OK(pdl_image_alloc(&img, w, h, 3));
    for (int ch = 0; ch < 3; ch++)
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                img.data[(ch * h + y) * w + x] =
                    (uint8_t)((c * 31 + k * 17 + x * 5 * (ch + 1) + y * 11 + ch * 50) % 256);
    CHECK_OK(pdl_image_write_png(&img, path));
    pdl_image_free(&img);
}

/* Class folders with counts[i] files each; sizes cycle through three aspect ratios. */
static void make_folder(const char *root, const char *const *classes, const int *counts, int n)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf %s && mkdir -p %s", root, root);
    sh(cmd);
    static const int sizes[3][2] = {{12, 10}, {10, 12}, {9, 9}};
    n_sources = 0;
    for (int c = 0; c < n; c++) {
        snprintf(cmd, sizeof cmd, "%s/%s", root, classes[c]);
        mkdir(cmd, 0777);
        for (int k = 0; k < counts[c]; k++) {
            source *s = &sources[n_sources++];
            snprintf(s->path, sizeof s->path, "%s/%s/img%02d.png", root, classes[c], k);
            s->klass = c;
            write_image(s->path, c, k, sizes[k % 3][0], sizes[k % 3][1]);
        }
    }
}

static void small_options(pdl_dataset_options *o)
{
    pdl_dataset_options_init(o);
    o->width = 8;
    o->height = 6;
    o->threads = 2;
    o->seed = 5;
}

static int64_t records_of(const char *out, const char *split)
{
    pdl_dataset *ds = NULL;
    if (pdl_dataset_open(out, split, &ds) != PDL_OK)
        return 0;
    int64_t n = pdl_dataset_get_info(ds)->count;
    pdl_dataset_free(ds);
    return n;
}

/* Checks that every record of split matches pdl_image_resize of one unused input file whose
 * class maps (label_of) to the record's label; returns the records matched. */
static int64_t match_split(const char *out, const char *split, const pdl_dataset_options *o,
                           const int *label_of, bool *used)
{
    pdl_dataset *ds = NULL;
    pdl_status status = pdl_dataset_open(out, split, &ds);
    CHECK_OK(status);
    if (status != PDL_OK)
        return 0;
    pdl_resize_mode mode = PDL_RESIZE_SQUASH;
    CHECK(pdl_resize_mode_parse(o->resize, &mode));
    const pdl_dataset_info *info = pdl_dataset_get_info(ds);
    CHECK(info->channels == o->channels && info->width == o->width && info->height == o->height);
    pdl_image rec = {0};
    int64_t matched = 0;
    for (int64_t i = 0; i < info->count; i++) {
        int32_t label = -1;
        CHECK_OK(pdl_dataset_read(ds, i, &rec, &label));
        char key[32];
        snprintf(key, sizeof key, "%08lld_%d", (long long)i, (int)label);
        CHECK(!strcmp(pdl_dataset_key(ds, i), key));
        for (int s = 0; s < n_sources; s++) {
            if (used[s] || label_of[sources[s].klass] != label)
                continue;
            pdl_image src = {0}, want = {0};
            CHECK_OK(pdl_image_read_file(sources[s].path, o->channels, &src));
            CHECK_OK(pdl_image_resize(&src, o->width, o->height, mode, o->seed,
                                      pdl_rng_stream_of("dataset.fill") + (uint64_t)s, &want));
            bool same = !memcmp(want.data, rec.data, (size_t)o->width * o->height * o->channels);
            pdl_image_free(&src);
            pdl_image_free(&want);
            if (same) {
                used[s] = true;
                matched++;
                break;
            }
        }
    }
    CHECK(matched == info->count);
    pdl_image_free(&rec);
    pdl_dataset_free(ds);
    return matched;
}

static const char *const five[] = {"ant_eater", "cat", "dog", "yak", "zebra"};

/* DIGITS' rounding, min_per_class and the labels of sorted folders, for each resize mode. */
static void test_splits_labels_and_pixels(void)
{
    static const int counts[] = {10, 5, 3, 2, 1};
    make_folder(TMP "/in", five, counts, 5);
    static const char *const modes[] = {"squash", "crop", "fill", "half_crop"};
    for (int m = 0; m < 4; m++) {
        pdl_dataset_options o;
        small_options(&o);
        o.resize = modes[m];
        o.val_pct = 25;
        o.test_pct = 10;
        o.encoding = m % 2 ? "none" : "png";
        o.force = true;
        pdl_dataset_report r = {0};
        CHECK_OK(pdl_dataset_create(TMP "/in", TMP "/ds", &o, &r));
        /* Per class (train, val, test): 10 -> 7, 2, 1; 5 -> 3, 1, 1; 3 -> 1, 1, 1; yak (2
         * files, 3 splits asked) and zebra (1 < min 2) dropped, in folder order. */
        CHECK(r.records[0] == 11 && r.records[1] == 4 && r.records[2] == 3 && r.classes == 3);
        CHECK(r.dropped_count == 2 && !strcmp(r.dropped[0], "yak") &&
              !strcmp(r.dropped[1], "zebra"));
        CHECK(r.skipped_count == 0 && r.found == 21);
        pdl_dataset_report_free(&r);
        const int label_of[] = {0, 1, 2, -1, -1};
        bool used[MAX_FILES] = {false};
        int64_t total = 0;
        for (int s = 0; s < 3; s++)
            total += match_split(TMP "/ds", s == 0 ? "train" : s == 1 ? "val" : "test", &o,
                                 label_of, used);
        CHECK(total == 18);
        /* The per-class split: ant eater's 10 files gave 7 train records, etc. */
        pdl_dataset *ds = NULL;
        CHECK_OK(pdl_dataset_open(TMP "/ds", "train", &ds));
        if (ds) {
            int per_label[3] = {0};
            for (int64_t i = 0; i < pdl_dataset_get_info(ds)->count; i++) {
                int32_t label = -1;
                CHECK_OK(pdl_dataset_read_label(ds, i, &label));
                if (label >= 0 && label < 3)
                    per_label[label]++;
            }
            CHECK(per_label[0] == 7 && per_label[1] == 3 && per_label[2] == 1);
            CHECK(pdl_dataset_get_info(ds)->classes == 3);
            CHECK(!strcmp(pdl_dataset_class_name(ds, 0), "ant eater"));
            CHECK(!strcmp(pdl_dataset_class_name(ds, 2), "dog"));
            CHECK(!strcmp(pdl_dataset_get_info(ds)->encoding, m % 2 ? "none" : "png"));
        }
        pdl_dataset_free(ds);
    }
}

/* Gray records, max_per_class, and the train mean against the records read back. */
static void test_gray_max_and_mean(void)
{
    static const int counts[] = {10, 5, 3, 2, 1};
    make_folder(TMP "/in", five, counts, 5);
    pdl_dataset_options o;
    small_options(&o);
    o.channels = 1;
    o.max_per_class = 4;
    o.val_pct = 25;
    o.force = true;
    pdl_dataset_report r = {0};
    CHECK_OK(pdl_dataset_create(TMP "/in", TMP "/ds", &o, &r));
    /* 4, 4, 3, 2 files -> (3, 1), (3, 1), (2, 1), (1, 1); zebra dropped. */
    CHECK(r.records[0] == 9 && r.records[1] == 4 && r.records[2] == 0 && r.classes == 4);
    CHECK(r.dropped_count == 1);
    pdl_dataset_report_free(&r);
    struct stat st;
    CHECK(stat(TMP "/ds/test_db", &st) != 0); /* empty splits get no database */
    const int label_of[] = {0, 1, 2, 3, -1};
    bool used[MAX_FILES] = {false};
    CHECK(match_split(TMP "/ds", "train", &o, label_of, used) == 9);

    pdl_dataset *ds = NULL;
    CHECK_OK(pdl_dataset_open(TMP "/ds", "train", &ds));
    double sum[48] = {0};
    pdl_image rec = {0};
    for (int64_t i = 0; ds && i < 9; i++) {
        int32_t label;
        CHECK_OK(pdl_dataset_read(ds, i, &rec, &label));
        for (int p = 0; p < 48; p++)
            sum[p] += rec.data[p];
    }
    float *mean = NULL, *exact = NULL;
    pdl_shape shape, exact_shape;
    CHECK_OK(pdl_mean_load(TMP "/ds/mean.binaryproto", &mean, &shape));
    CHECK(shape.ndim == 3 && shape.dim[0] == 1 && shape.dim[1] == 6 && shape.dim[2] == 8);
    for (int p = 0; mean && p < 48; p++)
        CHECK(mean[p] == rintf((float)(sum[p] / 9)));
    CHECK_OK(pdl_dataset_mean(ds, 3, NULL, NULL, &exact, &exact_shape));
    for (int p = 0; exact && p < 48; p++)
        CHECK_CLOSE(exact[p], sum[p] / 9, 1e-4, 0);
    free(mean);
    free(exact);
    pdl_image_free(&rec);
    pdl_dataset_free(ds);
}

/* Known content: a solid color stays itself, 2x2 blocks average, gray is ITU-R 601 luma. */
static void test_known_content(void)
{
    sh("rm -rf " TMP "/solid && mkdir -p " TMP "/solid/a " TMP "/solid/b");
    pdl_image img = {0};
    CHECK_OK(pdl_image_alloc(&img, 4, 4, 3));
    for (int p = 0; p < 16; p++) {
        img.data[p] = 200;
        img.data[16 + p] = 100;
        img.data[32 + p] = 50;
    }
    CHECK_OK(pdl_image_write_png(&img, TMP "/solid/a/1.png"));
    CHECK_OK(pdl_image_write_png(&img, TMP "/solid/b/1.png"));
    for (int p = 0; p < 16; p++) /* blocks of 2x2: 0, 40, 80, 120 in the red plane */
        img.data[p] = (uint8_t)(40 * (2 * (p / 4 / 2) + (p % 4) / 2) + 2 * (p % 2));
    CHECK_OK(pdl_image_write_png(&img, TMP "/solid/a/2.png"));
    CHECK_OK(pdl_image_write_png(&img, TMP "/solid/b/2.png"));
    pdl_image_free(&img);
    pdl_dataset_options o;
    pdl_dataset_options_init(&o);
    o.width = o.height = 2;
    o.val_pct = 0;
    o.min_per_class = 1;
    o.shuffle = false;
    o.encoding = "none";
    o.force = true;
    CHECK_OK(pdl_dataset_create(TMP "/solid", TMP "/ds", &o, NULL));
    pdl_dataset *ds = NULL;
    CHECK_OK(pdl_dataset_open(TMP "/ds", "train", &ds));
    pdl_image rec = {0};
    int32_t label = -1;
    /* Without shuffling: class a's 1.png, 2.png, then class b's. */
    CHECK_OK(pdl_dataset_read(ds, 0, &rec, &label));
    CHECK(label == 0 && rec.data[0] == 200 && rec.data[3] == 200 && rec.data[4] == 100 &&
          rec.data[11] == 50);
    CHECK_OK(pdl_dataset_read(ds, 1, &rec, &label));
    /* each output pixel averages one 2x2 block: red (0+2)/2, (40+42)/2, ... */
    CHECK(label == 0 && rec.data[0] == 1 && rec.data[1] == 41 && rec.data[2] == 81 &&
          rec.data[3] == 121);
    CHECK_OK(pdl_dataset_read(ds, 2, &rec, &label));
    CHECK(label == 1);
    pdl_dataset_free(ds);
    o.channels = 1;
    CHECK_OK(pdl_dataset_create(TMP "/solid", TMP "/ds", &o, NULL));
    CHECK_OK(pdl_dataset_open(TMP "/ds", "train", &ds));
    CHECK_OK(pdl_dataset_read(ds, 0, &rec, &label));
    CHECK(rec.channels == 1 && rec.data[0] == 124); /* .299 * 200 + .587 * 100 + .114 * 50 */
    pdl_dataset_free(ds);
    pdl_image_free(&rec);
}

static bool file_has(const char *path, const char *needle)
{
    FILE *f = fopen(path, "rb");
    static char text[1 << 16];
    size_t n = f ? fread(text, 1, sizeof text - 1, f) : 0;
    if (f)
        fclose(f);
    text[n] = '\0';
    return strstr(text, needle) != NULL;
}

/* A list file (paths relative to its folder, labels as given) with bad lines skipped. */
static void test_list_input(void)
{
    static const int counts[] = {4, 3};
    static const char *const two[] = {"p", "q"};
    make_folder(TMP "/in", two, counts, 2);
    FILE *f = fopen(TMP "/in/list.txt", "w");
    CHECK(f != NULL);
    if (!f)
        return;
    for (int s = 0; s < n_sources; s++) /* class p -> label 1, q -> label 0 */
        fprintf(f, "%s %d\n", sources[s].path + strlen(TMP "/in/"), sources[s].klass ? 0 : 1);
    fprintf(f, "\n   \nnolabel.png\np/img00.png abc\np/img01.png -2\nmissing.png 1\n");
    fclose(f);
    pdl_dataset_options o;
    small_options(&o);
    o.val_pct = 30;
    o.force = true;
    pdl_dataset_report r = {0};
    CHECK_OK(pdl_dataset_create(TMP "/in/list.txt", TMP "/ds", &o, &r));
    /* label 0: 3 files -> 2, 1; label 1: 4 files + missing.png (skipped when read) -> 4, 1 */
    CHECK(r.records[0] == 5 && r.records[1] == 2 && r.classes == 2 && r.found == 11);
    CHECK(r.skipped_count == 4);
    for (int64_t i = 0; i < r.skipped_count; i++) {
        const char *p = r.skipped[i].path, *why = r.skipped[i].reason;
        if (strstr(p, "list.txt:10"))
            CHECK(strstr(why, "no label") != NULL);
        else if (strstr(p, "list.txt:11"))
            CHECK(strstr(why, "not an integer") != NULL);
        else if (strstr(p, "list.txt:12"))
            CHECK(strstr(why, "negative") != NULL);
        else
            CHECK(strstr(p, "missing.png") && strstr(why, "No such file"));
    }
    pdl_dataset_report_free(&r);
    const int label_of[] = {1, 0};
    bool used[MAX_FILES] = {false};
    CHECK(match_split(TMP "/ds", "train", &o, label_of, used) +
              match_split(TMP "/ds", "val", &o, label_of, used) ==
          7);
    CHECK(file_has(TMP "/ds/labels.txt", "0\n1\n"));
    CHECK(file_has(TMP "/ds/manifest.json", "\"reason\": \"label 'abc' is not an integer\""));
}

/* Separate validation (folder) and test (list) inputs: all of them go to their split, a class
 * folder unknown to the main input and a label without a class are skipped. */
static void test_separate_inputs(void)
{
    static const int counts[] = {4, 3};
    static const char *const two[] = {"p", "q"};
    make_folder(TMP "/in", two, counts, 2);
    sh("rm -rf " TMP "/vin && mkdir -p " TMP "/vin/p " TMP "/vin/r && cp " TMP
       "/in/p/img00.png " TMP "/in/p/img01.png " TMP "/vin/p/ && cp " TMP "/in/q/img00.png " TMP
       "/vin/r/");
    FILE *f = fopen(TMP "/test.txt", "w");
    CHECK(f != NULL);
    if (!f)
        return;
    fprintf(f, "in/q/img01.png 1\nin/p/img03.png 0\nin/q/img02.png 5\n");
    fclose(f);
    pdl_dataset_options o;
    small_options(&o);
    o.val_input = TMP "/vin";
    o.test_input = TMP "/test.txt";
    o.force = true;
    pdl_dataset_report r = {0};
    CHECK_OK(pdl_dataset_create(TMP "/in", TMP "/ds", &o, &r));
    CHECK(r.records[0] == 7 && r.records[1] == 2 && r.records[2] == 2 && r.skipped_count == 2);
    for (int64_t i = 0; i < r.skipped_count; i++) {
        const char *path = r.skipped[i].path, *why = r.skipped[i].reason;
        if (strstr(path, "vin/r/img00.png"))
            CHECK(strstr(why, "not a class of the main input") != NULL);
        else
            CHECK(strstr(path, "test.txt:3") && strstr(why, "label 5 has no class"));
    }
    pdl_dataset_report_free(&r);
    CHECK(file_has(TMP "/ds/manifest.json", "(val: " TMP "/vin) (test: " TMP "/test.txt)"));
}

/* The bad-image corpus: each file is skipped with its reason, the good ones kept. */
static void test_bad_files(void)
{
    static const char *const bad[] = {"empty.png",     "garbage.jpg",      "garbage.png",
                                      "truncated.png", "truncated.jpg",    "corrupt_idat.png",
                                      "huge.png",      "huge_pixels.png",  "huge.jpg"};
    static const int counts[] = {3, 3};
    static const char *const two[] = {"good", "mixed"};
    make_folder(TMP "/in", two, counts, 2);
    char cmd[1024];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(cmd, sizeof cmd, "cp %s/tests/fixtures/images/%s " TMP "/in/mixed/", PDL_SOURCE_DIR,
                 bad[i]);
        sh(cmd);
    }
    snprintf(cmd, sizeof cmd, "cp %s/tests/fixtures/images/one.png " TMP "/in/mixed/",
             PDL_SOURCE_DIR);
    sh(cmd);
    pdl_dataset_options o;
    small_options(&o);
    o.val_pct = 0;
    o.force = true;
    pdl_dataset_report r = {0};
    CHECK_OK(pdl_dataset_create(TMP "/in", TMP "/ds", &o, &r));
    CHECK(r.records[0] == 7 && r.found == 16); /* 3 + 3 + one.png (1x1) */
    CHECK(r.skipped_count == (int64_t)(sizeof bad / sizeof bad[0]));
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        bool listed = false;
        for (int64_t k = 0; k < r.skipped_count; k++)
            if (strstr(r.skipped[k].path, bad[i]) && r.skipped[k].reason[0])
                listed = true;
        CHECK(listed);
        if (!listed)
            fprintf(stderr, "  %s was not skipped\n", bad[i]);
    }
    for (int64_t k = 0; k < r.skipped_count; k++)
        if (strstr(r.skipped[k].path, "empty.png"))
            CHECK(strstr(r.skipped[k].reason, "0 bytes") != NULL);
    CHECK(file_has(TMP "/ds/manifest.json", "truncated.jpg"));
    CHECK(file_has(TMP "/ds/manifest.json", "\"mixed\", \"train\": 4"));
    pdl_dataset_report_free(&r);
}

static bool stop_early(void *user, const char *stage, int64_t done, int64_t total)
{
    (void)stage;
    (void)total;
    *(int64_t *)user = done;
    return false;
}

/* A stale .partial is removed, an existing dataset refused unless forced, a stopped build
 * leaves nothing, and a tiny map grows. */
static void test_partial_force_stop_and_growth(void)
{
    static const int counts[] = {3, 3};
    static const char *const two[] = {"a", "b"};
    make_folder(TMP "/in", two, counts, 2);
    sh("rm -rf " TMP "/ds* && mkdir -p " TMP "/ds.partial-999999999/train_db && echo x > " TMP
       "/ds.partial-999999999/train_db/data.mdb");
    pdl_dataset_options o;
    small_options(&o);
    o.encoding = "none";
    o.width = o.height = 64; /* 12 KiB records */
    o.map_size = 8192;       /* two pages: grows while the first batch is written */
    CHECK_OK(pdl_dataset_create(TMP "/in", TMP "/ds", &o, NULL));
    pdl_lmdb *db = NULL;
    CHECK_OK(pdl_lmdb_open(TMP "/ds/train_db", &db));
    CHECK(db && pdl_lmdb_map_size(db) >= 4 * 8192);
    pdl_lmdb_close(db);
    struct stat st;
    CHECK(stat(TMP "/ds.partial-999999999", &st) != 0);
    CHECK(stat(TMP "/ds/.pdl-build.lock", &st) != 0);
    CHECK(records_of(TMP "/ds", "train") == 4 && records_of(TMP "/ds", "val") == 2);

    CHECK(pdl_dataset_create(TMP "/in", TMP "/ds", &o, NULL) == PDL_ERR_INVALID);
    CHECK(strstr(pdl_last_error(), "exists") != NULL);
    o.force = true;
    o.val_pct = 50;
    CHECK_OK(pdl_dataset_create(TMP "/in", TMP "/ds", &o, NULL));
    CHECK(records_of(TMP "/ds", "train") == 4 && records_of(TMP "/ds", "val") == 2);

    int64_t done = -1;
    o.progress = stop_early;
    o.progress_user = &done;
    CHECK(pdl_dataset_create(TMP "/in", TMP "/stopped", &o, NULL) == PDL_ERR_INTERRUPTED);
    CHECK(done > 0 && stat(TMP "/stopped", &st) != 0);
    sh("test -z \"$(ls -d " TMP "/stopped.partial-* 2>/dev/null)\"");
}

static void compare_datasets(const char *a, const char *b, const char *split)
{
    pdl_dataset *x = NULL, *y = NULL;
    CHECK_OK(pdl_dataset_open(a, split, &x));
    CHECK_OK(pdl_dataset_open(b, split, &y));
    if (!x || !y)
        goto done;
    CHECK(pdl_dataset_get_info(x)->count == pdl_dataset_get_info(y)->count);
    pdl_image p = {0}, q = {0};
    for (int64_t i = 0; i < pdl_dataset_get_info(x)->count; i++) {
        int32_t lp, lq;
        CHECK_OK(pdl_dataset_read(x, i, &p, &lp));
        CHECK_OK(pdl_dataset_read(y, i, &q, &lq));
        CHECK(lp == lq && !strcmp(pdl_dataset_key(x, i), pdl_dataset_key(y, i)));
        CHECK(!memcmp(p.data, q.data, (size_t)p.width * p.height * p.channels));
    }
    pdl_image_free(&p);
    pdl_image_free(&q);
done:
    pdl_dataset_free(x);
    pdl_dataset_free(y);
}

static void test_thread_count_invariance(void)
{
    static const int counts[] = {10, 5, 3};
    make_folder(TMP "/in", five, counts, 3);
    pdl_dataset_options o;
    small_options(&o);
    o.resize = "fill";
    o.force = true;
    o.threads = 1;
    CHECK_OK(pdl_dataset_create(TMP "/in", TMP "/one", &o, NULL));
    o.threads = 3;
    CHECK_OK(pdl_dataset_create(TMP "/in", TMP "/three", &o, NULL));
    compare_datasets(TMP "/one", TMP "/three", "train");
    compare_datasets(TMP "/one", TMP "/three", "val");
    sh("cmp -s " TMP "/one/mean.binaryproto " TMP "/three/mean.binaryproto");
    sh("cmp -s " TMP "/one/manifest.json " TMP "/three/manifest.json");
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* count images of 4x5 whose pixel i is (n * 7 + i * 3) % 256, labels n % 3. */
static void write_idx(const char *images, const char *labels, int count)
{
    uint8_t buf[16 + 20 * 16];
    put_be32(buf, 0x803);
    put_be32(buf + 4, (uint32_t)count);
    put_be32(buf + 8, 5);
    put_be32(buf + 12, 4);
    for (int n = 0; n < count; n++)
        for (int i = 0; i < 20; i++)
            buf[16 + n * 20 + i] = (uint8_t)((n * 7 + i * 3) % 256);
    gzFile f = gzopen(images, "wb");
    CHECK(f && gzwrite(f, buf, (unsigned)(16 + count * 20)) == 16 + count * 20);
    gzclose(f);
    put_be32(buf, 0x801);
    put_be32(buf + 4, (uint32_t)count);
    for (int n = 0; n < count; n++)
        buf[8 + n] = (uint8_t)(n % 3);
    f = gzopen(labels, "wb");
    CHECK(f && gzwrite(f, buf, (unsigned)(8 + count)) == 8 + count);
    gzclose(f);
}

static void test_import_idx(void)
{
    sh("rm -rf " TMP "/idx && mkdir -p " TMP "/idx");
    write_idx(TMP "/idx/train-images.gz", TMP "/idx/train-labels.gz", 12);
    write_idx(TMP "/idx/test-images.gz", TMP "/idx/test-labels.gz", 5);
    pdl_dataset_options o;
    pdl_dataset_options_init(&o);
    o.val_pct = 25;
    o.force = true;
    pdl_dataset_report r = {0};
    CHECK_OK(pdl_dataset_import_idx(TMP "/idx/train-images.gz", TMP "/idx/train-labels.gz",
                                    TMP "/idx/test-images.gz", TMP "/idx/test-labels.gz",
                                    TMP "/mnist", &o, &r));
    CHECK(r.records[0] == 9 && r.records[1] == 3 && r.records[2] == 5 && r.classes == 3);
    pdl_dataset_report_free(&r);
    static const char *const splits[] = {"train", "val", "test"};
    bool seen[12] = {false};
    for (int s = 0; s < 3; s++) {
        pdl_dataset *ds = NULL;
        CHECK_OK(pdl_dataset_open(TMP "/mnist", splits[s], &ds));
        if (!ds)
            continue;
        const pdl_dataset_info *info = pdl_dataset_get_info(ds);
        CHECK(info->channels == 1 && info->width == 4 && info->height == 5 && info->encoded);
        pdl_image rec = {0};
        for (int64_t i = 0; i < info->count; i++) {
            int32_t label = -1;
            CHECK_OK(pdl_dataset_read(ds, i, &rec, &label));
            int n = 0; /* the image number, from its first pixel n * 7 */
            while (n < 12 && rec.data[0] != (uint8_t)(n * 7))
                n++;
            CHECK(n < 12 && label == n % 3);
            for (int p = 0; p < 20 && n < 12; p++)
                CHECK(rec.data[p] == (uint8_t)((n * 7 + p * 3) % 256));
            if (s < 2 && n < 12) {
                CHECK(!seen[n]);
                seen[n] = true;
            }
        }
        pdl_image_free(&rec);
        pdl_dataset_free(ds);
    }
    CHECK(file_has(TMP "/mnist/labels.txt", "0\n1\n2\n"));
    /* A missing label file is refused naming it; nothing is left behind. */
    CHECK(pdl_dataset_import_idx(TMP "/idx/train-images.gz", TMP "/idx/nope.gz", NULL, NULL,
                                 TMP "/bad", &o, NULL) == PDL_ERR_IO);
    CHECK(strstr(pdl_last_error(), "nope.gz") != NULL);
}

int main(void)
{
    mkdir(TMP, 0777);
    RUN(test_splits_labels_and_pixels);
    RUN(test_gray_max_and_mean);
    RUN(test_known_content);
    RUN(test_list_input);
    RUN(test_separate_inputs);
    RUN(test_bad_files);
    RUN(test_partial_force_stop_and_growth);
    RUN(test_thread_count_invariance);
    RUN(test_import_idx);
    sh("rm -rf " TMP);
    return harness_summary();
}
