/* Data-parallel workers for the training loop: replicas of the net (threads in this process, or
 * this process as one MPI rank), each on its shard of every micro-batch, gradients reduced in
 * buckets while backward runs, the same update applied to every replica. The loop itself
 * (epochs, data, checkpoints) stays in src/train/trainer.c. Internal to libpdl. */
#ifndef PDL_DIST_WORKERS_H
#define PDL_DIST_WORKERS_H

#include "pdl/checkpoint.h"
#include "pdl/dist.h"
#include "pdl/net.h"
#include "pdl/optim.h"

typedef struct pdl_workers pdl_workers;

/* The workers for training net with optimizer (worker 0 uses both; the others get copies made
 * from the net's model text) under config, as options asks. Each worker takes rows
 * [k*m/W, (k+1)*m/W) of every micro-batch of m = batch / accumulate rows (W workers, k its
 * global rank) and weights its gradient by its share, so that the sum is the gradient of the
 * whole batch's mean loss. The replicas split the net's threads between them (under MPI, the
 * cores between the ranks of a machine unless PDL_NUM_THREADS says otherwise). Errors: a
 * micro-batch smaller than W, workers and MPI ranks together, 'mpi' without MPI. */
pdl_status pdl_workers_create(pdl_net *net, pdl_optimizer *optimizer,
                              const pdl_train_config *config, const pdl_dist_options *options,
                              pdl_workers **out);
/* Frees the replicas and threads; net gets back its thread count and the micro-batch size and
 * loses the hook. */
void pdl_workers_free(pdl_workers *w);

int pdl_workers_world(const pdl_workers *w);
/* Global rank of this process's first worker: 0 for the process that logs and saves. */
int pdl_workers_rank(const pdl_workers *w);
/* The rows [*row0, *row0 + *rows) of each micro-batch this process reads (all of them for
 * workers in one process, its shard for an MPI rank). */
void pdl_workers_rows(const pdl_workers *w, int64_t *row0, int64_t *rows);

/* Makes every worker start where global rank 0 stands: rank 0's status (its start or its
 * resume; on another rank pass PDL_OK) and *pos, its parameters, buffers, optimizer state and
 * seed go to every replica. When rank 0's status is an error every rank returns one (rank 0
 * its own message). */
pdl_status pdl_workers_sync(pdl_workers *w, pdl_train_position *pos, pdl_status root_status);

/* One micro-batch of an optimizer step. */
typedef struct pdl_workers_batch {
    const float *x;        /* (rows, C, H, W): this process's rows (pdl_workers_rows) */
    const int32_t *labels; /* (rows) */
    int64_t step;          /* the optimizer step, for messages and injected failures */
    uint64_t counter;      /* the micro-batch's counter for stochastic layers */
    bool first, last;      /* of the step's micro-batches; the last one reduces and updates */
    float lr, clip_norm;   /* of the update (last) */
    bool stop;             /* (last) this process asks to stop after the step */
} pdl_workers_batch;

typedef struct pdl_workers_result {
    double loss; /* (after the last) sum over the step's micro-batches of their mean loss */
    bool stop;   /* (after the last) some process asked to stop: all stop after this step */
} pdl_workers_result;

/* Forward and backward of every worker's shard; with b->last also the reduction (bucketed,
 * overlapping backward), gradient clipping and the optimizer step on every replica. An error
 * of any worker stops all of them; the message names the worker (or rank) that failed first.
 * Test hook: PDL_TEST_FAIL_RANK=k PDL_TEST_FAIL_STEP=s in the environment make worker (rank) k
 * fail at step s, and PDL_TEST_FAIL_KILL=1 makes it kill its process instead (a lost rank). */
pdl_status pdl_workers_run(pdl_workers *w, const pdl_workers_batch *b, pdl_workers_result *res);

/* Worker 0's times so far. */
void pdl_workers_stats(const pdl_workers *w, pdl_dist_stats *out);

#endif
