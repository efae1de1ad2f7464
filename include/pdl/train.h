/* The training loop and evaluation: data source -> net.forward -> loss -> net.backward ->
 * optimizer -> checkpoint. Deterministic: the same seed and config give the same bits, and a run
 * resumed from its state file ends with exactly the weights of an uninterrupted one. */
#ifndef PDL_TRAIN_H
#define PDL_TRAIN_H

#include "pdl/checkpoint.h"
#include "pdl/data.h"
#include "pdl/dist.h"
#include "pdl/net.h"
#include "pdl/optim.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pdl_train_progress {
    int64_t epoch, epochs;           /* 0-based epoch in progress */
    int64_t batch_index, batches;    /* within the epoch */
    int64_t step;                    /* optimizer steps done */
    float loss;                      /* running mean of this epoch's training loss */
    float lr;
    double images_per_s;             /* this epoch so far */
    double eta_s;                    /* for the whole run */
} pdl_train_progress;

typedef struct pdl_epoch_result {
    int64_t epoch;
    float train_loss;
    float val_loss, val_top1, val_topk; /* NaN without validation data */
    double seconds;
    double images_per_s;
    double data_share; /* fraction of the training time spent waiting for the loader's batches */
} pdl_epoch_result;

typedef struct pdl_train_options {
    pdl_train_config config;
    const char *state_path;      /* training state written here (NULL: none) */
    const char *weights_path;    /* weights written here at each checkpoint and the end (NULL: none) */
    int64_t checkpoint_every_iters;  /* 0 = off */
    int checkpoint_every_epochs;     /* 0 = only at the end */
    bool resume;                 /* continue from state_path */
    int64_t max_steps;           /* stop (with a checkpoint) after this many optimizer steps; 0 = no limit */
    int data_threads;            /* threads reading training samples ahead (pdl/loader.h); 0 = one per core */
    int prefetch;                /* micro-batches read ahead of the one in use; 0 = the loader's default */
    const pdl_dist_options *dist; /* data-parallel workers (pdl/dist.h); NULL: one */
    /* Called about every 100 ms of training and at the end of each epoch (may be NULL). */
    void (*on_progress)(const pdl_train_progress *progress, void *user);
    void (*on_epoch)(const pdl_epoch_result *result, void *user);
    void *user;
    /* Polled between batches; when *stop becomes nonzero the loop checkpoints and returns
     * PDL_ERR_INTERRUPTED. Set it from a signal handler. */
    volatile int *stop;
} pdl_train_options;

/* Trains net on train, validating on val (may be NULL) after every epoch. Without resume the
 * parameters are initialized from config.seed; with resume they come from state_path.
 * The net's batch is set to the micro-batch. With options->dist, data-parallel workers each
 * take a shard of every micro-batch (docs/distributed.md); under MPI only rank 0 validates,
 * calls the callbacks and writes files, and a resume needs the world size of the state. */
pdl_status pdl_train(pdl_net *net, pdl_data_source *train, pdl_data_source *val,
                     const pdl_train_options *options);

typedef struct pdl_eval_result {
    int64_t count;
    double loss;           /* mean cross-entropy */
    double top1, topk;     /* fractions in [0, 1] */
    int k;
    int classes;
    int64_t *confusion;    /* classes x classes, row = true label, column = prediction */
    double *class_accuracy;/* classes */
} pdl_eval_result;

/* Evaluates net on every sample of src in order at batch size batch. Caller frees with
 * pdl_eval_result_free. */
pdl_status pdl_evaluate(pdl_net *net, pdl_data_source *src, int64_t batch, int k,
                        pdl_eval_result *out);
void pdl_eval_result_free(pdl_eval_result *result);

#ifdef __cplusplus
}
#endif
#endif
