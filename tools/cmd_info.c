/* `pdl info`: a model's layers, shapes, parameters, multiply-adds, memory and receptive fields
 * as a table or JSON, and `--compare` of two models side by side. Uses only the public API;
 * the figures themselves come from the library (pdl_net_layer_info, pdl_net_*_bytes). */
#include "cli.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define SGD_MOMENTUM_FLOATS 1 /* optimizer state per parameter assumed for training memory */

#define USAGE                                                                                  \
    "usage: pdl info MODEL.cfg [--batch N] [--json] [--conv-algo NAME]\n"                      \
    "       pdl info --compare A.cfg B.cfg [--batch N] [--json] [--conv-algo NAME]\n"

/* A bad command line: what is wrong was printed; the synopsis follows on stderr, exit 2. */
static int bad_usage(void)
{
    fprintf(stderr, USAGE "'pdl info --help' explains the output and the options.\n");
    return 2;
}

static void help(void)
{
    printf(USAGE
           "\n"
           "Shows each layer of a model: the algorithm of a conv layer (gemm, 1x1-gemm: GEMM\n"
           "without im2col, winograd, direct, reference), its output shape (C x H x W), trainable\n"
           "parameters, multiply-adds (MACs) of one forward pass, activation memory (fp32) and\n"
           "receptive field in input pixels; then the totals and the memory of a training step\n"
           "(assuming SGD with momentum: parameters, gradients, momentum, activations and their\n"
           "gradients, saved state, workspace) and of an inference, at batch N.\n"
           "--compare shows two models side by side: weights, MACs, receptive field of the\n"
           "output, output shape, memory, and the ratios B/A.\n"
           "\n"
           "Receptive field: rf = rf_in + (kernel - 1) * jump_in, jump = jump_in * stride, from\n"
           "1 at the input; merges take the largest input; fc and flatten see their whole input.\n"
           "\n"
           "options:\n"
           "  --batch N          batch size for MACs and memory (default 1)\n"
           "  --json             JSON instead of text\n"
           "  --compare          compare two models\n"
           "  --conv-algo NAME   auto, gemm, winograd, direct or reference for every conv layer\n"
           "                     where it applies (elsewhere, and by default: the layer's\n"
           "                     `algo` key, docs/model-files.md)\n"
           "  --help             this text\n");
}

/* ---- numbers as text --------------------------------------------------------------------- */

/* 11689512 -> "11,689,512" */
static const char *grouped(int64_t value, char *buf, size_t size)
{
    char digits[32];
    int n = snprintf(digits, sizeof digits, "%lld", (long long)(value < 0 ? -value : value));
    size_t o = 0;
    if (value < 0 && o + 1 < size)
        buf[o++] = '-';
    for (int i = 0; i < n && o + 1 < size; i++) {
        if (i > 0 && (n - i) % 3 == 0 && o + 1 < size)
            buf[o++] = ',';
        if (o + 1 < size)
            buf[o++] = digits[i];
    }
    buf[o] = '\0';
    return buf;
}

/* 118013952 -> "118.0 M" */
static const char *si(double value, char *buf, size_t size)
{
    if (value < 1e3)
        snprintf(buf, size, "%.0f", value);
    else if (value < 1e6)
        snprintf(buf, size, "%.1f K", value / 1e3);
    else if (value < 1e9)
        snprintf(buf, size, "%.1f M", value / 1e6);
    else
        snprintf(buf, size, "%.2f G", value / 1e9);
    return buf;
}

static const char *bytes_text(int64_t bytes, char *buf, size_t size)
{
    double b = (double)bytes;
    if (b < 1024)
        snprintf(buf, size, "%lld B", (long long)bytes);
    else if (b < 1024.0 * 1024)
        snprintf(buf, size, "%.1f KiB", b / 1024);
    else if (b < 1024.0 * 1024 * 1024)
        snprintf(buf, size, "%.1f MiB", b / (1024.0 * 1024));
    else
        snprintf(buf, size, "%.2f GiB", b / (1024.0 * 1024 * 1024));
    return buf;
}

/* The shape without its batch dimension: "64x56x56", "1000". */
static const char *sample_shape(const pdl_shape *s, int first, char *buf, size_t size)
{
    size_t o = 0;
    buf[0] = '\0';
    for (int i = first; i < s->ndim && o < size; i++)
        o += (size_t)snprintf(buf + o, size - o, i > first ? "x%lld" : "%lld",
                              (long long)s->dim[i]);
    return buf;
}

static void json_dims(FILE *out, const pdl_shape *s)
{
    fputc('[', out);
    for (int i = 0; i < s->ndim; i++)
        fprintf(out, i ? ", %lld" : "%lld", (long long)s->dim[i]);
    fputc(']', out);
}

/* A ratio b/a as JSON (null when a is 0). */
static void json_ratio(FILE *out, double a, double b)
{
    if (a == 0)
        fprintf(out, "null");
    else
        fprintf(out, "%.6g", b / a);
}

/* ---- one model ----------------------------------------------------------------------------- */

typedef struct summary {
    const char *file;
    pdl_shape input, output;
    int classes, layers;
    int64_t params, buffers, macs, activation_bytes, training_bytes, inference_bytes;
    int rf_h, rf_w;
} summary;

static summary summarize(pdl_net *net, const char *file)
{
    summary s = {.file = file,
                 .input = pdl_net_input_shape(net),
                 .output = pdl_net_output_shape(net),
                 .classes = pdl_net_classes(net),
                 .layers = pdl_net_layer_count(net),
                 .params = pdl_net_param_count(net),
                 .buffers = pdl_net_buffer_count(net),
                 .training_bytes = pdl_net_training_bytes(net, SGD_MOMENTUM_FLOATS),
                 .inference_bytes = pdl_net_inference_bytes(net)};
    for (int i = 0; i < s.layers; i++) {
        pdl_layer_info info;
        if (pdl_net_layer_info(net, i, &info) != PDL_OK)
            continue;
        s.macs += info.macs;
        s.activation_bytes += info.activation_bytes;
        s.rf_h = info.rf_h;
        s.rf_w = info.rf_w;
    }
    return s;
}

/* Weights per C^2 with C the input channels: the unit of the slides' comparisons. */
static double weights_per_c2(const summary *s)
{
    double c = (double)s->input.dim[0];
    return (double)s->params / (c * c);
}

static void print_table(pdl_net *net, const summary *s, int64_t batch)
{
    char a[64], b[64], c[64], d[64];
    int width = 5;
    for (int i = 0; i < s->layers; i++) {
        pdl_layer_info info;
        if (pdl_net_layer_info(net, i, &info) == PDL_OK && (int)strlen(info.name) > width)
            width = (int)strlen(info.name);
    }
    printf("model %s: input %s, %d classes, batch %lld\n\n", s->file,
           sample_shape(&s->input, 0, a, sizeof a), s->classes, (long long)batch);
    printf("%4s  %-*s  %-12s  %-9s  %-14s  %12s  %10s  %10s  %9s\n", "#", width, "layer", "type",
           "algo", "output", "params", "MACs", "memory", "RF");
    for (int i = 0; i < s->layers; i++) {
        pdl_layer_info info;
        if (pdl_net_layer_info(net, i, &info) != PDL_OK)
            continue;
        char rf[32];
        snprintf(rf, sizeof rf, "%dx%d", info.rf_h, info.rf_w);
        printf("%4d  %-*s  %-12s  %-9s  %-14s  %12s  %10s  %10s  %9s\n", i, width, info.name,
               info.type, info.algo ? info.algo : "-",
               sample_shape(&info.out_shape, 1, a, sizeof a), grouped(info.params, b, sizeof b),
               si((double)info.macs, c, sizeof c),
               bytes_text(info.activation_bytes, d, sizeof d), rf);
    }
    printf("\nparameters   %s trainable (%s as fp32), %s in buffers\n",
           grouped(s->params, a, sizeof a), bytes_text(4 * s->params, b, sizeof b),
           grouped(s->buffers, c, sizeof c));
    printf("MACs         %s per forward pass at batch %lld (%.3f GMACs)\n",
           grouped(s->macs, a, sizeof a), (long long)batch, (double)s->macs / 1e9);
    printf("activations  %s (fp32 layer outputs at batch %lld)\n",
           bytes_text(s->activation_bytes, a, sizeof a), (long long)batch);
    printf("memory       training step %s (SGD with momentum: parameters, gradients, momentum,\n"
           "             activations and their gradients, saved state, workspace); inference %s\n",
           bytes_text(s->training_bytes, a, sizeof a),
           bytes_text(s->inference_bytes, b, sizeof b));
    printf("output       %s, receptive field %dx%d input pixels\n",
           sample_shape(&s->output, 1, a, sizeof a), s->rf_h, s->rf_w);
}

static void json_summary_fields(FILE *out, const summary *s, const char *indent)
{
    fprintf(out, "%s\"model\": ", indent);
    cli_json_string(out, s->file);
    fprintf(out, ",\n%s\"input\": ", indent);
    json_dims(out, &s->input);
    fprintf(out, ",\n%s\"classes\": %d,\n%s\"output\": ", indent, s->classes, indent);
    json_dims(out, &s->output);
    fprintf(out,
            ",\n%s\"layer_count\": %d,\n%s\"params\": %lld,\n%s\"buffers\": %lld,\n"
            "%s\"macs\": %lld,\n%s\"gmacs\": %.6g,\n%s\"activation_bytes\": %lld,\n"
            "%s\"training_bytes\": %lld,\n%s\"training_optimizer\": \"sgd_momentum\",\n"
            "%s\"inference_bytes\": %lld,\n%s\"rf\": [%d, %d],\n%s\"weights_per_c2\": %.6g",
            indent, s->layers, indent, (long long)s->params, indent, (long long)s->buffers,
            indent, (long long)s->macs, indent, (double)s->macs / 1e9, indent,
            (long long)s->activation_bytes, indent, (long long)s->training_bytes, indent,
            indent, (long long)s->inference_bytes, indent, s->rf_h, s->rf_w, indent,
            weights_per_c2(s));
}

static void print_json(pdl_net *net, const summary *s, int64_t batch)
{
    printf("{\n  \"batch\": %lld,\n", (long long)batch);
    json_summary_fields(stdout, s, "  ");
    printf(",\n  \"layers\": [");
    for (int i = 0; i < s->layers; i++) {
        pdl_layer_info info;
        if (pdl_net_layer_info(net, i, &info) != PDL_OK)
            continue;
        printf("%s\n    {\"index\": %d, \"name\": ", i ? "," : "", i);
        cli_json_string(stdout, info.name);
        printf(", \"type\": ");
        cli_json_string(stdout, info.type);
        printf(", \"algo\": ");
        if (info.algo)
            cli_json_string(stdout, info.algo);
        else
            printf("null");
        printf(", \"line\": %d, \"inputs\": [", info.line);
        for (int k = 0; k < info.n_inputs; k++) {
            printf(k ? ", " : "");
            cli_json_string(stdout, info.inputs[k]);
        }
        printf("], \"output\": ");
        json_dims(stdout, &info.out_shape);
        printf(", \"params\": %lld, \"macs\": %lld, \"activation_bytes\": %lld, "
               "\"rf\": [%d, %d], \"jump\": [%d, %d]}",
               (long long)info.params, (long long)info.macs, (long long)info.activation_bytes,
               info.rf_h, info.rf_w, info.jump_h, info.jump_w);
    }
    printf("\n  ]\n}\n");
}

/* ---- two models ---------------------------------------------------------------------------- */

static void compare_row(const char *what, const char *a, const char *b, double ra, double rb)
{
    if (ra != 0 && !isnan(ra))
        printf("%-28s %-22s %-22s %.3f\n", what, a, b, rb / ra);
    else
        printf("%-28s %-22s %s\n", what, a, b);
}

static void print_compare(const summary *s)
{
    char a[64], b[64], ta[64], tb[64];
    const char *name_a = strrchr(s[0].file, '/') ? strrchr(s[0].file, '/') + 1 : s[0].file;
    const char *name_b = strrchr(s[1].file, '/') ? strrchr(s[1].file, '/') + 1 : s[1].file;
    snprintf(ta, sizeof ta, "A: %s", name_a);
    snprintf(tb, sizeof tb, "B: %s", name_b);
    printf("%-28s %-22s %-22s %s\n", "", ta, tb, "B/A");
    compare_row("input", sample_shape(&s[0].input, 0, a, sizeof a),
                sample_shape(&s[1].input, 0, b, sizeof b), NAN, NAN);
    compare_row("output", sample_shape(&s[0].output, 1, a, sizeof a),
                sample_shape(&s[1].output, 1, b, sizeof b), NAN, NAN);
    snprintf(a, sizeof a, "%d", s[0].layers);
    snprintf(b, sizeof b, "%d", s[1].layers);
    compare_row("layers", a, b, NAN, NAN);
    compare_row("weights (parameters)", grouped(s[0].params, a, sizeof a),
                grouped(s[1].params, b, sizeof b), (double)s[0].params, (double)s[1].params);
    snprintf(a, sizeof a, "%.2f (C = %lld)", weights_per_c2(&s[0]), (long long)s[0].input.dim[0]);
    snprintf(b, sizeof b, "%.2f (C = %lld)", weights_per_c2(&s[1]), (long long)s[1].input.dim[0]);
    compare_row("weights / C^2 (C: input)", a, b, NAN, NAN);
    compare_row("MACs", si((double)s[0].macs, a, sizeof a), si((double)s[1].macs, b, sizeof b),
                (double)s[0].macs, (double)s[1].macs);
    snprintf(a, sizeof a, "%dx%d", s[0].rf_h, s[0].rf_w);
    snprintf(b, sizeof b, "%dx%d", s[1].rf_h, s[1].rf_w);
    compare_row("receptive field (output)", a, b, (double)s[0].rf_h * s[0].rf_w,
                (double)s[1].rf_h * s[1].rf_w);
    compare_row("activations", bytes_text(s[0].activation_bytes, a, sizeof a),
                bytes_text(s[1].activation_bytes, b, sizeof b), (double)s[0].activation_bytes,
                (double)s[1].activation_bytes);
    compare_row("training memory (SGD mom.)", bytes_text(s[0].training_bytes, a, sizeof a),
                bytes_text(s[1].training_bytes, b, sizeof b), (double)s[0].training_bytes,
                (double)s[1].training_bytes);
    compare_row("inference memory", bytes_text(s[0].inference_bytes, a, sizeof a),
                bytes_text(s[1].inference_bytes, b, sizeof b), (double)s[0].inference_bytes,
                (double)s[1].inference_bytes);
}

static void print_compare_json(const summary *s, int64_t batch)
{
    printf("{\n  \"batch\": %lld,\n  \"models\": [\n", (long long)batch);
    for (int m = 0; m < 2; m++) {
        printf("    {\n");
        json_summary_fields(stdout, &s[m], "      ");
        printf("\n    }%s\n", m ? "" : ",");
    }
    printf("  ],\n  \"ratios_b_over_a\": {\"params\": ");
    json_ratio(stdout, (double)s[0].params, (double)s[1].params);
    printf(", \"macs\": ");
    json_ratio(stdout, (double)s[0].macs, (double)s[1].macs);
    printf(", \"rf_area\": ");
    json_ratio(stdout, (double)s[0].rf_h * s[0].rf_w, (double)s[1].rf_h * s[1].rf_w);
    printf(", \"activation_bytes\": ");
    json_ratio(stdout, (double)s[0].activation_bytes, (double)s[1].activation_bytes);
    printf(", \"training_bytes\": ");
    json_ratio(stdout, (double)s[0].training_bytes, (double)s[1].training_bytes);
    printf(", \"inference_bytes\": ");
    json_ratio(stdout, (double)s[0].inference_bytes, (double)s[1].inference_bytes);
    printf("}\n}\n");
}

/* ---- command ------------------------------------------------------------------------------- */

static pdl_net *open_model(const char *path, int64_t batch)
{
    pdl_net *net = NULL;
    if (pdl_net_load(path, &net) != PDL_OK) {
        cli_fail("info", "cannot load the model");
        return NULL;
    }
    if (pdl_net_set_batch(net, batch) != PDL_OK) {
        cli_fail("info", "cannot set the batch size");
        pdl_net_free(net);
        return NULL;
    }
    return net;
}

int cmd_info(int argc, char **argv)
{
    const char *files[2] = {NULL, NULL};
    int n_files = 0;
    int64_t batch = 1;
    bool json = false, compare = false;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) {
            help();
            return 0;
        } else if (!strcmp(arg, "--json")) {
            json = true;
        } else if (!strcmp(arg, "--compare")) {
            compare = true;
        } else if (!strcmp(arg, "--batch")) {
            const char *value = cli_value("info", argc, argv, &i);
            if (!value || !cli_parse_int("info", "--batch", value, 1, 1 << 20, &batch))
                return bad_usage();
        } else if (!strcmp(arg, "--conv-algo")) {
            const char *value = cli_value("info", argc, argv, &i);
            if (!value || pdl_conv_algo_override(value) != PDL_OK) {
                if (value)
                    fprintf(stderr, "pdl info: --conv-algo: %s\n", pdl_last_error());
                return bad_usage();
            }
        } else if (arg[0] == '-' && arg[1] != '\0') {
            fprintf(stderr, "pdl info: unknown option '%s'\n", arg);
            return bad_usage();
        } else if (n_files < 2) {
            files[n_files++] = arg;
        } else {
            fprintf(stderr, "pdl info: too many model files ('%s')\n", arg);
            return bad_usage();
        }
    }
    if (n_files != (compare ? 2 : 1)) {
        fprintf(stderr, compare ? "pdl info: --compare needs two model files\n"
                                : "pdl info: needs one model file (two with --compare)\n");
        return bad_usage();
    }
    pdl_net *nets[2] = {NULL, NULL};
    summary s[2];
    int status = 0;
    for (int m = 0; m < n_files && !status; m++) {
        if (!(nets[m] = open_model(files[m], batch)))
            status = 1;
        else
            s[m] = summarize(nets[m], files[m]);
    }
    if (!status) {
        if (compare && json)
            print_compare_json(s, batch);
        else if (compare)
            print_compare(s);
        else if (json)
            print_json(nets[0], &s[0], batch);
        else
            print_table(nets[0], &s[0], batch);
        if (fflush(stdout) != 0) {
            perror("pdl info: writing the output");
            status = 1;
        }
    }
    pdl_net_free(nets[0]);
    pdl_net_free(nets[1]);
    return status;
}
