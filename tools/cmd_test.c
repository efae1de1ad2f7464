/* pdl test: evaluates trained weights on a dataset folder or labeled IDX data and prints top-1/top-k, loss, per-class
 * accuracy and the confusion matrix, as text or one JSON object. Owns the command line and the
 * report only; the evaluation is pdl_evaluate (src/train/evaluate.c). */
#include "cli.h"
#include "cli_data.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define PATH_SIZE 4096

static const char usage_text[] =
    "usage: pdl test WEIGHTS.safetensors [MODEL.cfg] [options]\n"
    "\n"
    "Evaluates trained weights. The model comes from the weights' metadata unless MODEL.cfg is\n"
    "given.\n"
    "\n"
    "  --data DIR           a dataset folder (pdl dataset create; its labels.txt names the\n"
    "                       classes), or t10k-images-idx3-ubyte[.gz] and\n"
    "                       t10k-labels-idx1-ubyte[.gz] inside DIR (default\n"
    "                       " CLI_DEFAULT_DATA_DIR ")\n"
    "  --split S            of a dataset folder: test, val or train (default: test when it\n"
    "                       has records, else val)\n"
    "  --images F --labels F   explicit IDX files\n"
    "  --batch N            images per forward pass (default 256)\n"
    "  --topk K             k of the top-k accuracy (default: the model's [train] topk)\n"
    "  --class-names FILE   one class name per line (default: 0, 1, ...)\n"
    "  --json               one JSON object on stdout instead of the text report\n"
    "  --help               this text\n";

typedef struct test_args {
    const char *weights, *model, *data_dir, *images, *labels, *class_names, *split;
    int64_t batch, topk; /* topk 0: the model's */
    bool json;
} test_args;

/* Returns 0 to go on, -1 after --help, else the exit code. */
static int parse_args(int argc, char **argv, test_args *a)
{
    const cli_path_option paths[] = {{"--data", &a->data_dir},
                                     {"--images", &a->images},
                                     {"--labels", &a->labels},
                                     {"--class-names", &a->class_names},
                                     {"--split", &a->split}};
    a->batch = 256;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i], *value = NULL;
        int matched = cli_match_path("test", paths, sizeof paths / sizeof paths[0], argc, argv, &i);
        if (matched < 0)
            return 2;
        if (matched) {
            continue;
        } else if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) {
            fputs(usage_text, stdout);
            return -1;
        } else if (!strcmp(arg, "--batch") || !strcmp(arg, "--topk")) {
            if (!(value = cli_value("test", argc, argv, &i)) ||
                !cli_parse_int("test", arg, value, 1, 1 << 20,
                               arg[2] == 'b' ? &a->batch : &a->topk))
                return 2;
        } else if (!strcmp(arg, "--json")) {
            a->json = true;
        } else if (!cli_positional("test", arg, (const char **[]){&a->weights, &a->model}, 2)) {
            return 2;
        }
    }
    if (!a->weights) {
        fprintf(stderr, "pdl test: no weights file given\n");
        return 2;
    }
    if ((a->images || a->labels) && (!a->images || !a->labels || a->data_dir)) {
        fprintf(stderr, "pdl test: give --images with --labels, or --data\n");
        return 2;
    }
    if (a->split && strcmp(a->split, "test") && strcmp(a->split, "val") &&
        strcmp(a->split, "train")) {
        fprintf(stderr, "pdl test: --split: expected test, val or train, got '%s'\n", a->split);
        return 2;
    }
    return 0;
}

/* The --split of the dataset folder a->data_dir (default: test when it has records, else val),
 * and its labels.txt as the class names unless --class-names. names_path has size bytes. */
static bool open_dataset(test_args *a, const pdl_net *net, pdl_data_source **src,
                         char *names_path, size_t size)
{
    pdl_data_config config;
    if (!cli_data_config("test", net, &config) ||
        !cli_open_eval_split("test", a->data_dir, a->split, &config, net, src))
        return false;
    if (!a->class_names)
        a->class_names = cli_dataset_labels(a->data_dir, names_path, size);
    return true;
}

static void print_json(const test_args *a, const pdl_data_source *src, const pdl_eval_result *r,
                       char **names)
{
    int k = r->classes;
    printf("{\"weights\": ");
    cli_json_string(stdout, a->weights);
    printf(", \"data\": ");
    cli_json_string(stdout, src->name);
    printf(", \"images\": %lld, \"top1\": ", (long long)r->count);
    cli_json_number(stdout, r->top1);
    printf(", \"topk\": ");
    cli_json_number(stdout, r->topk);
    printf(", \"k\": %d, \"loss\": ", r->k);
    cli_json_number(stdout, r->loss);
    printf(", \"classes\": [");
    for (int c = 0; c < k; c++) {
        int64_t count = 0;
        for (int p = 0; p < k; p++)
            count += r->confusion[(int64_t)c * k + p];
        printf("%s{\"name\": ", c ? ", " : "");
        cli_json_string(stdout, names[c]);
        printf(", \"images\": %lld, \"accuracy\": ", (long long)count);
        cli_json_number(stdout, r->class_accuracy[c]);
        printf("}");
    }
    printf("], \"confusion\": [");
    for (int c = 0; c < k; c++) {
        printf("%s[", c ? ", " : "");
        for (int p = 0; p < k; p++)
            printf("%s%lld", p ? ", " : "", (long long)r->confusion[(int64_t)c * k + p]);
        printf("]");
    }
    printf("]}\n");
}

static void print_text(const test_args *a, const pdl_data_source *src, const pdl_eval_result *r,
                       char **names)
{
    int k = r->classes;
    int width = 5;
    for (int c = 0; c < k; c++)
        width = (int)strlen(names[c]) > width ? (int)strlen(names[c]) : width;
    printf("weights  %s\ndata     %s (%lld images)\n", a->weights, src->name, (long long)r->count);
    printf("top-1    %.2f%%\ntop-%-4d %.2f%%\nloss     %.4f\n\n", 100 * r->top1, r->k,
           100 * r->topk, r->loss);
    printf("%-*s  %8s  %7s\n", width, "class", "accuracy", "images");
    for (int c = 0; c < k; c++) {
        int64_t count = 0;
        for (int p = 0; p < k; p++)
            count += r->confusion[(int64_t)c * k + p];
        if (isnan(r->class_accuracy[c]))
            printf("%-*s  %8s  %7lld\n", width, names[c], "-", (long long)count);
        else
            printf("%-*s  %7.2f%%  %7lld\n", width, names[c], 100 * r->class_accuracy[c],
                   (long long)count);
    }
    printf("\nconfusion matrix (rows: true class, columns: predicted class)\n%-*s", width, "");
    for (int p = 0; p < k; p++)
        printf(" %6d", p);
    printf("\n");
    for (int c = 0; c < k; c++) {
        printf("%-*s", width, names[c]);
        for (int p = 0; p < k; p++)
            printf(" %6lld", (long long)r->confusion[(int64_t)c * k + p]);
        printf("\n");
    }
}

int cmd_test(int argc, char **argv)
{
    test_args a = {0};
    int rc = parse_args(argc, argv, &a);
    if (rc) {
        if (rc == 2)
            fputs(usage_text, stderr);
        return rc < 0 ? 0 : rc;
    }
    pdl_net *net = NULL;
    pdl_data_source *src = NULL;
    char **names = NULL;
    pdl_eval_result result = {0};
    char images[PATH_SIZE], labels[PATH_SIZE], names_file[PATH_SIZE];
    rc = 1;
    if (!cli_load_trained("test", a.weights, a.model, &net))
        goto done;
    if (!a.topk) {
        pdl_train_config cfg;
        if (pdl_train_config_from_text(pdl_net_source_text(net), pdl_net_source_name(net), &cfg) !=
            PDL_OK) {
            cli_fail("test", "bad [train] section");
            goto done;
        }
        a.topk = cfg.topk;
    }
    if (!a.images && a.data_dir && cli_is_dataset(a.data_dir)) {
        if (!open_dataset(&a, net, &src, names_file, sizeof names_file))
            goto done;
    } else if (!a.images) {
        const char *dir = a.data_dir ? a.data_dir : CLI_DEFAULT_DATA_DIR;
        if (!cli_idx_find("test", dir, "t10k", images, labels, sizeof images))
            goto done;
        a.images = images;
        a.labels = labels;
    }
    if (!src && pdl_idx_open(a.images, a.labels, &src) != PDL_OK) {
        cli_fail("test", "cannot open the test data");
        goto done;
    }
    if (!(names = cli_class_names("test", a.class_names, pdl_net_classes(net))))
        goto done;
    if (pdl_evaluate(net, src, a.batch, (int)a.topk, &result) != PDL_OK) {
        cli_fail("test", "evaluation failed");
        goto done;
    }
    if (a.json)
        print_json(&a, src, &result, names);
    else
        print_text(&a, src, &result, names);
    rc = 0;
done:
    pdl_eval_result_free(&result);
    cli_class_names_free(names, net ? pdl_net_classes(net) : 0);
    pdl_data_source_free(src);
    pdl_net_free(net);
    return rc;
}
