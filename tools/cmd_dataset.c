/* pdl dataset: create | import-idx | info | mean | export. Owns the command lines, the progress
 * line (files/s, ETA), Ctrl-C and the printed summaries; building and reading datasets is
 * libpdl's (pdl/dataset.h). */
#include "cli.h"
#include "cli_data.h"
#include "pdl/dataset.h"
#include "progress.h"

#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PATH_SIZE 4096
/* Skipped files listed in the summary; the rest are in manifest.json. */
#define SKIPS_SHOWN 10

static const char usage_text[] =
    "usage: pdl dataset <create|import-idx|info|mean|export> ... (--help on each)\n"
    "\n"
    "  create INPUT OUT       build a dataset from class folders or a list file\n"
    "  import-idx DIR OUT     build one from MNIST/Fashion-MNIST IDX files\n"
    "  info DATASET           records, shapes, encoding, label histogram\n"
    "  mean DATASET           recompute the mean image of a split\n"
    "  export DATASET DIR     write records back as PNG files in class folders\n";

static const char create_usage[] =
    "usage: pdl dataset create INPUT OUT [options]\n"
    "\n"
    "Builds OUT (train_db/, val_db/, test_db/, labels.txt, mean.binaryproto, mean.png,\n"
    "manifest.json) from INPUT: a folder with one sub-folder per class (labels follow the\n"
    "sorted folder names) or a list file of 'path LABEL' lines (Caffe's convert_imageset).\n"
    "\n"
    "  --color | --gray       records in color (default) or gray\n"
    "  --size WxH             record size (default 256x256)\n"
    "  --resize MODE          squash (default), crop, fill, half_crop\n"
    "  --val-pct P            percent of each class for validation (default 25)\n"
    "  --test-pct P           percent of each class for testing (default 0)\n"
    "  --val INPUT            a separate validation folder or list (replaces --val-pct)\n"
    "  --test INPUT           a separate test folder or list (replaces --test-pct)\n"
    "  --min-per-class N      drop classes with fewer files (default 2)\n"
    "  --max-per-class N      use at most N files per class (default: all)\n"
    "  --encoding E           png (default), jpg or none (raw pixels)\n"
    "  --jpeg-quality Q       quality of jpg records (default 90)\n"
    "  --no-shuffle           keep class, then path order (default: shuffled)\n"
    "  --seed N               seed of the shuffles and the fill noise (default 1)\n"
    "  --threads N            decoding threads (default: all cores)\n"
    "  --root DIR             folder of relative paths in list files (default: the list's)\n"
    "  --labels FILE          class names for list input, one per line\n"
    "  --force                replace an existing OUT\n"
    "  --quiet                no progress line\n"
    "  --help                 this text\n";

static const char import_usage[] =
    "usage: pdl dataset import-idx [DIR] OUT [options]\n"
    "\n"
    "Builds OUT from IDX files: train-images-idx3-ubyte[.gz] and train-labels-idx1-ubyte[.gz]\n"
    "(and t10k-* when present) in DIR, or the files given below. Records are gray, of the\n"
    "files' size; train_db gets the train files (val_db --val-pct of them), test_db t10k.\n"
    "\n"
    "  --train-images F --train-labels F   explicit train files\n"
    "  --test-images F --test-labels F     explicit test files\n"
    "  --val-pct P            percent of each class for validation (default 0)\n"
    "  --encoding E           png (default), jpg or none\n"
    "  --labels FILE          class names, one per line (default: 0, 1, ...)\n"
    "  --no-shuffle, --seed N, --threads N, --force, --quiet, --help\n";

static const char info_usage[] =
    "usage: pdl dataset info DATASET [--json]\n"
    "\n"
    "DATASET is a dataset folder or one LMDB database (e.g. made by convert_imageset).\n"
    "Prints records, shape, encoding and the label histogram of each split.\n"
    "\n"
    "  --json                 one JSON object on stdout\n"
    "  --help                 this text\n";

static const char mean_usage[] =
    "usage: pdl dataset mean DATASET [options]\n"
    "\n"
    "Recomputes the mean image of a split and compares it with DATASET/mean.binaryproto.\n"
    "\n"
    "  --split S              train (default), val or test\n"
    "  --write                write DATASET/mean.binaryproto and mean.png from it\n"
    "  --out FILE             write the mean as FILE (a .binaryproto) instead\n"
    "  --threads N            decoding threads (default: all cores)\n"
    "  --quiet, --help\n";

static const char export_usage[] =
    "usage: pdl dataset export DATASET DIR [options]\n"
    "\n"
    "Writes the records of a split as DIR/<class>/<key>.png, for checking.\n"
    "\n"
    "  --split S              train (default), val or test\n"
    "  --limit N              only the first N records\n"
    "  --threads N            threads (default: all cores)\n"
    "  --quiet, --help\n";

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

typedef struct display {
    bool tty, quiet, line_open;
    double start, last;
} display;

/* The progress callback: a \r line on a terminal (10 times a second and at the end), a plain
 * line every 30 s otherwise; false once Ctrl-C was pressed. */
static bool show_progress(void *user, const char *stage, int64_t done, int64_t total)
{
    display *d = user;
    if (stop_requested)
        return false;
    double now = now_s();
    bool due = d->tty ? done == total || now - d->last >= 0.1 : now - d->last >= 30;
    if (d->quiet || !due)
        return true;
    d->last = now;
    double rate = done / fmax(now - d->start, 1e-9);
    char eta[32], bar[33];
    progress_duration(rate > 0 ? (double)(total - done) / rate : -1, eta, sizeof eta);
    int filled = total > 0 ? (int)(done * 30 / total) : 0;
    for (int i = 0; i < 30; i++)
        bar[i] = i < filled ? '=' : i == filled ? '>' : ' ';
    bar[30] = '\0';
    if (d->tty) {
        fprintf(stderr, "\r%-6s [%s] %lld/%lld %.0f files/s ETA %s\033[K", stage, bar,
                (long long)done, (long long)total, rate, eta);
        d->line_open = true;
    } else {
        fprintf(stderr, "%s %lld/%lld %.0f files/s ETA %s\n", stage, (long long)done,
                (long long)total, rate, eta);
    }
    return true;
}

static void display_start(display *d, bool quiet)
{
    double now = now_s();
    *d = (display){.tty = isatty(STDERR_FILENO), .quiet = quiet, .start = now, .last = now};
    stop_requested = 0;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

static void display_end(display *d)
{
    if (d->line_open)
        fputc('\n', stderr);
    d->line_open = false;
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
}

/* Options shared by create and import-idx; returns 1 when arg was one, 0 when not, -1 on a bad
 * value (message printed). */
static int common_option(const char *cmd, int argc, char **argv, int *i, pdl_dataset_options *o,
                         bool *quiet)
{
    const char *arg = argv[*i], *value = NULL;
    int64_t n = 0;
    if (!strcmp(arg, "--force")) {
        o->force = true;
    } else if (!strcmp(arg, "--quiet")) {
        *quiet = true;
    } else if (!strcmp(arg, "--no-shuffle") || !strcmp(arg, "--shuffle")) {
        o->shuffle = arg[2] == 's';
    } else if (!strcmp(arg, "--encoding")) {
        if (!(value = cli_value(cmd, argc, argv, i)))
            return -1;
        if (strcmp(value, "png") && strcmp(value, "jpg") && strcmp(value, "none")) {
            fprintf(stderr, "pdl %s: --encoding: expected png, jpg or none, got '%s'\n", cmd,
                    value);
            return -1;
        }
        o->encoding = value;
    } else if (!strcmp(arg, "--val-pct")) {
        if (!(value = cli_value(cmd, argc, argv, i)) ||
            !cli_parse_float(cmd, arg, value, 0, 99.999, &o->val_pct))
            return -1;
    } else if (!strcmp(arg, "--seed")) {
        if (!(value = cli_value(cmd, argc, argv, i)) ||
            !cli_parse_int(cmd, arg, value, 0, INT64_MAX, &n))
            return -1;
        o->seed = (uint64_t)n;
    } else if (!strcmp(arg, "--threads")) {
        if (!(value = cli_value(cmd, argc, argv, i)) ||
            !cli_parse_int(cmd, arg, value, 0, 1024, &n))
            return -1;
        o->threads = (int)n;
    } else if (!strcmp(arg, "--labels")) {
        if (!(o->labels = cli_value(cmd, argc, argv, i)))
            return -1;
    } else {
        return 0;
    }
    return 1;
}

/* "256x256" -> width, height. */
static bool parse_size(const char *text, int *width, int *height)
{
    char *end = NULL;
    long w = strtol(text, &end, 10);
    if (end == text || (*end != 'x' && *end != 'X'))
        return false;
    const char *rest = end + 1;
    long h = strtol(rest, &end, 10);
    if (end == rest || *end || w < 1 || h < 1 || w > 16384 || h > 16384)
        return false;
    *width = (int)w;
    *height = (int)h;
    return true;
}

static void print_report(const char *out, const pdl_dataset_report *r, double seconds)
{
    printf("dataset  %s\nrecords  train %lld, val %lld, test %lld (%d classes)\n", out,
           (long long)r->records[0], (long long)r->records[1], (long long)r->records[2],
           r->classes);
    if (r->dropped_count) {
        printf("dropped  %d class%s:", r->dropped_count, r->dropped_count == 1 ? "" : "es");
        for (int i = 0; i < r->dropped_count; i++)
            printf("%s %s", i ? "," : "", r->dropped[i]);
        printf("\n");
    }
    if (r->skipped_count) {
        printf("skipped  %lld file%s:\n", (long long)r->skipped_count,
               r->skipped_count == 1 ? "" : "s");
        for (int64_t i = 0; i < r->skipped_count && i < SKIPS_SHOWN; i++)
            printf("  %s: %s\n", r->skipped[i].path, r->skipped[i].reason);
        if (r->skipped_count > SKIPS_SHOWN)
            printf("  ... and %lld more (see %s/manifest.json)\n",
                   (long long)(r->skipped_count - SKIPS_SHOWN), out);
    }
    printf("time     %.2fs (%.0f files/s)\n", seconds,
           seconds > 0 ? (double)r->found / seconds : 0.0);
}

/* Prints the report of a failed build when it has anything to say, then the error. */
static int build_failed(const char *cmd, const char *out, const pdl_dataset_report *r)
{
    if (r->skipped_count || r->dropped_count)
        print_report(out, r, r->seconds);
    return cli_fail(cmd, stop_requested ? "interrupted; nothing was written" : "build failed");
}

static int run_create(int argc, char **argv)
{
    const char *cmd = "dataset create", *input = NULL, *out = NULL, *value = NULL;
    pdl_dataset_options o;
    pdl_dataset_options_init(&o);
    bool quiet = false, val_given = false, test_given = false;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        int64_t n = 0;
        int common = common_option(cmd, argc, argv, &i, &o, &quiet);
        if (common < 0)
            return 2;
        val_given |= !strcmp(arg, "--val-pct");
        if (common) {
            continue;
        } else if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) {
            fputs(create_usage, stdout);
            return 0;
        } else if (!strcmp(arg, "--color") || !strcmp(arg, "--gray")) {
            o.channels = arg[2] == 'c' ? 3 : 1;
        } else if (!strcmp(arg, "--size")) {
            if (!(value = cli_value(cmd, argc, argv, &i)))
                return 2;
            if (!parse_size(value, &o.width, &o.height)) {
                fprintf(stderr, "pdl %s: --size: expected WxH such as 256x256, got '%s'\n", cmd,
                        value);
                return 2;
            }
        } else if (!strcmp(arg, "--resize")) {
            if (!(value = cli_value(cmd, argc, argv, &i)))
                return 2;
            if (strcmp(value, "squash") && strcmp(value, "crop") && strcmp(value, "fill") &&
                strcmp(value, "half_crop")) {
                fprintf(stderr, "pdl %s: --resize: expected squash, crop, fill or half_crop, "
                        "got '%s'\n", cmd, value);
                return 2;
            }
            o.resize = value;
        } else if (!strcmp(arg, "--test-pct")) {
            test_given = true;
            if (!(value = cli_value(cmd, argc, argv, &i)) ||
                !cli_parse_float(cmd, arg, value, 0, 99.999, &o.test_pct))
                return 2;
        } else if (!strcmp(arg, "--min-per-class") || !strcmp(arg, "--max-per-class") ||
                   !strcmp(arg, "--jpeg-quality")) {
            int64_t max = arg[2] == 'j' ? 100 : INT64_MAX;
            if (!(value = cli_value(cmd, argc, argv, &i)) ||
                !cli_parse_int(cmd, arg, value, arg[2] == 'j' ? 1 : 0, max, &n))
                return 2;
            if (arg[2] == 'j')
                o.jpeg_quality = (int)n;
            else if (arg[3] == 'i')
                o.min_per_class = n;
            else
                o.max_per_class = n;
        } else if (!strcmp(arg, "--val") || !strcmp(arg, "--test") || !strcmp(arg, "--root")) {
            if (!(value = cli_value(cmd, argc, argv, &i)))
                return 2;
            *(arg[2] == 'v' ? &o.val_input : arg[2] == 't' ? &o.test_input : &o.root) = value;
        } else if (!cli_positional(cmd, arg, (const char **[]){&input, &out}, 2)) {
            return 2;
        }
    }
    if (!input || !out) {
        fprintf(stderr, "pdl %s: give INPUT and OUT\n%s", cmd, create_usage);
        return 2;
    }
    if ((val_given && o.val_input) || (test_given && o.test_input)) {
        fprintf(stderr, "pdl %s: give --val-pct or --val (and --test-pct or --test), not both\n",
                cmd);
        return 2;
    }
    if (o.val_pct + o.test_pct >= 100) {
        fprintf(stderr, "pdl %s: --val-pct %g + --test-pct %g leave nothing for training\n", cmd,
                o.val_pct, o.test_pct);
        return 2;
    }
    if (!cli_make_parent_dirs(cmd, out))
        return 1;
    display d;
    display_start(&d, quiet);
    o.progress = show_progress;
    o.progress_user = &d;
    pdl_dataset_report r = {0};
    pdl_status status = pdl_dataset_create(input, out, &o, &r);
    display_end(&d);
    int rc = status == PDL_OK ? (print_report(out, &r, r.seconds), 0) : build_failed(cmd, out, &r);
    pdl_dataset_report_free(&r);
    return rc;
}

static int run_import(int argc, char **argv)
{
    const char *cmd = "dataset import-idx", *dir = NULL, *out = NULL;
    const char *train_images = NULL, *train_labels = NULL, *test_images = NULL,
               *test_labels = NULL;
    const cli_path_option paths[] = {{"--train-images", &train_images},
                                     {"--train-labels", &train_labels},
                                     {"--test-images", &test_images},
                                     {"--test-labels", &test_labels}};
    pdl_dataset_options o;
    pdl_dataset_options_init(&o);
    o.val_pct = 0;
    bool quiet = false;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        int matched = cli_match_path(cmd, paths, sizeof paths / sizeof paths[0], argc, argv, &i);
        int common = matched ? 0 : common_option(cmd, argc, argv, &i, &o, &quiet);
        if (matched < 0 || common < 0)
            return 2;
        if (matched || common)
            continue;
        if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) {
            fputs(import_usage, stdout);
            return 0;
        } else if (!cli_positional(cmd, arg, (const char **[]){&out, &dir}, 2)) {
            return 2;
        }
    }
    if (dir) { /* two positionals: DIR OUT */
        const char *t = dir;
        dir = out;
        out = t;
    }
    if (!out || (!dir && (!train_images || !train_labels)) || (dir && train_images) ||
        (!test_images != !test_labels)) {
        fprintf(stderr, "pdl %s: give DIR OUT, or OUT with --train-images and --train-labels "
                "(and --test-images with --test-labels)\n", cmd);
        return 2;
    }
    static char ti[PATH_SIZE], tl[PATH_SIZE], si[PATH_SIZE], sl[PATH_SIZE];
    if (dir) {
        if (!cli_idx_find(cmd, dir, "train", ti, tl, PATH_SIZE))
            return 1;
        train_images = ti;
        train_labels = tl;
        if (cli_idx_find(NULL, dir, "t10k", si, sl, PATH_SIZE)) {
            test_images = si;
            test_labels = sl;
        }
    }
    if (!cli_make_parent_dirs(cmd, out))
        return 1;
    display d;
    display_start(&d, quiet);
    o.progress = show_progress;
    o.progress_user = &d;
    pdl_dataset_report r = {0};
    pdl_status status = pdl_dataset_import_idx(train_images, train_labels, test_images,
                                               test_labels, out, &o, &r);
    display_end(&d);
    int rc = status == PDL_OK ? (print_report(out, &r, r.seconds), 0) : build_failed(cmd, out, &r);
    pdl_dataset_report_free(&r);
    return rc;
}

static const char *const split_names[] = {"train", "val", "test"};

/* Opens DATASET's split (a dataset folder) or DATASET itself (an LMDB database). */
static pdl_status open_split(const char *path, const char *split, pdl_dataset **ds)
{
    return pdl_dataset_open(path, cli_is_dataset(path) ? split : NULL, ds);
}

typedef struct split_info {
    const char *name;
    pdl_dataset *ds;
    int64_t *histogram; /* classes entries */
    int64_t other;      /* labels outside [0, classes) */
} split_info;

static bool parse_one_path(const char *cmd, const char *usage, int argc, char **argv,
                           const char **path, bool *json, int *rc)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(usage, stdout);
            *rc = 0;
            return false;
        } else if (!strcmp(argv[i], "--json")) {
            *json = true;
        } else if (!cli_positional(cmd, argv[i], (const char **[]){path}, 1)) {
            *rc = 2;
            return false;
        }
    }
    if (!*path) {
        fprintf(stderr, "pdl %s: give DATASET\n", cmd);
        *rc = 2;
        return false;
    }
    return true;
}

static void print_info_json(const char *path, split_info *s, int n, int classes)
{
    printf("{\"path\": ");
    cli_json_string(stdout, path);
    printf(", \"splits\": [");
    for (int k = 0; k < n; k++) {
        const pdl_dataset_info *info = pdl_dataset_get_info(s[k].ds);
        printf("%s{\"split\": ", k ? ", " : "");
        cli_json_string(stdout, s[k].name);
        printf(", \"records\": %lld, \"channels\": %d, \"height\": %d, \"width\": %d, "
               "\"encoding\": \"%s\", \"classes\": %d, \"labels\": [",
               (long long)info->count, info->channels, info->height, info->width,
               info->encoding, info->classes);
        for (int c = 0; c < classes; c++)
            printf("%s%lld", c ? ", " : "", (long long)s[k].histogram[c]);
        printf("], \"other_labels\": %lld}", (long long)s[k].other);
    }
    printf("], \"class_names\": [");
    for (int c = 0; c < classes; c++) {
        const char *name = pdl_dataset_class_name(s[0].ds, c);
        printf("%s", c ? ", " : "");
        if (name)
            cli_json_string(stdout, name);
        else
            printf("\"%d\"", c);
    }
    printf("]}\n");
}

static void print_info_text(const char *path, split_info *s, int n, int classes)
{
    printf("dataset  %s\n\n%-6s %9s  %-12s %-8s %7s\n", path, "split", "records", "shape",
           "encoding", "classes");
    for (int k = 0; k < n; k++) {
        const pdl_dataset_info *info = pdl_dataset_get_info(s[k].ds);
        char shape[48];
        snprintf(shape, sizeof shape, "%dx%dx%d", info->channels, info->height, info->width);
        printf("%-6s %9lld  %-12s %-8s %7d\n", s[k].name, (long long)info->count, shape,
               info->encoding, info->classes);
    }
    int width = 5;
    for (int c = 0; c < classes; c++) {
        const char *name = pdl_dataset_class_name(s[0].ds, c);
        int len = name ? (int)strlen(name) : 0;
        width = len > width ? len : width;
    }
    printf("\n%5s %-*s", "label", width, "class");
    for (int k = 0; k < n; k++)
        printf(" %9s", s[k].name);
    printf("\n");
    for (int c = 0; c < classes; c++) {
        const char *name = pdl_dataset_class_name(s[0].ds, c);
        printf("%5d %-*s", c, width, name ? name : "");
        for (int k = 0; k < n; k++)
            printf(" %9lld", (long long)s[k].histogram[c]);
        printf("\n");
    }
    for (int k = 0; k < n; k++)
        if (s[k].other)
            printf("%s: %lld records with labels outside [0, %d)\n", s[k].name,
                   (long long)s[k].other, classes);
}

static int run_info(int argc, char **argv)
{
    const char *cmd = "dataset info", *path = NULL;
    bool json = false;
    int rc = 0;
    if (!parse_one_path(cmd, info_usage, argc, argv, &path, &json, &rc))
        return rc;
    split_info s[3] = {{0}};
    int n = 0, classes = 0;
    bool folder = cli_is_dataset(path);
    for (int k = 0; k < 3 && rc == 0; k++) {
        if (folder && !cli_dataset_has(path, split_names[k]))
            continue;
        s[n].name = folder ? split_names[k] : "db";
        if (open_split(path, split_names[k], &s[n].ds) != PDL_OK) {
            rc = cli_fail(cmd, path);
            break;
        }
        int c = pdl_dataset_get_info(s[n].ds)->classes;
        classes = c > classes ? c : classes;
        n++;
        if (!folder)
            break;
    }
    for (int k = 0; k < n && rc == 0; k++) {
        if (!(s[k].histogram = calloc((size_t)classes + 1, sizeof *s[k].histogram))) {
            fprintf(stderr, "pdl %s: out of memory\n", cmd);
            rc = 1;
            break;
        }
        int64_t count = pdl_dataset_get_info(s[k].ds)->count;
        for (int64_t i = 0; i < count && rc == 0; i++) {
            int32_t label = 0;
            if (pdl_dataset_read_label(s[k].ds, i, &label) != PDL_OK)
                rc = cli_fail(cmd, "reading labels");
            else if (label >= 0 && label < classes)
                s[k].histogram[label]++;
            else
                s[k].other++;
        }
    }
    if (rc == 0 && json)
        print_info_json(path, s, n, classes);
    else if (rc == 0)
        print_info_text(path, s, n, classes);
    for (int k = 0; k < 3; k++) {
        free(s[k].histogram);
        pdl_dataset_free(s[k].ds);
    }
    return rc;
}

/* Shared by mean and export: --split, --threads, --quiet; 1 = taken, 0 = not, -1 = bad. */
static int split_option(const char *cmd, int argc, char **argv, int *i, const char **split,
                        int *threads, bool *quiet)
{
    const char *arg = argv[*i], *value = NULL;
    int64_t n = 0;
    if (!strcmp(arg, "--quiet")) {
        *quiet = true;
    } else if (!strcmp(arg, "--split")) {
        if (!(value = cli_value(cmd, argc, argv, i)))
            return -1;
        if (strcmp(value, "train") && strcmp(value, "val") && strcmp(value, "test")) {
            fprintf(stderr, "pdl %s: --split: expected train, val or test, got '%s'\n", cmd,
                    value);
            return -1;
        }
        *split = value;
    } else if (!strcmp(arg, "--threads")) {
        if (!(value = cli_value(cmd, argc, argv, i)) ||
            !cli_parse_int(cmd, arg, value, 0, 1024, &n))
            return -1;
        *threads = (int)n;
    } else {
        return 0;
    }
    return 1;
}

static void print_mean(const char *path, const char *split, const float *mean,
                       const pdl_shape *shape)
{
    int64_t plane = shape->dim[1] * shape->dim[2];
    printf("mean of %s (%s): %lldx%lldx%lld, per channel", path, split, (long long)shape->dim[0],
           (long long)shape->dim[1], (long long)shape->dim[2]);
    for (int64_t c = 0; c < shape->dim[0]; c++) {
        double sum = 0;
        for (int64_t i = 0; i < plane; i++)
            sum += mean[c * plane + i];
        printf(" %.3f", sum / (double)plane);
    }
    printf(shape->dim[0] == 3 ? " (R G B)\n" : "\n");
    char stored_path[PATH_SIZE];
    snprintf(stored_path, sizeof stored_path, "%s/mean.binaryproto", path);
    float *stored = NULL;
    pdl_shape stored_shape;
    struct stat st;
    if (stat(stored_path, &st) != 0 || pdl_mean_load(stored_path, &stored, &stored_shape) != PDL_OK)
        return;
    if (pdl_shape_equal(shape, &stored_shape)) {
        double worst = 0;
        for (int64_t i = 0; i < pdl_shape_count(shape); i++)
            worst = fmax(worst, fabs(rint(mean[i]) - stored[i]));
        printf("%s: largest difference from the rounded mean %.0f\n", stored_path, worst);
    } else {
        printf("%s: a different shape\n", stored_path);
    }
    free(stored);
}

static int run_mean(int argc, char **argv)
{
    const char *cmd = "dataset mean", *path = NULL, *split = "train", *out = NULL;
    int threads = 0;
    bool quiet = false, write = false;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        int taken = split_option(cmd, argc, argv, &i, &split, &threads, &quiet);
        if (taken < 0)
            return 2;
        if (taken)
            continue;
        if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) {
            fputs(mean_usage, stdout);
            return 0;
        } else if (!strcmp(arg, "--write")) {
            write = true;
        } else if (!strcmp(arg, "--out")) {
            if (!(out = cli_value(cmd, argc, argv, &i)))
                return 2;
        } else if (!cli_positional(cmd, arg, (const char **[]){&path}, 1)) {
            return 2;
        }
    }
    if (!path || (write && out)) {
        fprintf(stderr, "pdl %s: give DATASET, and --write or --out (not both)\n", cmd);
        return 2;
    }
    if (write && !cli_is_dataset(path)) {
        fprintf(stderr, "pdl %s: --write needs a dataset folder; use --out FILE\n", cmd);
        return 2;
    }
    pdl_dataset *ds = NULL;
    float *mean = NULL;
    pdl_shape shape;
    display d;
    display_start(&d, quiet);
    int rc = 0;
    if (open_split(path, split, &ds) != PDL_OK ||
        pdl_dataset_mean(ds, threads, show_progress, &d, &mean, &shape) != PDL_OK)
        rc = -1;
    display_end(&d);
    if (rc) {
        rc = cli_fail(cmd, path);
        goto done;
    }
    print_mean(path, split, mean, &shape);
    char proto[PATH_SIZE], png[PATH_SIZE];
    snprintf(proto, sizeof proto, "%s/mean.binaryproto", path);
    snprintf(png, sizeof png, "%s/mean.png", path);
    if ((write || out) && pdl_mean_save(out ? out : proto, out ? NULL : png, mean, &shape) !=
                              PDL_OK)
        rc = cli_fail(cmd, "writing the mean");
    else if (write || out)
        printf("wrote %s%s%s\n", out ? out : proto, out ? "" : " and ", out ? "" : png);
done:
    free(mean);
    pdl_dataset_free(ds);
    return rc;
}

static int run_export(int argc, char **argv)
{
    const char *cmd = "dataset export", *path = NULL, *dir = NULL, *split = "train";
    int threads = 0;
    int64_t limit = 0;
    bool quiet = false;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i], *value = NULL;
        int taken = split_option(cmd, argc, argv, &i, &split, &threads, &quiet);
        if (taken < 0)
            return 2;
        if (taken)
            continue;
        if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) {
            fputs(export_usage, stdout);
            return 0;
        } else if (!strcmp(arg, "--limit")) {
            if (!(value = cli_value(cmd, argc, argv, &i)) ||
                !cli_parse_int(cmd, arg, value, 1, INT64_MAX, &limit))
                return 2;
        } else if (!cli_positional(cmd, arg, (const char **[]){&path, &dir}, 2)) {
            return 2;
        }
    }
    if (!path || !dir) {
        fprintf(stderr, "pdl %s: give DATASET and DIR\n", cmd);
        return 2;
    }
    pdl_dataset *ds = NULL;
    int64_t written = 0;
    display d;
    display_start(&d, quiet);
    pdl_status status = open_split(path, split, &ds);
    if (status == PDL_OK)
        status = pdl_dataset_export(ds, dir, limit, threads, show_progress, &d, &written);
    display_end(&d);
    int rc = status == PDL_OK ? 0 : cli_fail(cmd, path);
    if (rc == 0)
        printf("wrote %lld PNG files to %s\n", (long long)written, dir);
    pdl_dataset_free(ds);
    return rc;
}

int cmd_dataset(int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*run)(int argc, char **argv);
    } verbs[] = {{"create", run_create}, {"import-idx", run_import}, {"info", run_info},
                 {"mean", run_mean},     {"export", run_export}};
    if (argc < 2) {
        fputs(usage_text, stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(usage_text, stdout);
        return 0;
    }
    for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++)
        if (!strcmp(argv[1], verbs[i].name))
            return verbs[i].run(argc - 1, argv + 1);
    fprintf(stderr, "pdl dataset: unknown command '%s'\n\n%s", argv[1], usage_text);
    return 2;
}
