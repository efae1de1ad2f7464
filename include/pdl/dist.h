/* Synchronous data-parallel training: several workers (threads in one process, or MPI ranks)
 * each compute the gradient of their shard of every batch, the gradients are summed by a
 * reducer, and every worker applies the same update. Also the MPI job itself (start, rank,
 * abort) and the linear learning-rate scaling rule. docs/distributed.md is the user's guide. */
#ifndef PDL_DIST_H
#define PDL_DIST_H

#include "pdl/optim.h"
#include "pdl/status.h"
#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* How gradients are summed across workers. Each of tree and ring adds in a fixed order
 * (docs/distributed.md), so a run gives the same bits whatever the timing. */
typedef enum pdl_reduce_algo {
    PDL_REDUCE_DEFAULT = 0, /* ring in one process, MPI_Allreduce across MPI ranks */
    PDL_REDUCE_TREE,        /* Caffe's: pairs 0:1, 2:3, then 0:2, ...; the root broadcasts back */
    PDL_REDUCE_RING,        /* reduce-scatter then all-gather in N chunks */
    PDL_REDUCE_MPI,         /* MPI_Allreduce (only across MPI ranks) */
} pdl_reduce_algo;

/* "tree", "ring", "mpi" ("default" for PDL_REDUCE_DEFAULT); "?" outside the enum. */
const char *pdl_reduce_algo_name(pdl_reduce_algo algo);
/* Parses one of those names (not "default"); PDL_ERR_INVALID naming the text otherwise. */
pdl_status pdl_reduce_algo_parse(const char *text, pdl_reduce_algo *out);

/* An MPI job this process belongs to (pdl_mpi_init). */
typedef struct pdl_comm pdl_comm;

/* Where a run spent its steps, filled by pdl_train when pdl_dist_options.stats is set. Times
 * are worker 0's (rank 0's under MPI). */
typedef struct pdl_dist_stats {
    int world;                  /* workers in all */
    pdl_reduce_algo algo;       /* the reducer used (never DEFAULT) */
    int buckets;                /* gradient buckets per step */
    int64_t steps;              /* optimizer steps */
    double step_seconds;        /* from the first micro-batch's forward to the end of the update */
    double reduce_seconds;      /* the reduction thread was busy (overlaps backward) */
    double reduce_wait_seconds; /* backward was done but the reduction was not: exposed */
} pdl_dist_stats;

#define PDL_DIST_BUCKET_BYTES ((int64_t)1 << 20)

typedef struct pdl_dist_options {
    int workers; /* replicas in this process, each on its own threads; 0 or 1: one */
    pdl_reduce_algo reduce;
    int64_t bucket_bytes;  /* gradients are reduced in buckets of about this size, last layers
                            * first, while earlier layers are still in backward; 0: default */
    pdl_comm *comm;        /* the MPI job (each rank one worker), or NULL */
    pdl_dist_stats *stats; /* filled at the end of pdl_train when not NULL */
} pdl_dist_options;

/* Number of workers the options ask for (MPI ranks, or workers in this process). */
int pdl_dist_world(const pdl_dist_options *options);

/* Whether this build has MPI (a build without it still runs several workers in one process). */
bool pdl_mpi_available(void);
/* The world size an MPI launcher (mpirun, srun) announces in the environment
 * (OMPI_COMM_WORLD_SIZE, PMI_SIZE, PMIX_SIZE, SLURM_NTASKS with SLURM_PROCID), or 0 when this
 * process was not started by one. */
int pdl_mpi_launch_size(void);
/* Initializes MPI (threads: MPI_THREAD_MULTIPLE) and returns the job. A build without MPI
 * returns PDL_ERR_UNSUPPORTED "built without MPI". Call once per process; free with
 * pdl_mpi_finalize. */
pdl_status pdl_mpi_init(pdl_comm **out);
int pdl_comm_rank(const pdl_comm *comm);
int pdl_comm_size(const pdl_comm *comm);
/* Ranks on this machine (each gets cores / local size compute threads by default). */
int pdl_comm_local_size(const pdl_comm *comm);
/* MPI_Finalize; comm may be NULL. */
void pdl_mpi_finalize(pdl_comm *comm);
/* Ends every process of the job with exit code code (MPI_Abort): for the command line after
 * it printed why. The one libpdl function that does not return. */
void pdl_mpi_abort(pdl_comm *comm, int code);

/* The linear scaling rule (Goyal et al. 2017): the learning rate (and min_lr) times
 * batch / reference_batch. Combine with warmup_iters for their gradual warmup. */
pdl_status pdl_lr_scale_linear(pdl_train_config *config, int64_t reference_batch);

#ifdef __cplusplus
}
#endif
#endif
