/* Data folders, class names, trained-net loading and JSON output for the data-facing subcommands
 * (see cli_data.h). */
#include "cli_data.h"
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PATH_SIZE 4096

/* base or base.gz, whichever exists, into out. */
static bool find_file(const char *dir, const char *base, char *out, size_t size)
{
    const char *suffixes[] = {"", ".gz"};
    for (int i = 0; i < 2; i++) {
        snprintf(out, size, "%s/%s%s", dir, base, suffixes[i]);
        if (access(out, R_OK) == 0)
            return true;
    }
    return false;
}

bool cli_idx_find(const char *command, const char *dir, const char *split, char *images,
                  char *labels, size_t size)
{
    char base[64];
    snprintf(base, sizeof base, "%s-images-idx3-ubyte", split);
    bool ok = find_file(dir, base, images, size);
    if (ok) {
        snprintf(base, sizeof base, "%s-labels-idx1-ubyte", split);
        ok = find_file(dir, base, labels, size);
    }
    if (!ok && command)
        fprintf(stderr, "pdl %s: cannot read '%s/%s' or '%s/%s.gz'\n", command, dir, base, dir,
                base);
    return ok;
}

bool cli_dataset_has(const char *dir, const char *split)
{
    char path[PATH_SIZE];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s_db", dir, split);
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

bool cli_is_dataset(const char *dir)
{
    return cli_dataset_has(dir, "train") || cli_dataset_has(dir, "val") ||
           cli_dataset_has(dir, "test");
}

bool cli_data_config(const char *command, const pdl_net *net, pdl_data_config *out)
{
    if (pdl_data_config_from_text(pdl_net_source_text(net), pdl_net_source_name(net), out) ==
        PDL_OK)
        return true;
    cli_fail(command, "bad [data] section");
    return false;
}

bool cli_open_dataset(const char *command, const char *dir, const char *split,
                      const pdl_data_config *config, const pdl_net *net, pdl_data_source **out)
{
    if (pdl_dataset_source_open(dir, split, config, pdl_net_input_shape(net), out) == PDL_OK)
        return true;
    char what[PATH_SIZE + 64];
    snprintf(what, sizeof what, "cannot open the %s split of '%s'", split, dir);
    cli_fail(command, what);
    return false;
}

bool cli_open_train_val(const char *dir, const pdl_data_config *config, const pdl_net *net,
                        pdl_data_source **train, pdl_data_source **val)
{
    static const char *const val_splits[] = {"val", "test"};
    if (!cli_open_dataset("train", dir, "train", config, net, train))
        return false;
    for (int i = 0; i < 2; i++) {
        if (!cli_dataset_has(dir, val_splits[i]))
            continue;
        if (!cli_open_dataset("train", dir, val_splits[i], config, net, val))
            return false;
        if ((*val)->count > 0)
            return true;
        pdl_data_source_free(*val); /* an empty split validates nothing */
        *val = NULL;
    }
    return true;
}

bool cli_open_eval_split(const char *command, const char *dir, const char *split,
                         const pdl_data_config *config, const pdl_net *net, pdl_data_source **out)
{
    static const char *const eval_splits[] = {"test", "val"};
    if (split)
        return cli_open_dataset(command, dir, split, config, net, out);
    for (int i = 0; i < 2; i++) {
        if (!cli_dataset_has(dir, eval_splits[i]))
            continue;
        if (!cli_open_dataset(command, dir, eval_splits[i], config, net, out))
            return false;
        if ((*out)->count > 0)
            return true;
        pdl_data_source_free(*out);
        *out = NULL;
    }
    fprintf(stderr, "pdl %s: '%s' has no test or val split with records (--split train?)\n",
            command, dir);
    return false;
}

const char *cli_dataset_labels(const char *dir, char *buf, size_t size)
{
    snprintf(buf, size, "%s/labels.txt", dir);
    return access(buf, R_OK) == 0 ? buf : NULL;
}

static double wall_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

bool cli_measure_loader(const char *command, const char *dir, const pdl_net *net, int64_t batch,
                        int threads, double seconds, double *images_per_s, int *threads_used)
{
    pdl_data_config config;
    pdl_data_source *src = NULL;
    pdl_loader *loader = NULL;
    bool ok = false;
    if (!cli_data_config(command, net, &config) ||
        !cli_open_dataset(command, dir, "train", &config, net, &src))
        return false;
    *threads_used = threads          ? threads
                    : config.threads ? config.threads
                                     : pdl_loader_default_threads();
    pdl_loader_options o = {.batch = batch,
                            .training = true,
                            .seed = 1,
                            .epochs = INT32_MAX,
                            .threads = *threads_used,
                            .prefetch = config.prefetch};
    pdl_batch b;
    if (pdl_loader_create(src, &o, &loader) != PDL_OK || pdl_loader_next(loader, &b) != PDL_OK) {
        cli_fail(command, "cannot read the training data");
        goto done;
    }
    int64_t images = 0, batches = 0;
    double t0 = wall_s(), t = t0;
    while (batches < 2 || t - t0 < seconds) {
        if (pdl_loader_next(loader, &b) != PDL_OK) {
            cli_fail(command, "cannot read the training data");
            goto done;
        }
        images += b.n;
        batches++;
        t = wall_s();
    }
    *images_per_s = (double)images / (t - t0);
    ok = true;
done:
    pdl_loader_free(loader);
    pdl_data_source_free(src);
    return ok;
}

void cli_class_names_free(char **names, int classes)
{
    if (!names)
        return;
    for (int i = 0; i < classes; i++)
        free(names[i]);
    free(names);
}

/* Reads one name per line (trailing whitespace removed) into names[0..classes). */
static bool read_names(const char *command, const char *path, char **names, int classes)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "pdl %s: cannot open class names '%s': %s\n", command, path,
                strerror(errno));
        return false;
    }
    char line[512];
    int n = 0;
    bool ok = true;
    while (ok && fgets(line, sizeof line, f)) {
        size_t len = strcspn(line, "\r\n");
        while (len > 0 && (line[len - 1] == ' ' || line[len - 1] == '\t'))
            len--;
        line[len] = '\0';
        if (n < classes && !(names[n] = strdup(line)))
            ok = false;
        n++;
    }
    fclose(f);
    if (ok && n != classes) {
        fprintf(stderr, "pdl %s: '%s' has %d class names, the model has %d classes\n", command,
                path, n, classes);
        ok = false;
    }
    return ok;
}

char **cli_class_names(const char *command, const char *path, int classes)
{
    char **names = calloc((size_t)classes, sizeof *names);
    bool ok = names != NULL;
    if (ok && path) {
        ok = read_names(command, path, names, classes);
    } else {
        for (int i = 0; ok && i < classes; i++) {
            char buf[16];
            snprintf(buf, sizeof buf, "%d", i);
            ok = (names[i] = strdup(buf)) != NULL;
        }
    }
    if (!ok) {
        cli_class_names_free(names, classes);
        return NULL;
    }
    return names;
}

bool cli_load_trained(const char *command, const char *weights, const char *model, pdl_net **net)
{
    char *text = NULL;
    pdl_status status;
    *net = NULL;
    if (model) {
        status = pdl_net_load(model, net);
    } else {
        status = pdl_weights_model_text(weights, &text);
        if (status == PDL_OK)
            status = pdl_net_from_text(text, weights, net);
    }
    free(text);
    if (status != PDL_OK) {
        cli_fail(command, model ? "cannot build the model"
                                : "cannot read the model from the "
                                  "weights' metadata");
        return false;
    }
    status = pdl_weights_load(*net, weights);
    if (status != PDL_OK) {
        cli_fail(command, "cannot load the weights");
        pdl_net_free(*net);
        *net = NULL;
        return false;
    }
    return true;
}
