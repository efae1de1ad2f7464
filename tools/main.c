/* The pdl command: dispatches to one subcommand per file (tools/cmd_*.c). */
#include "cli.h"

#include <stdio.h>
#include <string.h>

typedef struct subcommand {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} subcommand;

static const subcommand subcommands[] = {
    {"dataset", cmd_dataset, "build, inspect and export LMDB datasets (the DIGITS layout)"},
    {"info", cmd_info, "show a model's layers, shapes, parameters, multiply-adds, memory"},
    {"train", cmd_train, "train a model on a dataset"},
    {"test", cmd_test, "evaluate trained weights: top-1/top-k, per class, confusion matrix"},
    {"classify", cmd_classify, "top-k classes for given images"},
    {"bench", cmd_bench, "training and inference speed, per layer and against the machine's peak"},
};

static void usage(FILE *out)
{
    fprintf(out, "pdl %s: practical deep learning in C\n\nusage: pdl <command> [options]\n\n"
                 "commands:\n", PDL_VERSION);
    for (size_t i = 0; i < sizeof subcommands / sizeof subcommands[0]; i++)
        fprintf(out, "  %-10s %s\n", subcommands[i].name, subcommands[i].summary);
    fprintf(out, "\n'pdl <command> --help' describes each command.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("pdl %s\n", PDL_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof subcommands / sizeof subcommands[0]; i++)
        if (!strcmp(argv[1], subcommands[i].name))
            return subcommands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "pdl: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
