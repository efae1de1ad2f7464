/* Argument helpers shared by the subcommands. */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int cli_fail(const char *command, const char *what)
{
    fprintf(stderr, "pdl %s: %s: %s\n", command, what, pdl_last_error());
    return 1;
}

bool cli_parse_int(const char *command, const char *flag, const char *text, int64_t min,
                   int64_t max, int64_t *out)
{
    char *end = NULL;
    errno = 0;
    long long value = strtoll(text, &end, 10);
    if (errno || end == text || *end != '\0' || value < min || value > max) {
        fprintf(stderr, "pdl %s: %s: expected an integer in [%lld, %lld], got '%s'\n", command,
                flag, (long long)min, (long long)max, text);
        return false;
    }
    *out = value;
    return true;
}

bool cli_parse_float(const char *command, const char *flag, const char *text, double min,
                     double max, double *out)
{
    char *end = NULL;
    errno = 0;
    double value = strtod(text, &end);
    if (errno || end == text || *end != '\0' || !isfinite(value) || value < min || value > max) {
        fprintf(stderr, "pdl %s: %s: expected a number in [%g, %g], got '%s'\n", command, flag, min,
                max, text);
        return false;
    }
    *out = value;
    return true;
}

const char *cli_value(const char *command, int argc, char **argv, int *i)
{
    if (*i + 1 >= argc) {
        fprintf(stderr, "pdl %s: %s needs a value\n", command, argv[*i]);
        return NULL;
    }
    *i += 1;
    return argv[*i];
}

void cli_json_string(FILE *out, const char *s)
{
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(out, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(out, "\\u%04x", *p);
        else
            fputc(*p, out);
    }
    fputc('"', out);
}

void cli_json_number(FILE *out, double value)
{
    if (isfinite(value))
        fprintf(out, "%.17g", value);
    else
        fputs("null", out);
}

int cli_match_path(const char *command, const cli_path_option *options, size_t n, int argc,
                   char **argv, int *i)
{
    for (size_t k = 0; k < n; k++)
        if (!strcmp(argv[*i], options[k].flag))
            return (*options[k].dst = cli_value(command, argc, argv, i)) ? 1 : -1;
    return 0;
}

bool cli_make_dirs(const char *command, const char *path)
{
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) {
        fprintf(stderr, "pdl %s: the path '%s' is too long\n", command, path);
        return false;
    }
    for (char *p = buf + 1;; p++) {
        bool end = *p == '\0';
        if (*p == '/' || end) {
            *p = '\0';
            if (mkdir(buf, 0777) != 0 && errno != EEXIST) {
                fprintf(stderr, "pdl %s: cannot create '%s': %s\n", command, buf,
                        strerror(errno));
                return false;
            }
            if (end)
                return true;
            *p = '/';
        }
    }
}

bool cli_make_parent_dirs(const char *command, const char *path)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    char *slash = strrchr(buf, '/');
    while (slash && slash > buf && slash[1] == '\0') { /* "runs/data/" names runs/data */
        *slash = '\0';
        slash = strrchr(buf, '/');
    }
    if (!slash || slash == buf)
        return true;
    *slash = '\0';
    return cli_make_dirs(command, buf);
}

bool cli_positional(const char *command, const char *arg, const char **slots[], int n)
{
    for (int i = 0; arg[0] != '-' && i < n; i++)
        if (!*slots[i]) {
            *slots[i] = arg;
            return true;
        }
    fprintf(stderr, "pdl %s: unexpected argument '%s'\n", command, arg);
    return false;
}
