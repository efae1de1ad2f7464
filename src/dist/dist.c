/* The parts of pdl/dist.h that do not need MPI: reducer names, the world size of a set of
 * options, recognizing an MPI launcher from the environment, the linear scaling rule. The MPI
 * job itself is src/dist/mpi/ (or src/dist/no_mpi/ in a build without MPI). */
#include "pdl/dist.h"

#include "core/error.h"

#include <stdlib.h>
#include <string.h>

static const char *const algo_names[] = {"default", "tree", "ring", "mpi"};

const char *pdl_reduce_algo_name(pdl_reduce_algo algo)
{
    return algo >= PDL_REDUCE_DEFAULT && algo <= PDL_REDUCE_MPI ? algo_names[algo] : "?";
}

pdl_status pdl_reduce_algo_parse(const char *text, pdl_reduce_algo *out)
{
    for (int a = PDL_REDUCE_TREE; a <= PDL_REDUCE_MPI; a++)
        if (!strcmp(text, algo_names[a])) {
            *out = (pdl_reduce_algo)a;
            return PDL_OK;
        }
    return pdl_error(PDL_ERR_INVALID, "unknown reducer '%.40s' (tree, ring or mpi)", text);
}

int pdl_dist_world(const pdl_dist_options *options)
{
    if (!options)
        return 1;
    if (options->comm)
        return pdl_comm_size(options->comm);
    return options->workers > 1 ? options->workers : 1;
}

/* A positive integer from the environment variable name, else 0. */
static int env_count(const char *name)
{
    const char *text = getenv(name);
    if (!text || !*text)
        return 0;
    char *end = NULL;
    long value = strtol(text, &end, 10);
    return *end == '\0' && value > 0 && value < 1 << 24 ? (int)value : 0;
}

int pdl_mpi_launch_size(void)
{
    static const char *const sizes[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "MV2_COMM_WORLD_SIZE"};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        if (env_count(sizes[i]))
            return env_count(sizes[i]);
    /* srun sets SLURM_STEP_ID only inside a job step, not in the batch script around it. */
    if (getenv("SLURM_STEP_ID") && getenv("SLURM_PROCID") && env_count("SLURM_STEP_NUM_TASKS"))
        return env_count("SLURM_STEP_NUM_TASKS");
    return getenv("PMIX_RANK") ? 1 : 0;
}

pdl_status pdl_lr_scale_linear(pdl_train_config *config, int64_t reference_batch)
{
    if (reference_batch < 1)
        return pdl_error(PDL_ERR_INVALID,
                         "linear lr scaling: the reference batch %lld is not "
                         "positive",
                         (long long)reference_batch);
    double k = (double)config->batch / (double)reference_batch;
    config->schedule.base_lr = (float)(config->schedule.base_lr * k);
    config->schedule.min_lr = (float)(config->schedule.min_lr * k);
    return PDL_OK;
}
