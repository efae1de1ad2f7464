/* pdl train: trains a model file on IDX data with a progress bar, checkpoints, Ctrl-C handling,
 * resume, a CSV log and a result table. Owns the command line and the display only; the loop
 * itself is pdl_train (src/train/trainer.c). */
#include "cli.h"
#include "cli_data.h"
#include "progress.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_OVERRIDES 64
#define PATH_SIZE 4096
#define PLAIN_PROGRESS_INTERVAL_S 30.0 /* progress lines when stderr is not a terminal */

static const char usage_text[] =
    "usage: pdl train MODEL.cfg [options]\n"
    "\n"
    "Trains MODEL.cfg ([train] section for the hyper-parameters) on IDX image/label files.\n"
    "\n"
    "data (default: --data " CLI_DEFAULT_DATA_DIR "):\n"
    "  --data DIR               train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz] and\n"
    "                           t10k-* (validation, when present) inside DIR\n"
    "  --train-images F --train-labels F   explicit training files\n"
    "  --val-images F --val-labels F       explicit validation files (optional)\n"
    "hyper-parameters (override [train]):\n"
    "  --epochs N  --batch N  --lr X  --seed N\n"
    "  --set key=value          any [train] key, e.g. --set optimizer=adam; repeatable\n"
    "run:\n"
    "  --out DIR                weights.safetensors, state.pdlstate, log.csv (default\n"
    "                           runs/<model name>)\n"
    "  --checkpoint-every N     also save every N optimizer steps\n"
    "  --checkpoint-epochs N    also save every N epochs\n"
    "  --resume                 continue the run saved in --out\n"
    "  --max-steps N            stop (with a checkpoint) after N optimizer steps in all\n"
    "  --threads N              compute threads (default: all cores)\n"
    "  --quiet                  no progress output\n"
    "  --help                   this text\n"
    "\n"
    "Ctrl-C stops cleanly with a checkpoint; --resume continues bit for bit.\n";

typedef struct train_args {
    const char *model;
    const char *data_dir;
    const char *train_images, *train_labels, *val_images, *val_labels;
    const char *out;
    /* [train] overrides in command-line order, and the flag each came from (for messages) */
    const char *keys[MAX_OVERRIDES], *values[MAX_OVERRIDES], *flags[MAX_OVERRIDES];
    int n_overrides;
    int64_t checkpoint_iters, checkpoint_epochs, max_steps;
    bool resume, quiet;
} train_args;

/* What the progress and epoch callbacks need. */
typedef struct display {
    bool tty, quiet;
    bool line_open;    /* a \r progress line is on the terminal */
    double last_plain; /* when the last plain progress line was printed */
    FILE *log;         /* log.csv */
    pdl_epoch_result *results;
    int n_results, cap_results;
    bool out_of_memory;
} display;

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int usage_error(void)
{
    fputs(usage_text, stderr);
    return 2;
}

static bool add_override(train_args *a, const char *flag, const char *key, const char *value)
{
    if (a->n_overrides == MAX_OVERRIDES) {
        fprintf(stderr, "pdl train: more than %d hyper-parameter overrides\n", MAX_OVERRIDES);
        return false;
    }
    a->flags[a->n_overrides] = flag;
    a->keys[a->n_overrides] = key;
    a->values[a->n_overrides++] = value;
    return true;
}

/* "--set key=value": splits in place (argv strings are writable). */
static bool add_set(train_args *a, char *text)
{
    char *eq = strchr(text, '=');
    if (!eq || eq == text) {
        fprintf(stderr, "pdl train: --set expects key=value, got '%s'\n", text);
        return false;
    }
    *eq = '\0';
    return add_override(a, "--set", text, eq + 1);
}

static const char *const override_flags[][2] = {
    {"--epochs", "epochs"}, {"--batch", "batch"}, {"--lr", "lr"}, {"--seed", "seed"}};

/* The field of a flag taking a positive count, or NULL. */
static int64_t *count_flag(train_args *a, const char *arg)
{
    if (!strcmp(arg, "--checkpoint-every"))
        return &a->checkpoint_iters;
    if (!strcmp(arg, "--checkpoint-epochs"))
        return &a->checkpoint_epochs;
    if (!strcmp(arg, "--max-steps"))
        return &a->max_steps;
    return NULL;
}

/* Parses argv; returns 0 to go on, -1 after --help, else the exit code. */
static int parse_args(int argc, char **argv, train_args *a)
{
    const cli_path_option paths[] = {{"--data", &a->data_dir},
                                     {"--train-images", &a->train_images},
                                     {"--train-labels", &a->train_labels},
                                     {"--val-images", &a->val_images},
                                     {"--val-labels", &a->val_labels},
                                     {"--out", &a->out}};
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) {
            fputs(usage_text, stdout);
            return -1;
        }
        int path = cli_match_path("train", paths, sizeof paths / sizeof paths[0], argc, argv, &i);
        if (path < 0)
            return 2;
        bool matched = path > 0;
        for (size_t f = 0; !matched && f < sizeof override_flags / sizeof override_flags[0]; f++)
            if (!strcmp(arg, override_flags[f][0])) {
                matched = true;
                const char *value = cli_value("train", argc, argv, &i);
                if (!value || !add_override(a, arg, override_flags[f][1], value))
                    return 2;
            }
        if (matched)
            continue;
        const char *value = NULL;
        int64_t *count = NULL;
        if (!strcmp(arg, "--set")) {
            if (!(value = cli_value("train", argc, argv, &i)) || !add_set(a, argv[i]))
                return 2;
        } else if ((count = count_flag(a, arg))) {
            if (!(value = cli_value("train", argc, argv, &i)) ||
                !cli_parse_int("train", arg, value, 1, INT64_MAX, count))
                return 2;
        } else if (!strcmp(arg, "--threads")) {
            int64_t threads;
            if (!(value = cli_value("train", argc, argv, &i)) ||
                !cli_parse_int("train", arg, value, 1, 1024, &threads))
                return 2;
            setenv("PDL_NUM_THREADS", value, 1);
        } else if (!strcmp(arg, "--resume")) {
            a->resume = true;
        } else if (!strcmp(arg, "--quiet")) {
            a->quiet = true;
        } else if (arg[0] == '-' || a->model) {
            fprintf(stderr, "pdl train: unexpected argument '%s'\n", arg);
            return 2;
        } else {
            a->model = arg;
        }
    }
    bool explicit_files = a->train_images || a->train_labels || a->val_images || a->val_labels;
    if (!a->model) {
        fprintf(stderr, "pdl train: no model file given\n");
        return 2;
    }
    if (explicit_files && a->data_dir) {
        fprintf(stderr, "pdl train: give --data or the explicit --train-*/--val-* files, not "
                        "both\n");
        return 2;
    }
    if (explicit_files &&
        (!a->train_images || !a->train_labels || !a->val_images != !a->val_labels)) {
        fprintf(stderr, "pdl train: --train-images and --train-labels go together, and so do "
                        "--val-images and --val-labels\n");
        return 2;
    }
    return 0;
}

/* Opens the training and (when there is one) validation sources. false: message printed. */
static bool open_data(const train_args *a, pdl_data_source **train, pdl_data_source **val)
{
    static char paths[4][PATH_SIZE];
    const char *ti = a->train_images, *tl = a->train_labels;
    const char *vi = a->val_images, *vl = a->val_labels;
    if (!ti) {
        const char *dir = a->data_dir ? a->data_dir : CLI_DEFAULT_DATA_DIR;
        if (!cli_idx_find("train", dir, "train", paths[0], paths[1], PATH_SIZE))
            return false;
        ti = paths[0];
        tl = paths[1];
        if (cli_idx_find(NULL, dir, "t10k", paths[2], paths[3], PATH_SIZE)) {
            vi = paths[2];
            vl = paths[3];
        }
    }
    if (pdl_idx_open(ti, tl, train) != PDL_OK) {
        cli_fail("train", "cannot open the training data");
        return false;
    }
    if (vi && pdl_idx_open(vi, vl, val) != PDL_OK) {
        cli_fail("train", "cannot open the validation data");
        return false;
    }
    return true;
}

/* mkdir -p */
static bool make_dirs(const char *path)
{
    char buf[PATH_SIZE];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1;; p++) {
        bool end = *p == '\0';
        if (*p == '/' || end) {
            *p = '\0';
            if (mkdir(buf, 0777) != 0 && errno != EEXIST) {
                fprintf(stderr, "pdl train: cannot create '%s': %s\n", buf, strerror(errno));
                return false;
            }
            if (end)
                return true;
            *p = '/';
        }
    }
}

static void close_line(display *d)
{
    if (d->line_open)
        fputc('\n', stderr);
    d->line_open = false;
}

static void on_progress(const pdl_train_progress *p, void *user)
{
    display *d = user;
    char line[512];
    if (d->quiet)
        return;
    if (d->tty) {
        progress_line(p, 30, line, sizeof line);
        fprintf(stderr, "\r%s\033[K", line);
        d->line_open = true;
    } else if (now_s() - d->last_plain >= PLAIN_PROGRESS_INTERVAL_S) {
        d->last_plain = now_s();
        progress_line(p, 0, line, sizeof line);
        fprintf(stderr, "%s\n", line);
    }
}

static void on_epoch(const pdl_epoch_result *e, void *user)
{
    display *d = user;
    if (d->n_results == d->cap_results) {
        int cap = d->cap_results ? 2 * d->cap_results : 16;
        pdl_epoch_result *grown = realloc(d->results, (size_t)cap * sizeof *grown);
        if (!grown) {
            d->out_of_memory = true;
            return;
        }
        d->results = grown;
        d->cap_results = cap;
    }
    d->results[d->n_results++] = *e;
    if (d->log) {
        fprintf(d->log, "%lld,%.6g,%.6g,%.6g,%.6g,%.3f,%.1f\n", (long long)e->epoch + 1,
                (double)e->train_loss, (double)e->val_loss, (double)e->val_top1,
                (double)e->val_topk, e->seconds, e->images_per_s);
        fflush(d->log);
    }
    if (!d->quiet) {
        close_line(d);
        fprintf(stderr,
                "epoch %lld: train loss %.4f, val loss %.4f, val top-1 %.2f%%, %.1f s, "
                "%.0f images/s\n",
                (long long)e->epoch + 1, (double)e->train_loss, (double)e->val_loss,
                100 * (double)e->val_top1, e->seconds, e->images_per_s);
    }
}

static void on_log(pdl_log_level level, const char *message, void *user)
{
    display *d = user;
    close_line(d);
    fprintf(stderr, "pdl train: %s%s\n", level >= PDL_LOG_WARN ? "warning: " : "", message);
}

/* The [train] section with the command-line overrides applied in order; returns 0, or the exit
 * code: 1 for a bad [train] section, 2 for a bad override. */
static int make_config(const train_args *a, pdl_net *net, pdl_train_config *cfg)
{
    if (pdl_train_config_from_text(pdl_net_source_text(net), pdl_net_source_name(net), cfg) !=
        PDL_OK)
        return cli_fail("train", "bad [train] section");
    for (int i = 0; i < a->n_overrides; i++)
        if (pdl_train_config_set(cfg, a->keys[i], a->values[i]) != PDL_OK) {
            fprintf(stderr, "pdl train: %s %s%s%s: %s\n", a->flags[i],
                    strcmp(a->flags[i], "--set") ? "" : a->keys[i],
                    strcmp(a->flags[i], "--set") ? "" : "=", a->values[i], pdl_last_error());
            return 2;
        }
    return 0;
}

/* runs/<model file name without folder and extension> */
static void default_out(const char *model, char *out, size_t size)
{
    const char *base = strrchr(model, '/') ? strrchr(model, '/') + 1 : model;
    size_t len = strcspn(base, ".");
    snprintf(out, size, "runs/%.*s", (int)(len ? len : strlen(base)), base);
}

static FILE *open_log(const char *out_dir, bool resume)
{
    char path[PATH_SIZE + 16];
    snprintf(path, sizeof path, "%s/log.csv", out_dir);
    FILE *f = fopen(path, resume ? "a" : "w");
    if (!f) {
        fprintf(stderr, "pdl train: cannot write '%s': %s\n", path, strerror(errno));
        return NULL;
    }
    if (ftell(f) == 0)
        fputs("epoch,train_loss,val_loss,val_top1,val_topk,seconds,images_per_s\n", f);
    return f;
}

static void print_table(const display *d, int k)
{
    if (d->n_results == 0)
        return;
    printf("\n");
    progress_table_header(stdout, k);
    for (int i = 0; i < d->n_results; i++)
        progress_table_row(stdout, &d->results[i]);
}

static void install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESETHAND; /* a second Ctrl-C ends the process at once */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

/* Runs pdl_train and reports how it ended; returns the exit code. */
static int run_training(const train_args *a, pdl_net *net, pdl_data_source *train,
                        pdl_data_source *val, pdl_train_options *o, display *d)
{
    pdl_status status = pdl_train(net, train, val, o);
    close_line(d);
    print_table(d, o->config.topk);
    if (d->out_of_memory)
        fprintf(stderr, "pdl train: out of memory for the result table\n");
    if (status == PDL_ERR_INTERRUPTED) {
        fprintf(stderr,
                "pdl train: %s; state saved to '%s'\nresume with: pdl train %s --out %s "
                "--resume (and the same data and hyper-parameter options)\n",
                pdl_last_error(), o->state_path, a->model, a->out);
        return 130;
    }
    if (status != PDL_OK)
        return cli_fail("train", "training failed");
    if (a->max_steps && a->max_steps < train->count / o->config.batch * o->config.epochs)
        fprintf(stderr, "pdl train: stopped after --max-steps %lld; continue with --resume\n",
                (long long)a->max_steps);
    fprintf(stderr, "pdl train: weights in '%s'\n", o->weights_path);
    return 0;
}

int cmd_train(int argc, char **argv)
{
    train_args a = {0};
    int rc = parse_args(argc, argv, &a);
    if (rc)
        return rc < 0 ? 0 : rc == 2 ? usage_error() : rc;
    pdl_net *net = NULL;
    pdl_data_source *train = NULL, *val = NULL;
    display d = {.tty = isatty(STDERR_FILENO), .quiet = a.quiet, .last_plain = now_s()};
    char out_dir[PATH_SIZE - 64], state_path[PATH_SIZE], weights_path[PATH_SIZE];
    pdl_train_options o = {0};
    rc = 1;
    pdl_log_set_callback(on_log, &d, PDL_LOG_WARN);
    if (pdl_net_load(a.model, &net) != PDL_OK) {
        cli_fail("train", "cannot build the model");
        goto done;
    }
    rc = make_config(&a, net, &o.config);
    if (rc)
        goto done;
    rc = 1;
    if (!open_data(&a, &train, &val))
        goto done;
    if (a.out && strlen(a.out) >= sizeof out_dir) {
        fprintf(stderr, "pdl train: --out path is too long\n");
        goto done;
    }
    if (a.out)
        snprintf(out_dir, sizeof out_dir, "%s", a.out);
    else
        default_out(a.model, out_dir, sizeof out_dir);
    a.out = out_dir;
    if (!make_dirs(out_dir) || !(d.log = open_log(out_dir, a.resume)))
        goto done;
    snprintf(state_path, sizeof state_path, "%s/state.pdlstate", out_dir);
    snprintf(weights_path, sizeof weights_path, "%s/weights.safetensors", out_dir);
    o.state_path = state_path;
    o.weights_path = weights_path;
    o.checkpoint_every_iters = a.checkpoint_iters;
    o.checkpoint_every_epochs =
        (int)(a.checkpoint_epochs < INT_MAX ? a.checkpoint_epochs : INT_MAX);
    o.resume = a.resume;
    o.max_steps = a.max_steps;
    o.on_progress = on_progress;
    o.on_epoch = on_epoch;
    o.user = &d;
    o.stop = (volatile int *)&stop_requested;
    if (!a.quiet)
        fprintf(stderr, "pdl train: %s on '%s' (%lld images)%s%s%s, %s in '%s'\n", a.model,
                train->name, (long long)train->count, val ? ", validating on '" : "",
                val ? val->name : "", val ? "'" : "", a.resume ? "resuming" : "writing", out_dir);
    install_signals();
    rc = run_training(&a, net, train, val, &o, &d);
done:
    if (d.log)
        fclose(d.log);
    free(d.results);
    pdl_log_set_callback(NULL, NULL, PDL_LOG_WARN);
    pdl_data_source_free(train);
    pdl_data_source_free(val);
    pdl_net_free(net);
    return rc;
}
