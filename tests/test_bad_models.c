/* Loads every malformed model file in tests/fixtures/bad_models/ and checks that it is refused
 * with a message naming the file and containing each "# expect: <text>" line of its header.
 * A file whose net builds must be refused by its [train] section instead. Prints each message. */
#include "harness.h"
#include "pdl/net.h"
#include "pdl/optim.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BAD_MODELS_DIR PDL_SOURCE_DIR "/tests/fixtures/bad_models"

enum { MAX_FILES = 256, MAX_TEXT = 1 << 16 };

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *text = f ? malloc(MAX_TEXT + 1) : NULL;
    size_t n = text ? fread(text, 1, MAX_TEXT, f) : 0;
    if (text)
        text[n] = '\0';
    if (f)
        fclose(f);
    return text;
}

/* Checks one file; returns the number of expectations it declared. */
static int check_file(const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", BAD_MODELS_DIR, name);
    char *text = read_text(path);
    CHECK(text != NULL);
    if (!text)
        return 0;
    pdl_net *net = NULL;
    pdl_status st = pdl_net_load(path, &net);
    if (st == PDL_OK) {
        pdl_train_config config;
        st = pdl_train_config_from_text(text, path, &config);
        pdl_net_free(net);
    } else {
        CHECK(net == NULL);
    }
    const char *message = pdl_last_error();
    printf("%s: %s\n", name, st == PDL_OK ? "(accepted)" : message);
    CHECK(st != PDL_OK);
    CHECK(strstr(message, path) != NULL); /* every message names the file */

    /* The leading comment lines "# expect: <text>", all of which must be in the message. */
    int expectations = 0;
    static const char tag[] = "# expect: ";
    for (char *line = text; strncmp(line, tag, sizeof tag - 1) == 0;) {
        char *end = strchr(line, '\n');
        if (end)
            *end = '\0';
        const char *want = line + sizeof tag - 1;
        expectations++;
        if (!strstr(message, want)) {
            fprintf(stderr, "%s: the message lacks '%s'\n", name, want);
            CHECK(!"the error message contains the expectation");
        }
        if (!end)
            break;
        line = end + 1;
    }
    if (expectations == 0)
        fprintf(stderr, "%s: no '# expect: ' first line\n", name);
    CHECK(expectations > 0);
    free(text);
    return expectations;
}

static void test_bad_models(void)
{
    DIR *dir = opendir(BAD_MODELS_DIR);
    CHECK(dir != NULL);
    if (!dir)
        return;
    char *names[MAX_FILES];
    int n = 0;
    for (struct dirent *d; (d = readdir(dir)) != NULL && n < MAX_FILES;) {
        size_t len = strlen(d->d_name);
        if (len > 4 && strcmp(d->d_name + len - 4, ".cfg") == 0)
            names[n++] = strdup(d->d_name);
    }
    closedir(dir);
    qsort(names, (size_t)n, sizeof *names, compare_names);
    CHECK(n >= 25);
    for (int i = 0; i < n; i++) {
        check_file(names[i]);
        free(names[i]);
    }
}

/* The loader itself: a missing file is an I/O error naming the path. */
static void test_missing_file(void)
{
    pdl_net *net = (pdl_net *)1;
    pdl_status st = pdl_net_load(BAD_MODELS_DIR "/no_such_file.cfg", &net);
    CHECK(st == PDL_ERR_IO);
    CHECK(net == NULL);
    CHECK(strstr(pdl_last_error(), "no_such_file.cfg") != NULL);
}

int main(void)
{
    RUN(test_bad_models);
    RUN(test_missing_file);
    return harness_summary();
}
