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
#define DATA_WAIT_WARN 0.05            /* warn when an epoch waits for data longer than this */

static const char usage_text[] =
    "usage: pdl train MODEL.cfg [options]\n"
    "\n"
    "Trains MODEL.cfg ([train] section for the hyper-parameters, [data] for augmentation) on\n"
    "a dataset folder or IDX image/label files.\n"
    "\n"
    "data (default: --data " CLI_DEFAULT_DATA_DIR "):\n"
    "  --data DIR               a dataset folder (pdl dataset create): train_db trains, val_db\n"
    "                           (else test_db) validates; or IDX files: train-images-idx3-ubyte\n"
    "                           [.gz], train-labels-idx1-ubyte[.gz] and t10k-* (validation)\n"
    "  --train-images F --train-labels F   explicit training files\n"
    "  --val-images F --val-labels F       explicit validation files (optional)\n"
    "hyper-parameters (override [train]):\n"
    "  --epochs N  --batch N  --lr X  --seed N\n"
    "  --set key=value          any [train] key, e.g. --set optimizer=adam, or data.KEY for\n"
    "                           a [data] key, e.g. --set data.mirror=1; repeatable\n"
    "  --data-threads N         threads reading samples ahead (default: [data] threads, else\n"
    "                           one per core)\n"
    "data-parallel (docs/distributed.md):\n"
    "  --workers N              N replicas in this process, each on its shard of every batch\n"
    "                           (the batch is split between them, not multiplied); under\n"
    "                           mpirun or srun each rank is one worker instead\n"
    "  --reduce tree|ring|mpi   how gradients are summed (default: ring; mpi under MPI)\n"
    "  --bucket-kb N            sum gradients in buckets of N KiB while backward runs (1024)\n"
    "  --lr-scale linear        lr (and min_lr) times batch / --lr-ref-batch (default 256):\n"
    "                           the linear scaling rule; pair it with --set warmup_iters=N\n"
    "run:\n"
    "  --out DIR                weights.safetensors, state.pdlstate, log.csv (default\n"
    "                           runs/<model name>)\n"
    "  --checkpoint-every N     also save every N optimizer steps\n"
    "  --checkpoint-epochs N    also save every N epochs\n"
    "  --resume                 continue the run saved in --out\n"
    "  --max-steps N            stop (with a checkpoint) after N optimizer steps in all\n"
    "  --threads N              compute threads (default: all cores)\n"
    "  --conv-algo NAME         auto, gemm, winograd, direct or reference for every conv layer\n"
    "                           where it applies (default: each layer's `algo` key)\n"
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
    pdl_dist_options dist; /* --workers, --reduce, --bucket-kb; the MPI job */
    bool lr_linear;        /* --lr-scale linear */
    int64_t lr_ref_batch;  /* --lr-ref-batch */
    int rank;              /* MPI rank: only rank 0 reports */
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
    {"--epochs", "epochs"}, {"--batch", "batch"},          {"--lr", "lr"},
    {"--seed", "seed"},     {"--data-threads", "data.threads"}};

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

/* The data-parallel flags: 1 when argv[*i] is one (its value taken), 0 when it is none, -1 for
 * a bad value (message printed). */
static int dist_flag(train_args *a, int argc, char **argv, int *i)
{
    const char *arg = argv[*i], *value;
    int64_t n;
    bool workers = !strcmp(arg, "--workers"), bucket = !strcmp(arg, "--bucket-kb");
    bool ref = !strcmp(arg, "--lr-ref-batch"), scale = !strcmp(arg, "--lr-scale");
    if (!workers && !bucket && !ref && !scale && strcmp(arg, "--reduce"))
        return 0;
    if (!(value = cli_value("train", argc, argv, i)))
        return -1;
    if (scale) {
        a->lr_linear = !strcmp(value, "linear");
        if (!a->lr_linear && strcmp(value, "none")) {
            fprintf(stderr, "pdl train: --lr-scale: expected linear or none, got '%s'\n", value);
            return -1;
        }
    } else if (!workers && !bucket && !ref) {
        if (pdl_reduce_algo_parse(value, &a->dist.reduce) != PDL_OK) {
            fprintf(stderr, "pdl train: --reduce: %s\n", pdl_last_error());
            return -1;
        }
    } else if (!cli_parse_int("train", arg, value, 1, workers ? 256 : INT32_MAX, &n)) {
        return -1;
    } else if (workers) {
        a->dist.workers = (int)n;
    } else if (bucket) {
        a->dist.bucket_bytes = n * 1024;
    } else {
        a->lr_ref_batch = n;
    }
    return 1;
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
            printf("\nMPI: %s\n", pdl_mpi_available()
                                      ? "on (mpirun -np N pdl train ..., srun pdl train ...)"
                                      : "off (this pdl was built without MPI)");
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
        int dist = dist_flag(a, argc, argv, &i);
        if (dist) {
            if (dist < 0)
                return 2;
        } else if (!strcmp(arg, "--set")) {
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
        } else if (!strcmp(arg, "--conv-algo")) {
            if (!(value = cli_value("train", argc, argv, &i)))
                return 2;
            if (pdl_conv_algo_override(value) != PDL_OK) {
                fprintf(stderr, "pdl train: --conv-algo: %s\n", pdl_last_error());
                return 2;
            }
        } else if (!strcmp(arg, "--resume")) {
            a->resume = true;
        } else if (!strcmp(arg, "--quiet")) {
            a->quiet = true;
        } else if (!cli_positional("train", arg, (const char **[]){&a->model}, 1)) {
            return 2;
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
static bool open_data(const train_args *a, const pdl_net *net, const pdl_data_config *data,
                      pdl_data_source **train, pdl_data_source **val)
{
    static char paths[4][PATH_SIZE];
    const char *ti = a->train_images, *tl = a->train_labels;
    const char *vi = a->val_images, *vl = a->val_labels;
    if (!ti && a->data_dir && cli_is_dataset(a->data_dir))
        return cli_open_train_val(a->data_dir, data, net, train, val);
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
    if (e->data_share > DATA_WAIT_WARN) {
        close_line(d);
        fprintf(stderr,
                "pdl train: warning: epoch %lld waited for data %.1f%% of the time; more "
                "reader threads (--data-threads, [data] threads) or a lighter augmentation "
                "would help\n",
                (long long)e->epoch + 1, 100 * e->data_share);
    }
}

static void on_log(pdl_log_level level, const char *message, void *user)
{
    display *d = user;
    close_line(d);
    fprintf(stderr, "pdl train: %s%s\n", level >= PDL_LOG_WARN ? "warning: " : "", message);
}

/* The [train] and [data] sections with the command-line overrides applied in order ("data."
 * keys go to [data]); returns 0, or the exit code: 1 for a bad section, 2 for a bad override. */
static int make_config(const train_args *a, pdl_net *net, pdl_train_config *cfg,
                       pdl_data_config *data)
{
    if (pdl_train_config_from_text(pdl_net_source_text(net), pdl_net_source_name(net), cfg) !=
        PDL_OK)
        return cli_fail("train", "bad [train] section");
    if (!cli_data_config("train", net, data))
        return 1;
    for (int i = 0; i < a->n_overrides; i++)
        if ((strncmp(a->keys[i], "data.", 5)
                 ? pdl_train_config_set(cfg, a->keys[i], a->values[i])
                 : pdl_data_config_set(data, a->keys[i] + 5, a->values[i])) != PDL_OK) {
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
    if (status == PDL_ERR_INTERRUPTED && a->rank != 0)
        return 130;
    if (status == PDL_ERR_INTERRUPTED) {
        fprintf(stderr,
                "pdl train: %s; state saved to '%s'\nresume with: pdl train %s --out %s "
                "--resume (and the same data and hyper-parameter options)\n",
                pdl_last_error(), o->state_path, a->model, a->out);
        return 130;
    }
    if (status != PDL_OK)
        return cli_fail("train", "training failed");
    if (a->rank != 0)
        return 0;
    if (a->max_steps && a->max_steps < train->count / o->config.batch * o->config.epochs)
        fprintf(stderr, "pdl train: stopped after --max-steps %lld; continue with --resume\n",
                (long long)a->max_steps);
    fprintf(stderr, "pdl train: weights in '%s'\n", o->weights_path);
    return 0;
}

/* Joins the MPI job when an MPI launcher (mpirun, srun) started this process; a build without
 * MPI refuses more than one process (each would train alone). Ranks other than 0 print only
 * their errors. false: message printed. */
static bool start_mpi(train_args *a, pdl_comm **comm)
{
    int launched = pdl_mpi_launch_size();
    *comm = NULL;
    if (launched == 0 || (launched == 1 && !pdl_mpi_available()))
        return true;
    if (!pdl_mpi_available()) {
        fprintf(stderr, "pdl train: started as one of %d processes (mpirun, srun), but this pdl "
                        "was built without MPI: each would train alone\n", launched);
        return false;
    }
    if (pdl_mpi_init(comm) != PDL_OK) {
        cli_fail("train", "cannot start MPI");
        return false;
    }
    a->dist.comm = *comm;
    a->rank = pdl_comm_rank(*comm);
    a->quiet = a->quiet || a->rank != 0;
    return true;
}

/* Leaves the MPI job: after a failure (this rank printed why) the whole job ends, so that no
 * rank waits for this one forever. Returns rc. */
static int finish_mpi(pdl_comm *comm, int rc)
{
    if (comm && rc != 0 && rc != 130 && pdl_comm_size(comm) > 1)
        pdl_mpi_abort(comm, rc);
    pdl_mpi_finalize(comm);
    return rc;
}

/* --lr-scale linear. false: message printed. */
static bool scale_lr(const train_args *a, pdl_train_config *c)
{
    int64_t ref = a->lr_ref_batch ? a->lr_ref_batch : 256;
    float lr = c->schedule.base_lr;
    if (pdl_lr_scale_linear(c, ref) != PDL_OK) {
        cli_fail("train", "--lr-scale");
        return false;
    }
    if (!a->quiet)
        fprintf(stderr, "pdl train: linear scaling rule: lr %g x batch %lld / %lld = %g\n",
                (double)lr, (long long)c->batch, (long long)ref, (double)c->schedule.base_lr);
    return true;
}

/* Where the workers' step time went. */
static void report_dist(const pdl_dist_stats *s)
{
    if (s->world < 2 || s->step_seconds <= 0)
        return;
    fprintf(stderr, "pdl train: %d workers (%s, %d gradient buckets): %lld steps, %.2f s in "
                    "steps; reducing %.2f s (%.1f%%), not overlapped with backward %.2f s "
                    "(%.1f%%)\n",
            s->world, pdl_reduce_algo_name(s->algo), s->buckets, (long long)s->steps,
            s->step_seconds, s->reduce_seconds, 100 * s->reduce_seconds / s->step_seconds,
            s->reduce_wait_seconds, 100 * s->reduce_wait_seconds / s->step_seconds);
}

int cmd_train(int argc, char **argv)
{
    train_args a = {0};
    int rc = parse_args(argc, argv, &a);
    if (rc)
        return rc < 0 ? 0 : rc == 2 ? usage_error() : rc;
    pdl_comm *comm = NULL;
    if (!start_mpi(&a, &comm))
        return 1;
    pdl_dist_stats stats = {0};
    pdl_net *net = NULL;
    pdl_data_source *train = NULL, *val = NULL;
    display d = {.tty = isatty(STDERR_FILENO), .quiet = a.quiet, .last_plain = now_s()};
    char out_dir[PATH_SIZE - 64], state_path[PATH_SIZE], weights_path[PATH_SIZE];
    pdl_train_options o = {0};
    pdl_data_config data;
    rc = 1;
    pdl_log_set_callback(on_log, &d, PDL_LOG_WARN);
    if (pdl_net_load(a.model, &net) != PDL_OK) {
        cli_fail("train", "cannot build the model");
        goto done;
    }
    rc = make_config(&a, net, &o.config, &data);
    if (rc)
        goto done;
    rc = 1;
    if (a.lr_linear && !scale_lr(&a, &o.config))
        goto done;
    if (!open_data(&a, net, &data, &train, &val))
        goto done;
    o.data_threads = data.threads;
    o.prefetch = data.prefetch;
    if (a.out && strlen(a.out) >= sizeof out_dir) {
        fprintf(stderr, "pdl train: --out path is too long\n");
        goto done;
    }
    if (a.out)
        snprintf(out_dir, sizeof out_dir, "%s", a.out);
    else
        default_out(a.model, out_dir, sizeof out_dir);
    a.out = out_dir;
    if (a.rank == 0 && (!cli_make_dirs("train", out_dir) || !(d.log = open_log(out_dir, a.resume))))
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
    a.dist.stats = &stats;
    o.dist = &a.dist;
    if (!a.quiet)
        fprintf(stderr, "pdl train: %s on '%s' (%lld images)%s%s%s, %s in '%s'\n", a.model,
                train->name, (long long)train->count, val ? ", validating on '" : "",
                val ? val->name : "", val ? "'" : "", a.resume ? "resuming" : "writing", out_dir);
    install_signals();
    rc = run_training(&a, net, train, val, &o, &d);
    if (rc == 0 && !a.quiet)
        report_dist(&stats);
done:
    if (d.log)
        fclose(d.log);
    free(d.results);
    pdl_log_set_callback(NULL, NULL, PDL_LOG_WARN);
    pdl_data_source_free(train);
    pdl_data_source_free(val);
    pdl_net_free(net);
    return finish_mpi(comm, rc);
}
