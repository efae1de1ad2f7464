/* `pdl bench`: training-step and inference speed of a model (median/min/max over timed steps),
 * per-layer times with GFLOP/s and % of the machine's peak, peak RSS beside the predicted memory,
 * the loader's speed on a dataset (--data), the machine's peak alone (--peak) and the
 * convnet-benchmarks suite. Owns the command line, the
 * timed loops and the display; the measurements underneath are libpdl's (pdl/bench.h). */
#include "cli.h"
#include "cli_data.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#define SGD_MOMENTUM_FLOATS 1 /* the update timed below: SGD with momentum, one float of state */
#define SEED 1
#define PATH_SIZE 4096
#define DATA_SECONDS 3.0 /* --data: how long the loader is timed */

#define USAGE                                                                                  \
    "usage: pdl bench MODEL.cfg [--batch N] [--threads T] [--iterations K] [--json]\n"         \
    "                 [--no-layers] [--peak-gflops X] [--conv-algo NAME]\n"                    \
    "                 [--data DIR [--data-threads T]]\n"                                       \
    "       pdl bench --peak [--threads T] [--json]\n"                                         \
    "       pdl bench --suite convnet [--batch-scale F] [--models DIR] [--threads T]\n"        \
    "                 [--iterations K] [--json] [--peak-gflops X] [--conv-algo NAME]\n"

static int bad_usage(void)
{
    fprintf(stderr, USAGE "'pdl bench --help' explains the output and the options.\n");
    return 2;
}

static void help(void)
{
    fputs(USAGE
          "\n"
          "Times a model on random input (uniform in [-1, 1), labels 0, 1, ..., classes-1,\n"
          "parameters initialized from seed 1): one warm-up step, then K timed training steps\n"
          "(forward with the loss, backward, an SGD-with-momentum update and zeroing the\n"
          "gradients) and K timed inference forwards after one warm-up. Prints the median,\n"
          "min and max ms of each part, images/s (batch / median), GFLOP/s and the percentage\n"
          "of the machine's FP32 peak (a training step counts 3x the forward's FLOPs, an FMA\n"
          "2 FLOPs), the peak RSS after the training steps beside pdl_net_training_bytes.\n"
          "Then, in a separate pass so that per-layer timers do not inflate the totals, each\n"
          "layer's training forward and backward ms (median of K), GFLOP/s and % of peak,\n"
          "and the algorithm of each conv layer. GFLOP/s always counts the direct\n"
          "convolution's MACs, whatever the algorithm (Winograd does fewer multiplications).\n"
          "The peak is measured once at the start (about a second), unless --peak-gflops.\n"
          "\n"
          "options:\n"
          "  --batch N          batch size (default 32)\n"
          "  --threads T        compute threads (default: PDL_NUM_THREADS, else all cores)\n"
          "  --iterations K     timed steps (default 10)\n"
          "  --json             one JSON object per model and line (docs/benchmarks.md)\n"
          "  --no-layers        skip the per-layer pass and the peak measurement\n"
          "  --peak-gflops X    the 100% line in GFLOP/s instead of measuring it\n"
          "  --conv-algo NAME   auto, gemm, winograd, direct or reference for every conv layer\n"
          "                     where it applies (elsewhere, and by default: the layer's\n"
          "                     `algo` key, docs/model-files.md)\n"
          "  --peak             measure the machine alone: FP32 FMA GFLOP/s on 1 and on T\n"
          "                     threads (AVX-512F, AVX2+FMA or plain C: the best this CPU runs)\n"
          "                     and the bandwidth of a STREAM-style triad over 256 MB\n"
          "  --suite convnet    AlexNet, OverFeat-fast, VGG-A (vgg11), GoogLeNet, ResNet-18,\n"
          "                     ResNet-50 at the convnet-benchmarks batches (128, 128, 64, 128;\n"
          "                     ResNets 128 and 64) times --batch-scale; one row per model,\n"
          "                     each model in its own process; no per-layer pass\n"
          "  --batch-scale F    scale the suite's batches (default 1; 0.25 suits a small\n"
          "                     machine: 2 cores need minutes per model at full batches)\n"
          "  --models DIR       where the suite's .cfg files are (default: models)\n"
          "  --data DIR         also time the loader alone on the dataset folder's train_db\n"
          "                     (batches of --batch with the model's [data] augmentation,\n"
          "                     about 3 s): images/s beside the training step's, to see\n"
          "                     whether reading would keep up (docs/datasets.md)\n"
          "  --data-threads T   the loader's threads (default: [data] threads, else all cores)\n"
          "  --help             this text\n",
          stdout);
}

/* ---- arguments ------------------------------------------------------------------------------ */

typedef struct bench_args {
    const char *model, *suite, *models_dir;
    const char *conv_algo; /* --conv-algo, or NULL */
    int64_t batch, iterations;
    double batch_scale, peak_gflops; /* peak_gflops 0: measure */
    const char *data_dir;            /* --data: time the loader too */
    int64_t data_threads;
    bool batch_given, scale_given, json, no_layers, peak_only;
} bench_args;

/* 0 when parsed; else the exit code (0 after --help, 2 for a bad command line). */
static int parse_args(int argc, char **argv, bench_args *a, bool *done)
{
    *a = (bench_args){.models_dir = "models", .batch = 32, .iterations = 10, .batch_scale = 1.0};
    *done = false;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i], *value = NULL;
        if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) {
            help();
            *done = true;
            return 0;
        } else if (!strcmp(arg, "--json")) {
            a->json = true;
        } else if (!strcmp(arg, "--no-layers")) {
            a->no_layers = true;
        } else if (!strcmp(arg, "--peak")) {
            a->peak_only = true;
        } else if (!strcmp(arg, "--batch")) {
            if (!(value = cli_value("bench", argc, argv, &i)) ||
                !cli_parse_int("bench", arg, value, 1, 1 << 20, &a->batch))
                return bad_usage();
            a->batch_given = true;
        } else if (!strcmp(arg, "--iterations")) {
            if (!(value = cli_value("bench", argc, argv, &i)) ||
                !cli_parse_int("bench", arg, value, 1, 100000, &a->iterations))
                return bad_usage();
        } else if (!strcmp(arg, "--threads")) {
            int64_t threads;
            if (!(value = cli_value("bench", argc, argv, &i)) ||
                !cli_parse_int("bench", arg, value, 1, 256, &threads))
                return bad_usage();
            setenv("PDL_NUM_THREADS", value, 1);
        } else if (!strcmp(arg, "--conv-algo")) {
            if (!(value = cli_value("bench", argc, argv, &i)))
                return bad_usage();
            if (pdl_conv_algo_override(value) != PDL_OK) {
                fprintf(stderr, "pdl bench: --conv-algo: %s\n", pdl_last_error());
                return bad_usage();
            }
            a->conv_algo = value;
        } else if (!strcmp(arg, "--peak-gflops")) {
            if (!(value = cli_value("bench", argc, argv, &i)) ||
                !cli_parse_float("bench", arg, value, 1e-3, 1e9, &a->peak_gflops))
                return bad_usage();
        } else if (!strcmp(arg, "--batch-scale")) {
            if (!(value = cli_value("bench", argc, argv, &i)) ||
                !cli_parse_float("bench", arg, value, 1e-3, 64, &a->batch_scale))
                return bad_usage();
            a->scale_given = true;
        } else if (!strcmp(arg, "--data")) {
            if (!(a->data_dir = cli_value("bench", argc, argv, &i)))
                return bad_usage();
        } else if (!strcmp(arg, "--data-threads")) {
            if (!(value = cli_value("bench", argc, argv, &i)) ||
                !cli_parse_int("bench", arg, value, 1, 1024, &a->data_threads))
                return bad_usage();
        } else if (!strcmp(arg, "--suite")) {
            if (!(a->suite = cli_value("bench", argc, argv, &i)))
                return bad_usage();
        } else if (!strcmp(arg, "--models")) {
            if (!(a->models_dir = cli_value("bench", argc, argv, &i)))
                return bad_usage();
        } else if (arg[0] == '-' && arg[1] != '\0') {
            fprintf(stderr, "pdl bench: unknown option '%s'\n", arg);
            return bad_usage();
        } else if (a->model) {
            fprintf(stderr, "pdl bench: more than one model file ('%s')\n", arg);
            return bad_usage();
        } else {
            a->model = arg;
        }
    }
    int modes = (a->model != NULL) + (a->suite != NULL) + a->peak_only;
    if (modes != 1) {
        fprintf(stderr, modes ? "pdl bench: give one of MODEL.cfg, --peak and --suite\n"
                              : "pdl bench: needs a model file, --peak or --suite\n");
        return bad_usage();
    }
    if (a->suite && strcmp(a->suite, "convnet")) {
        fprintf(stderr, "pdl bench: unknown suite '%s' (known: convnet)\n", a->suite);
        return bad_usage();
    }
    if (a->batch_given && !a->model) {
        fprintf(stderr,
                "pdl bench: --batch goes with a model file (the suite has --batch-scale)\n");
        return bad_usage();
    }
    if (a->scale_given && !a->suite) {
        fprintf(stderr, "pdl bench: --batch-scale goes with --suite\n");
        return bad_usage();
    }
    if ((a->data_dir || a->data_threads) && !a->model) {
        fprintf(stderr, "pdl bench: --data and --data-threads go with a model file\n");
        return bad_usage();
    }
    return 0;
}

/* ---- measurements ------------------------------------------------------------------------- */

/* The 100% line: measured, given, or unknown (gflops 0). */
typedef struct peak_line {
    double gflops_given;
    bool measured;
    pdl_machine_peak_result machine;
} peak_line;

/* GFLOP/s of the peak for a run on `threads` threads; 0 when unknown. */
static double peak_for(const peak_line *p, int threads)
{
    if (p->gflops_given > 0)
        return p->gflops_given;
    if (!p->measured)
        return 0.0;
    return threads == 1 ? p->machine.gflops_1thread : p->machine.gflops_all;
}

/* The process's peak resident set since the last reset_peak_rss, in bytes: VmHWM of
 * /proc/self/status, else getrusage's ru_maxrss (which cannot be reset). */
static int64_t peak_rss_bytes(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long long kib = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmHWM: %lld kB", &kib) == 1)
            break;
    if (f)
        fclose(f);
    if (kib >= 0)
        return (int64_t)kib * 1024;
    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    return (int64_t)usage.ru_maxrss * 1024; /* Linux: KiB */
}

/* Lowers the high-water mark to the current RSS (Linux >= 4.0), so that a peak measured later
 * belongs to what runs from now on. Best effort. */
static void reset_peak_rss(void)
{
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (f) {
        fputs("5", f);
        fclose(f);
    }
}

typedef struct model_result {
    const char *path;
    const char *conv_algo;   /* --conv-algo, or NULL */
    char name[128];          /* the file name without .cfg: "resnet18" */
    int64_t batch, macs, params, peak_rss, predicted_bytes;
    int threads, iterations, n_layers;
    pdl_timing_stats train, forward, backward, update, infer; /* ms */
    double peak_gflops;      /* 0: unknown */
    pdl_layer_timing *layers; /* n_layers, or NULL without the per-layer pass */
    pdl_net *net;            /* for the layer names */
} model_result;

static void model_name(const char *path, char *buf, size_t size)
{
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    snprintf(buf, size, "%s", base);
    size_t len = strlen(buf);
    if (len > 4 && !strcmp(buf + len - 4, ".cfg"))
        buf[len - 4] = '\0';
}

/* Uniform in [-1, 1) from a 64-bit xorshift: the input needs no statistics, only values. */
static void fill_random(float *x, int64_t n)
{
    uint64_t s = 0x9E3779B97F4A7C15ull;
    for (int64_t i = 0; i < n; i++) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        x[i] = (float)((double)(s >> 40) / (double)(1 << 24) * 2.0 - 1.0);
    }
}

static pdl_timing_stats stats_ms(double *seconds, int n)
{
    pdl_timing_stats s = pdl_timing_stats_of(seconds, n);
    return (pdl_timing_stats){s.median * 1e3, s.min * 1e3, s.max * 1e3};
}

/* Loads the model at batch and runs every measurement into r; false after printing why. The
 * caller frees r->net and r->layers. */
static bool measure_model(const bench_args *a, const char *path, int64_t batch, bool layers,
                          model_result *r)
{
    const int k = (int)a->iterations;
    bool ok = false;
    float *x = NULL;
    int32_t *labels = NULL;
    double *t[5] = {NULL}; /* seconds per iteration: forward, backward, update, step, infer */
    pdl_optimizer *opt = NULL;
    reset_peak_rss();
    r->path = path;
    r->conv_algo = a->conv_algo;
    r->batch = batch;
    r->iterations = k;
    if (pdl_net_load(path, &r->net) != PDL_OK) {
        cli_fail("bench", "cannot load the model");
        return false;
    }
    pdl_net *net = r->net;
    if (pdl_net_set_batch(net, batch) != PDL_OK || pdl_net_init_params(net, SEED) != PDL_OK) {
        cli_fail("bench", path);
        return false;
    }
    model_name(path, r->name, sizeof r->name);
    r->threads = pdl_net_threads(net);
    r->params = pdl_net_param_count(net);
    r->n_layers = pdl_net_layer_count(net);
    for (int i = 0; i < r->n_layers; i++) {
        pdl_layer_info info;
        if (pdl_net_layer_info(net, i, &info) == PDL_OK)
            r->macs += info.macs;
    }
    r->predicted_bytes = pdl_net_training_bytes(net, SGD_MOMENTUM_FLOATS);

    const pdl_shape in = pdl_net_input_shape(net);
    const int64_t per_sample = pdl_shape_count(&in);
    x = malloc((size_t)(batch * per_sample) * sizeof *x); /* (N, C, H, W) */
    labels = malloc((size_t)batch * sizeof *labels);    /* (N) */
    for (int p = 0; p < 5; p++)
        t[p] = malloc((size_t)k * sizeof *t[p]);
    if (!x || !labels || !t[0] || !t[1] || !t[2] || !t[3] || !t[4]) {
        fprintf(stderr, "pdl bench: %s: out of memory for the input batch\n", path);
        goto done;
    }
    fill_random(x, batch * per_sample);
    for (int64_t i = 0; i < batch; i++)
        labels[i] = (int32_t)(i % pdl_net_classes(net));
    const pdl_optim_config sgd = {.kind = PDL_OPTIM_SGD, .momentum = 0.9f};
    if (pdl_optimizer_create(&sgd, r->params, &opt) != PDL_OK) {
        cli_fail("bench", "cannot create the optimizer");
        goto done;
    }
    const float lr = 0.01f;
    float *params = pdl_net_params(net);
    const float *grads = pdl_net_grads(net);

    /* Training: one warm-up step, then k timed ones. */
    pdl_net_zero_grad(net);
    for (int it = -1; it < k; it++) {
        double t0 = pdl_seconds();
        if (pdl_net_forward(net, x, labels, true, (uint64_t)(it + 1)) != PDL_OK)
            goto fail;
        double t1 = pdl_seconds();
        if (pdl_net_backward(net) != PDL_OK)
            goto fail;
        double t2 = pdl_seconds();
        pdl_optimizer_step(opt, params, grads, lr);
        pdl_net_zero_grad(net);
        double t3 = pdl_seconds();
        if (it >= 0) {
            t[0][it] = t1 - t0;
            t[1][it] = t2 - t1;
            t[2][it] = t3 - t2;
            t[3][it] = t3 - t0;
        }
    }
    r->peak_rss = peak_rss_bytes();
    r->forward = stats_ms(t[0], k);
    r->backward = stats_ms(t[1], k);
    r->update = stats_ms(t[2], k);
    r->train = stats_ms(t[3], k);

    /* Inference: one warm-up forward, then k timed ones. */
    for (int it = -1; it < k; it++) {
        double t0 = pdl_seconds();
        if (pdl_net_forward(net, x, NULL, false, 0) != PDL_OK)
            goto fail;
        if (it >= 0)
            t[4][it] = pdl_seconds() - t0;
    }
    r->infer = stats_ms(t[4], k);

    if (layers) {
        r->layers = calloc((size_t)r->n_layers, sizeof *r->layers);
        if (!r->layers) {
            fprintf(stderr, "pdl bench: %s: out of memory\n", path);
            goto done;
        }
        if (pdl_net_time_layers(net, k, r->layers) != PDL_OK)
            goto fail;
    }
    ok = true;
    goto done;
fail:
    cli_fail("bench", path);
done:
    for (int p = 0; p < 5; p++)
        free(t[p]);
    free(x);
    free(labels);
    pdl_optimizer_free(opt);
    return ok;
}

/* ---- output ------------------------------------------------------------------------------- */

static double gflops(double flops, double ms) { return ms > 0 ? flops / (ms * 1e6) : NAN; }

/* value / peak in percent; NaN when the peak is unknown. */
static double percent(double gf, double peak) { return peak > 0 ? 100.0 * gf / peak : NAN; }

static double train_flops(const model_result *r) { return 3.0 * 2.0 * (double)r->macs; }

static void json_stats(FILE *out, const char *key, const pdl_timing_stats *s)
{
    fprintf(out, ", \"%s\": {\"median\": ", key);
    cli_json_number(out, s->median);
    fprintf(out, ", \"min\": ");
    cli_json_number(out, s->min);
    fprintf(out, ", \"max\": ");
    cli_json_number(out, s->max);
    fputc('}', out);
}

static void json_field(FILE *out, const char *key, double value)
{
    fprintf(out, ", \"%s\": ", key);
    cli_json_number(out, value);
}

static void print_model_json(const model_result *r)
{
    const double peak = r->peak_gflops;
    const double train_gf = gflops(train_flops(r), r->train.median);
    const double infer_gf = gflops(2.0 * (double)r->macs, r->infer.median);
    printf("{\"model\": ");
    cli_json_string(stdout, r->name);
    printf(", \"file\": ");
    cli_json_string(stdout, r->path);
    printf(", \"batch\": %lld, \"threads\": %d, \"iterations\": %d", (long long)r->batch,
           r->threads, r->iterations);
    printf(", \"conv_algo\": ");
    if (r->conv_algo)
        cli_json_string(stdout, r->conv_algo);
    else
        printf("null");
    json_stats(stdout, "train_ms", &r->train);
    json_stats(stdout, "forward_ms", &r->forward);
    json_stats(stdout, "backward_ms", &r->backward);
    json_stats(stdout, "update_ms", &r->update);
    json_stats(stdout, "infer_ms", &r->infer);
    json_field(stdout, "train_images_per_s", (double)r->batch * 1e3 / r->train.median);
    json_field(stdout, "infer_images_per_s", (double)r->batch * 1e3 / r->infer.median);
    printf(", \"params\": %lld, \"macs\": %lld", (long long)r->params, (long long)r->macs);
    json_field(stdout, "train_gflops", train_gf);
    json_field(stdout, "infer_gflops", infer_gf);
    json_field(stdout, "peak_gflops", peak > 0 ? peak : NAN);
    json_field(stdout, "train_peak_percent", percent(train_gf, peak));
    json_field(stdout, "infer_peak_percent", percent(infer_gf, peak));
    printf(", \"peak_rss_bytes\": %lld, \"predicted_training_bytes\": %lld",
           (long long)r->peak_rss, (long long)r->predicted_bytes);
    printf(", \"layers\": ");
    if (!r->layers) {
        printf("null}\n");
        return;
    }
    putchar('[');
    const char *separator = "";
    for (int i = 0; i < r->n_layers; i++) {
        const pdl_layer_timing *t = &r->layers[i];
        pdl_layer_info info;
        if (pdl_net_layer_info(r->net, i, &info) != PDL_OK)
            continue;
        const double fwd_gf = gflops(2.0 * (double)t->macs, t->forward_ms);
        const double bwd_gf = gflops(2.0 * (double)t->backward_macs, t->backward_ms);
        printf("%s{\"index\": %d, \"name\": ", separator, i);
        separator = ", ";
        cli_json_string(stdout, info.name);
        printf(", \"type\": ");
        cli_json_string(stdout, info.type);
        printf(", \"algo\": ");
        if (info.algo)
            cli_json_string(stdout, info.algo);
        else
            printf("null");
        json_field(stdout, "forward_ms", t->forward_ms);
        json_field(stdout, "backward_ms", t->has_backward ? t->backward_ms : NAN);
        printf(", \"macs\": %lld, \"backward_macs\": %lld", (long long)t->macs,
               (long long)t->backward_macs);
        json_field(stdout, "forward_gflops", t->macs ? fwd_gf : NAN);
        json_field(stdout, "backward_gflops", t->backward_macs ? bwd_gf : NAN);
        json_field(stdout, "forward_peak_percent", t->macs ? percent(fwd_gf, peak) : NAN);
        json_field(stdout, "backward_peak_percent",
                   t->backward_macs ? percent(bwd_gf, peak) : NAN);
        putchar('}');
    }
    printf("]}\n");
}

static const char *mib(int64_t bytes, char *buf, size_t size)
{
    snprintf(buf, size, "%.1f MiB", (double)bytes / 1048576.0);
    return buf;
}

/* "12.3" or "-" for an unknown number, right-aligned in width. */
static const char *num(double value, const char *format, char *buf, size_t size)
{
    if (isfinite(value))
        snprintf(buf, size, format, value);
    else
        snprintf(buf, size, "-");
    return buf;
}

static void print_peak_text(const pdl_machine_peak_result *p)
{
    printf("FP32 FMA peak (%s): 1 thread %.1f GFLOP/s, %d threads %.1f GFLOP/s\n", p->isa,
           p->gflops_1thread, p->threads, p->gflops_all);
    printf("memory bandwidth (STREAM-style triad over 256 MB, %d threads): %.1f GB/s\n",
           p->threads, p->bandwidth_gbs);
    printf("measured in %.2f s\n", p->seconds);
}

static void print_peak_json(const pdl_machine_peak_result *p)
{
    printf("{\"isa\": ");
    cli_json_string(stdout, p->isa);
    printf(", \"threads\": %d", p->threads);
    json_field(stdout, "gflops_1thread", p->gflops_1thread);
    json_field(stdout, "gflops_all", p->gflops_all);
    json_field(stdout, "bandwidth_gbs", p->bandwidth_gbs);
    json_field(stdout, "seconds", p->seconds);
    printf("}\n");
}

static void print_peak_line(const peak_line *p)
{
    if (p->gflops_given > 0)
        printf("peak         %.1f GFLOP/s (given with --peak-gflops)\n", p->gflops_given);
    else if (p->measured)
        printf("peak         %.1f GFLOP/s on %d threads, %.1f on 1 (%s FMA loop); triad "
               "%.1f GB/s\n", p->machine.gflops_all, p->machine.threads,
               p->machine.gflops_1thread, p->machine.isa, p->machine.bandwidth_gbs);
}

static void print_model_text(const model_result *r, const peak_line *pl)
{
    char a[64], b[64], c[64];
    const double peak = r->peak_gflops;
    printf("model        %s (%s): batch %lld, %d thread%s, %d timed iterations after 1 "
           "warm-up\n", r->name, r->path, (long long)r->batch, r->threads,
           r->threads == 1 ? "" : "s", r->iterations);
    if (r->conv_algo)
        printf("conv         --conv-algo %s wherever it applies\n", r->conv_algo);
    print_peak_line(pl);
    printf("\n%-40s %10s %10s %10s\n", "ms per iteration", "median", "min", "max");
    const struct {
        const char *what;
        const pdl_timing_stats *s;
    } rows[] = {{"training step: forward (with the loss)", &r->forward},
                {"               backward", &r->backward},
                {"               update (SGD, zero grads)", &r->update},
                {"               total", &r->train},
                {"inference forward", &r->infer}};
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        printf("%-40s %10.3f %10.3f %10.3f\n", rows[i].what, rows[i].s->median, rows[i].s->min,
               rows[i].s->max);
    const double train_gf = gflops(train_flops(r), r->train.median);
    const double infer_gf = gflops(2.0 * (double)r->macs, r->infer.median);
    printf("\ntraining     %.1f images/s, %.1f GFLOP/s (3 x forward), %s%% of peak\n",
           (double)r->batch * 1e3 / r->train.median, train_gf,
           num(percent(train_gf, peak), "%.1f", a, sizeof a));
    printf("inference    %.1f images/s, %.1f GFLOP/s, %s%% of peak\n",
           (double)r->batch * 1e3 / r->infer.median, infer_gf,
           num(percent(infer_gf, peak), "%.1f", a, sizeof a));
    printf("memory       peak RSS %s after the training steps; predicted training step %s "
           "(ratio %.2f)\n", mib(r->peak_rss, a, sizeof a), mib(r->predicted_bytes, b, sizeof b),
           r->predicted_bytes ? (double)r->peak_rss / (double)r->predicted_bytes : NAN);
    if (!r->layers)
        return;
    int width = 5;
    for (int i = 0; i < r->n_layers; i++) {
        pdl_layer_info info;
        if (pdl_net_layer_info(r->net, i, &info) == PDL_OK && (int)strlen(info.name) > width)
            width = (int)strlen(info.name);
    }
    printf("\nper layer: a separate pass of training forward and backward, median of %d; "
           "GFLOP/s = 2 x MACs / time\n", r->iterations);
    printf("%4s  %-*s  %-12s %-9s %9s %8s %6s %9s %8s %6s\n", "#", width, "layer", "type", "algo",
           "fwd ms", "GFLOP/s", "%peak", "bwd ms", "GFLOP/s", "%peak");
    double sum_fwd = 0, sum_bwd = 0;
    for (int i = 0; i < r->n_layers; i++) {
        const pdl_layer_timing *t = &r->layers[i];
        pdl_layer_info info;
        if (pdl_net_layer_info(r->net, i, &info) != PDL_OK)
            continue;
        const double fwd_gf = t->macs ? gflops(2.0 * (double)t->macs, t->forward_ms) : NAN;
        const double bwd_gf =
            t->backward_macs ? gflops(2.0 * (double)t->backward_macs, t->backward_ms) : NAN;
        char d[32], e[32];
        printf("%4d  %-*s  %-12s %-9s %9.3f %8s %6s %9s %8s %6s\n", i, width, info.name,
               info.type, info.algo ? info.algo : "-", t->forward_ms,
               num(fwd_gf, "%.1f", a, sizeof a),
               num(percent(fwd_gf, peak), "%.1f", b, sizeof b),
               t->has_backward ? num(t->backward_ms, "%.3f", c, sizeof c) : "-",
               num(bwd_gf, "%.1f", d, sizeof d), num(percent(bwd_gf, peak), "%.1f", e, sizeof e));
        sum_fwd += t->forward_ms;
        sum_bwd += t->backward_ms;
    }
    printf("%4s  %-*s  %-12s %-9s %9.3f %8s %6s %9.3f\n", "", width, "sum", "", "", sum_fwd, "",
           "", sum_bwd);
}

/* ---- modes ------------------------------------------------------------------------------- */

static bool measure_peak(peak_line *p)
{
    if (pdl_machine_peak(&p->machine) != PDL_OK) {
        cli_fail("bench", "cannot measure the machine's peak");
        return false;
    }
    p->measured = true;
    return true;
}

static int run_peak(const bench_args *a)
{
    peak_line p = {0};
    if (!measure_peak(&p))
        return 1;
    if (a->json)
        print_peak_json(&p.machine);
    else
        print_peak_text(&p.machine);
    return 0;
}

static void print_suite_header(void)
{
    printf("%-14s %6s %26s %9s %6s %26s %9s %6s %11s %11s\n", "model", "batch",
           "train step ms", "img/s", "%peak", "inference ms", "img/s", "%peak", "peak RSS",
           "predicted");
}

static void print_suite_row(const model_result *r)
{
    char a[64], b[64], c[64], d[64], e[64], f[64];
    const double train_gf = gflops(train_flops(r), r->train.median);
    const double infer_gf = gflops(2.0 * (double)r->macs, r->infer.median);
    snprintf(a, sizeof a, "%.1f [%.1f-%.1f]", r->train.median, r->train.min, r->train.max);
    snprintf(b, sizeof b, "%.1f [%.1f-%.1f]", r->infer.median, r->infer.min, r->infer.max);
    printf("%-14s %6lld %26s %9.1f %6s %26s %9.1f %6s %11s %11s\n", r->name, (long long)r->batch,
           a, (double)r->batch * 1e3 / r->train.median,
           num(percent(train_gf, r->peak_gflops), "%.1f", c, sizeof c), b,
           (double)r->batch * 1e3 / r->infer.median,
           num(percent(infer_gf, r->peak_gflops), "%.1f", d, sizeof d),
           mib(r->peak_rss, e, sizeof e), mib(r->predicted_bytes, f, sizeof f));
}

/* Times the loader on --data at the model's batch and prints its images/s beside the training
 * step's (text, or one more JSON line); false after printing why. */
static bool bench_data(const bench_args *a, const model_result *r)
{
    double images_per_s, train_per_s = (double)r->batch * 1e3 / r->train.median;
    int threads;
    if (!cli_measure_loader("bench", a->data_dir, r->net, r->batch, (int)a->data_threads,
                            DATA_SECONDS, &images_per_s, &threads))
        return false;
    if (a->json) {
        printf("{\"data\": ");
        cli_json_string(stdout, a->data_dir);
        printf(", \"model\": ");
        cli_json_string(stdout, r->name);
        printf(", \"batch\": %lld, \"threads\": %d", (long long)r->batch, threads);
        json_field(stdout, "images_per_s", images_per_s);
        json_field(stdout, "train_images_per_s", train_per_s);
        printf("}\n");
    } else {
        printf("\ndata: %s/train_db read and augmented at %.0f images/s on %d threads (the "
               "training step takes %.0f images/s: %s)\n",
               a->data_dir, images_per_s, threads, train_per_s,
               images_per_s >= train_per_s ? "the loader keeps up"
                                           : "training would wait for data");
    }
    return true;
}

/* Measures and prints one model (a summary row when row is set); returns the exit code. */
static int run_model(const bench_args *a, const char *path, int64_t batch, const peak_line *p,
                     bool layers, bool row)
{
    model_result r;
    memset(&r, 0, sizeof r);
    int status = 1;
    if (measure_model(a, path, batch, layers, &r)) {
        r.peak_gflops = peak_for(p, r.threads);
        if (a->json)
            print_model_json(&r);
        else if (row)
            print_suite_row(&r);
        else
            print_model_text(&r, p);
        status = a->data_dir && !row && !bench_data(a, &r) ? 1 : 0;
    }
    if (fflush(stdout) != 0) {
        perror("pdl bench: writing the output");
        status = 1;
    }
    free(r.layers);
    pdl_net_free(r.net);
    return status;
}

typedef struct suite_model {
    const char *file;  /* in --models DIR */
    int64_t batch;     /* convnet-benchmarks' batch (the ResNets: ours) */
} suite_model;

static const suite_model convnet_suite[] = {
    {"alexnet.cfg", 128},  {"overfeat_fast.cfg", 128}, {"vgg11.cfg", 64},
    {"googlenet.cfg", 128}, {"resnet18.cfg", 128},      {"resnet50.cfg", 64},
};

/* Each model runs in a child process, so that its peak RSS is its own. */
static int run_suite(const bench_args *a, const peak_line *p)
{
    int failed = 0;
    const size_t n = sizeof convnet_suite / sizeof convnet_suite[0];
    if (!a->json) {
        printf("convnet suite: batch scale %g, %d timed iterations after 1 warm-up\n",
               a->batch_scale, (int)a->iterations);
        print_peak_line(p);
        print_suite_header();
    }
    for (size_t m = 0; m < n; m++) {
        char path[PATH_SIZE];
        snprintf(path, sizeof path, "%s/%s", a->models_dir, convnet_suite[m].file);
        int64_t batch = llround((double)convnet_suite[m].batch * a->batch_scale);
        if (batch < 1)
            batch = 1;
        fflush(stdout);
        pid_t pid = fork();
        if (pid == 0)
            _exit(run_model(a, path, batch, p, false, true));
        int status = 1;
        if (pid < 0) {
            status = run_model(a, path, batch, p, false, true);
        } else {
            int wstatus = 0;
            if (waitpid(pid, &wstatus, 0) == pid && WIFEXITED(wstatus))
                status = WEXITSTATUS(wstatus);
            else
                fprintf(stderr, "pdl bench: %s: the measuring process died\n", path);
        }
        failed |= status != 0;
    }
    return failed ? 1 : 0;
}

int cmd_bench(int argc, char **argv)
{
    bench_args a;
    bool done;
    int code = parse_args(argc, argv, &a, &done);
    if (code || done)
        return code;
    if (a.peak_only)
        return run_peak(&a);
    peak_line p = {.gflops_given = a.peak_gflops};
    bool layers = a.model && !a.no_layers;
    if (p.gflops_given <= 0 && (layers || a.suite) && !measure_peak(&p))
        return 1;
    if (a.suite)
        return run_suite(&a, &p);
    return run_model(&a, a.model, a.batch, &p, layers, false);
}
