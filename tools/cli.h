/* Shared pieces of the pdl command: subcommand entry points and small argument helpers.
 * Only tools/ prints and exits; everything else goes through the public API. */
#ifndef PDL_TOOLS_CLI_H
#define PDL_TOOLS_CLI_H

#include "pdl/pdl.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Each subcommand gets argv[0] = its own name and returns the process exit code:
 * 0 success, 1 failure (message printed), 2 bad command line (usage printed). */
int cmd_info(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_test(int argc, char **argv);
int cmd_classify(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_dataset(int argc, char **argv);

/* Prints "pdl <command>: <message>: <pdl_last_error()>" to stderr; returns 1. */
int cli_fail(const char *command, const char *what);
/* Parses a whole decimal integer in [min, max]; false (and an error on stderr naming the flag)
 * when the text is not one. */
bool cli_parse_int(const char *command, const char *flag, const char *text, int64_t min,
                   int64_t max, int64_t *out);
bool cli_parse_float(const char *command, const char *flag, const char *text, double min,
                     double max, double *out);
/* For "--flag VALUE": returns argv[*i + 1] and advances *i, or NULL with an error when missing. */
const char *cli_value(const char *command, int argc, char **argv, int *i);

/* Stores the positional argument arg in the first of *slots[0..n) that is still NULL; false,
 * with "unexpected argument" on stderr, when arg looks like an option or every slot is taken. */
bool cli_positional(const char *command, const char *arg, const char **slots[], int n);
/* mkdir -p path; false with "pdl <command>: cannot create ..." on stderr. */
bool cli_make_dirs(const char *command, const char *path);
/* mkdir -p of the folder that holds path (nothing when path has no folder part). */
bool cli_make_parent_dirs(const char *command, const char *path);

/* JSON values: a quoted, escaped string; a number, or null when it is not finite. */
void cli_json_string(FILE *out, const char *s);
void cli_json_number(FILE *out, double value);

/* A "--flag PATH" option of a subcommand; the value is stored in *dst. */
typedef struct cli_path_option {
    const char *flag;
    const char **dst;
} cli_path_option;
/* When argv[*i] is one of the n options: stores its value, advances *i and returns 1; 0 when
 * it is none of them; -1 when its value is missing (message printed). */
int cli_match_path(const char *command, const cli_path_option *options, size_t n, int argc,
                   char **argv, int *i);

#endif
