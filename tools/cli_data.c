/* Data folders, class names, trained-net loading and JSON output for the data-facing subcommands
 * (see cli_data.h). */
#include "cli_data.h"
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
        cli_fail(command, model ? "cannot build the model" : "cannot read the model from the "
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
