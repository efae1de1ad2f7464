/* pdl classify: the top-k classes of given inputs, IDX images or dataset records by index or
 * binary PGM (P5) files, as text or JSON. Owns the command line, the strict PGM reader and the report; the forward pass
 * is the library's. */
#include "cli.h"
#include "cli_data.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define MAX_INPUTS 4096
#define MAX_PGM_BYTES ((long)1 << 28)

static const char usage_text[] =
    "usage: pdl classify WEIGHTS.safetensors [options] [--images IDX --index N[,N...]] "
    "[IMAGE.pgm...]\n"
    "\n"
    "Prints the top-k classes with their probabilities for each input.\n"
    "\n"
    "  --model M.cfg        the model (default: the model text in the weights' metadata)\n"
    "  --images IDX|DIR     an IDX image file (raw or .gz) or a dataset folder ...\n"
    "  --index N[,N...]     ... and the 0-based indices of the images in it to classify\n"
    "  --labels IDX         the IDX file's labels, to show the true labels (optional)\n"
    "  --split S            of a dataset folder: test, val or train (default: test when it\n"
    "                       has records, else val); its labels.txt names the classes\n"
    "  IMAGE.pgm            binary PGM (P5) images of the model's input size, grayscale\n"
    "  --topk K             classes per input (default 5)\n"
    "  --class-names FILE   one class name per line (default: 0, 1, ...)\n"
    "  --json               one JSON array on stdout instead of text\n"
    "  --help               this text\n";

typedef struct classify_args {
    const char *weights, *model, *images, *labels, *class_names, *split;
    const char *files[MAX_INPUTS];
    int n_files;
    int64_t index[MAX_INPUTS];
    int n_index;
    int64_t topk;
    bool json;
} classify_args;

static bool parse_indices(classify_args *a, const char *text)
{
    char buf[32];
    const char *p = text;
    for (;;) {
        size_t len = strcspn(p, ",");
        if (len >= sizeof buf || a->n_index == MAX_INPUTS) {
            fprintf(stderr, "pdl classify: --index: bad list '%s'\n", text);
            return false;
        }
        memcpy(buf, p, len);
        buf[len] = '\0';
        if (!cli_parse_int("classify", "--index", buf, 0, INT64_MAX, &a->index[a->n_index++]))
            return false;
        if (p[len] == '\0')
            return true;
        p += len + 1;
    }
}

/* Returns 0 to go on, -1 after --help, else the exit code. */
static int parse_args(int argc, char **argv, classify_args *a)
{
    const cli_path_option paths[] = {{"--model", &a->model},
                                     {"--images", &a->images},
                                     {"--labels", &a->labels},
                                     {"--class-names", &a->class_names},
                                     {"--split", &a->split}};
    a->topk = 5;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i], *value = NULL;
        int matched =
            cli_match_path("classify", paths, sizeof paths / sizeof paths[0], argc, argv, &i);
        if (matched < 0)
            return 2;
        if (matched) {
            continue;
        } else if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) {
            fputs(usage_text, stdout);
            return -1;
        } else if (!strcmp(arg, "--index")) {
            if (!(value = cli_value("classify", argc, argv, &i)) || !parse_indices(a, value))
                return 2;
        } else if (!strcmp(arg, "--topk")) {
            if (!(value = cli_value("classify", argc, argv, &i)) ||
                !cli_parse_int("classify", arg, value, 1, 1 << 20, &a->topk))
                return 2;
        } else if (!strcmp(arg, "--json")) {
            a->json = true;
        } else if (arg[0] == '-' && arg[1] != '\0') {
            fprintf(stderr, "pdl classify: unknown option '%s'\n", arg);
            return 2;
        } else if (!a->weights) {
            a->weights = arg;
        } else if (a->n_files < MAX_INPUTS) {
            a->files[a->n_files++] = arg;
        } else {
            fprintf(stderr, "pdl classify: more than %d images\n", MAX_INPUTS);
            return 2;
        }
    }
    if (!a->weights) {
        fprintf(stderr, "pdl classify: no weights file given\n");
        return 2;
    }
    if (!a->images != !a->n_index || (a->labels && !a->images)) {
        fprintf(stderr, "pdl classify: --images and --index go together (--labels needs them)\n");
        return 2;
    }
    if (a->split && (!a->images || (strcmp(a->split, "test") && strcmp(a->split, "val") &&
                                    strcmp(a->split, "train")))) {
        fprintf(stderr, "pdl classify: --split test, val or train goes with --images DIR\n");
        return 2;
    }
    if (!a->images && !a->n_files) {
        fprintf(stderr, "pdl classify: no images given (--images with --index, or PGM files)\n");
        return 2;
    }
    return 0;
}

/* Skips whitespace and '#' comments (to the end of the line) in a PGM header. */
static size_t skip_space(const unsigned char *d, size_t n, size_t i)
{
    while (i < n && (d[i] == ' ' || d[i] == '\t' || d[i] == '\r' || d[i] == '\n' || d[i] == '#'))
        if (d[i++] == '#')
            while (i < n && d[i] != '\n' && d[i] != '\r')
                i++;
    return i;
}

/* A decimal header field in [1, 65535]; false when there is none. */
static bool header_int(const unsigned char *d, size_t n, size_t *i, long *out)
{
    *i = skip_space(d, n, *i);
    long v = 0;
    size_t start = *i;
    while (*i < n && d[*i] >= '0' && d[*i] <= '9' && v <= 65535)
        v = v * 10 + (d[(*i)++] - '0');
    *out = v;
    return *i > start && v >= 1 && v <= 65535;
}

/* Parses the P5 image in d (n bytes) into x (h, w) as value / maxval; false with a message. */
static bool parse_pgm(const char *path, const unsigned char *d, size_t n, pdl_shape input, float *x)
{
    size_t i = 2;
    long w, h, maxval;
    if (n < 2 || d[0] != 'P' || d[1] != '5') {
        fprintf(stderr, "pdl classify: '%s' is not a binary PGM file (no 'P5' magic)\n", path);
        return false;
    }
    if (!header_int(d, n, &i, &w) || !header_int(d, n, &i, &h) || !header_int(d, n, &i, &maxval)) {
        fprintf(stderr,
                "pdl classify: '%s': bad PGM header (width, height, maxval in [1, "
                "65535] expected) at byte %zu\n",
                path, i);
        return false;
    }
    if (i >= n || !(d[i] == ' ' || d[i] == '\t' || d[i] == '\r' || d[i] == '\n')) {
        fprintf(stderr, "pdl classify: '%s': PGM header must end with one whitespace\n", path);
        return false;
    }
    i++;
    if (input.dim[0] != 1 || input.dim[1] != h || input.dim[2] != w) {
        fprintf(stderr,
                "pdl classify: '%s' is %ldx%ld grayscale, the model takes %lldx%lldx%lld "
                "(CxHxW)\n",
                path, w, h, (long long)input.dim[0], (long long)input.dim[1],
                (long long)input.dim[2]);
        return false;
    }
    size_t bytes = maxval < 256 ? 1 : 2;
    size_t expected = (size_t)(w * h) * bytes;
    if (n - i != expected) {
        fprintf(stderr, "pdl classify: '%s': %s: expected %zu bytes of pixels, found %zu\n", path,
                n - i < expected ? "truncated" : "extra data after the image", expected, n - i);
        return false;
    }
    for (long p = 0; p < w * h; p++) {
        const unsigned char *q = d + i + (size_t)p * bytes;
        long v = bytes == 1 ? q[0] : q[0] << 8 | q[1];
        if (v > maxval) {
            fprintf(stderr, "pdl classify: '%s': pixel %ld is %ld, above maxval %ld\n", path, p, v,
                    maxval);
            return false;
        }
        x[p] = (float)v / (float)maxval;
    }
    return true;
}

static bool read_pgm(const char *path, pdl_shape input, float *x)
{
    FILE *f = fopen(path, "rb");
    unsigned char *data = NULL;
    bool ok = false;
    if (!f) {
        fprintf(stderr, "pdl classify: cannot open '%s': %s\n", path, strerror(errno));
        return false;
    }
    long size = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    if (size < 0 || size > MAX_PGM_BYTES || fseek(f, 0, SEEK_SET) != 0) {
        fprintf(stderr, "pdl classify: cannot read '%s' (not a regular file, or too large)\n",
                path);
        goto done;
    }
    data = malloc((size_t)size + 1);
    if (!data || fread(data, 1, (size_t)size, f) != (size_t)size) {
        fprintf(stderr, "pdl classify: cannot read '%s': %s\n", path,
                data ? strerror(errno) : "out of memory");
        goto done;
    }
    ok = parse_pgm(path, data, (size_t)size, input, x);
done:
    free(data);
    fclose(f);
    return ok;
}

/* Prints one input's top-k classes (ties to the lower class index). */
static void report(const classify_args *a, const char *input, int label, const float *scores,
                   int classes, char **names, bool probabilities, bool first, bool *taken)
{
    int k = a->topk < classes ? (int)a->topk : classes;
    memset(taken, 0, (size_t)classes * sizeof *taken);
    if (a->json) {
        printf("%s{\"input\": ", first ? "" : ",\n ");
        cli_json_string(stdout, input);
        printf(", \"label\": ");
        label >= 0 ? printf("%d", label) : printf("null");
        printf(", \"top\": [");
    } else {
        printf("%s", input);
        if (label >= 0)
            printf(" (label %s)", names[label]);
        printf(":\n");
    }
    for (int r = 0; r < k; r++) {
        int best = -1;
        for (int c = 0; c < classes; c++)
            if (!taken[c] && (best < 0 || scores[c] > scores[best]))
                best = c;
        taken[best] = true;
        if (a->json) {
            printf("%s{\"class\": %d, \"name\": ", r ? ", " : "", best);
            cli_json_string(stdout, names[best]);
            printf(", \"%s\": ", probabilities ? "probability" : "score");
            cli_json_number(stdout, scores[best]);
            printf("}");
        } else if (probabilities) {
            printf("  %2d. %-20s %7.2f%%\n", r + 1, names[best], 100 * (double)scores[best]);
        } else {
            printf("  %2d. %-20s %9.4g\n", r + 1, names[best], (double)scores[best]);
        }
    }
    if (a->json)
        printf("]}");
}

/* Loads input i (the IDX indices first, then the PGM files) into x; *label is its label or -1. */
static bool load_input(const classify_args *a, pdl_data_source *idx, int i, pdl_shape input,
                       float *x, int32_t *label, char *name, size_t size)
{
    if (i >= a->n_index) {
        snprintf(name, size, "%s", a->files[i - a->n_index]);
        *label = -1;
        return read_pgm(a->files[i - a->n_index], input, x);
    }
    snprintf(name, size, "%s[%lld]", a->images, (long long)a->index[i]);
    if (pdl_data_source_read(idx, NULL, a->index[i], x, label) != PDL_OK) {
        cli_fail("classify", "cannot read the image");
        return false;
    }
    return true;
}

int cmd_classify(int argc, char **argv)
{
    classify_args a = {0};
    int rc = parse_args(argc, argv, &a);
    if (rc) {
        if (rc == 2)
            fputs(usage_text, stderr);
        return rc < 0 ? 0 : rc;
    }
    pdl_net *net = NULL;
    pdl_data_source *idx = NULL;
    char **names = NULL;
    float *x = NULL;
    bool *taken = NULL;
    int classes = 0;
    rc = 1;
    if (!cli_load_trained("classify", a.weights, a.model, &net))
        goto done;
    pdl_shape input = pdl_net_input_shape(net);
    classes = pdl_net_classes(net);
    char labels_file[4096];
    pdl_data_config config;
    if (a.images && cli_is_dataset(a.images)) {
        if (!cli_data_config("classify", net, &config) ||
            !cli_open_eval_split("classify", a.images, a.split, &config, net, &idx))
            goto done;
        if (!a.class_names)
            a.class_names = cli_dataset_labels(a.images, labels_file, sizeof labels_file);
    } else if (a.images && pdl_idx_open(a.images, a.labels, &idx) != PDL_OK) {
        cli_fail("classify", "cannot open the images");
        goto done;
    }
    if (!(names = cli_class_names("classify", a.class_names, classes)))
        goto done;
    if (idx && idx->classes > classes) {
        fprintf(stderr, "pdl classify: '%s' has labels up to %d, the model has %d classes\n",
                idx->name, idx->classes - 1, classes);
        goto done;
    }
    if (pdl_net_set_batch(net, 1) != PDL_OK) {
        cli_fail("classify", "cannot set up the model");
        goto done;
    }
    x = malloc((size_t)pdl_shape_count(&input) * sizeof *x);
    taken = malloc((size_t)classes * sizeof *taken);
    if (!x || !taken) {
        fprintf(stderr, "pdl classify: out of memory\n");
        goto done;
    }
    bool probabilities = pdl_net_outputs_probabilities(net);
    int n = a.n_index + a.n_files;
    if (a.json)
        printf("[");
    for (int i = 0; i < n; i++) {
        char name[4200];
        int32_t label;
        if (!load_input(&a, idx, i, input, x, &label, name, sizeof name))
            goto done;
        if (pdl_net_forward(net, x, NULL, false, 0) != PDL_OK) {
            cli_fail("classify", "forward pass failed");
            goto done;
        }
        report(&a, name, label, pdl_net_output(net), classes, names, probabilities, i == 0, taken);
    }
    if (a.json)
        printf("]\n");
    rc = 0;
done:
    fflush(stdout);
    free(x);
    free(taken);
    cli_class_names_free(names, classes);
    pdl_data_source_free(idx);
    pdl_net_free(net);
    return rc;
}
