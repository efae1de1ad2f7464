/* What the data-facing subcommands (train, test, classify) share: finding IDX files in a data
 * folder, class-name files, and loading a trained net. Prints its own errors
 * to stderr; never exits. */
#ifndef PDL_TOOLS_CLI_DATA_H
#define PDL_TOOLS_CLI_DATA_H

#include "pdl/pdl.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* Where Debian's dataset-fashion-mnist package installs the data: the default of --data. */
#define CLI_DEFAULT_DATA_DIR "/usr/share/datasets/fashion-mnist"

/* Finds <split>-images-idx3-ubyte and <split>-labels-idx1-ubyte, each raw or .gz, in dir
 * (split is "train" or "t10k"). false when one is missing, with a message naming it unless
 * command is NULL (for optional files). */
bool cli_idx_find(const char *command, const char *dir, const char *split, char *images,
                  char *labels, size_t size);

/* Names for classes 0..classes-1: one per line of path, or "0", "1", ... when path is NULL.
 * NULL with a message when the file cannot be read or has another number of names. */
char **cli_class_names(const char *command, const char *path, int classes);
void cli_class_names_free(char **names, int classes);

/* Builds the net from model (a model file) or else from the model text in the weights'
 * metadata, and loads the weights. false with a message. */
bool cli_load_trained(const char *command, const char *weights, const char *model, pdl_net **net);

#endif
