/* What the data-facing subcommands (train, test, classify, bench) share: finding IDX files or
 * dataset folders, opening datasets with the model's [data] section, class-name files, and
 * loading a trained net. Prints its own errors to stderr; never exits. */
#ifndef PDL_TOOLS_CLI_DATA_H
#define PDL_TOOLS_CLI_DATA_H

#include "pdl/loader.h"
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

/* True when dir/<split>_db exists (split "train", "val" or "test"). */
bool cli_dataset_has(const char *dir, const char *split);
/* True when dir is a dataset folder: it holds train_db, val_db or test_db. */
bool cli_is_dataset(const char *dir);

/* The [data] section of the net's model text (defaults when absent). false with a message. */
bool cli_data_config(const char *command, const pdl_net *net, pdl_data_config *out);

/* Opens split of the dataset folder dir as a source of the net's input shaped by config. false
 * with a message naming the path. */
bool cli_open_dataset(const char *command, const char *dir, const char *split,
                      const pdl_data_config *config, const pdl_net *net, pdl_data_source **out);

/* Opens split of the dataset folder dir or, when split is NULL, the first of test and val that
 * has records (for evaluating). false with a message. */
bool cli_open_eval_split(const char *command, const char *dir, const char *split,
                         const pdl_data_config *config, const pdl_net *net, pdl_data_source **out);
/* dir/labels.txt in buf when it can be read, else NULL. */
const char *cli_dataset_labels(const char *dir, char *buf, size_t size);

/* pdl train on a dataset folder: train_db trains, val_db (else test_db; an empty split or none
 * at all: *val NULL) validates. false with a message. */
bool cli_open_train_val(const char *dir, const pdl_data_config *config, const pdl_net *net,
                        pdl_data_source **train, pdl_data_source **val);

/* Reads training batches of batch samples from the train split of the dataset folder dir
 * through the loader (threads; 0: [data] threads, else one per core) with the net's [data]
 * augmentation for about seconds of wall time after one warm-up batch. *images_per_s and the
 * threads used are returned; false with a message. */
bool cli_measure_loader(const char *command, const char *dir, const pdl_net *net, int64_t batch,
                        int threads, double seconds, double *images_per_s, int *threads_used);

/* Names for classes 0..classes-1: one per line of path, or "0", "1", ... when path is NULL.
 * NULL with a message when the file cannot be read or has another number of names. */
char **cli_class_names(const char *command, const char *path, int classes);
void cli_class_names_free(char **names, int classes);

/* Builds the net from model (a model file) or else from the model text in the weights'
 * metadata, and loads the weights. false with a message. */
bool cli_load_trained(const char *command, const char *weights, const char *model, pdl_net **net);

#endif
