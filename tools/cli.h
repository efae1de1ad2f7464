/* Shared pieces of the pdl command: subcommand entry points and small argument helpers.
 * Only tools/ prints and exits; everything else goes through the public API. */
#ifndef PDL_TOOLS_CLI_H
#define PDL_TOOLS_CLI_H

#include "pdl/pdl.h"
#include <stdbool.h>
#include <stdint.h>

/* Each subcommand gets argv[0] = its own name and returns the process exit code:
 * 0 success, 1 failure (message printed), 2 bad command line (usage printed). */
int cmd_info(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_test(int argc, char **argv);
int cmd_classify(int argc, char **argv);

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

#endif
