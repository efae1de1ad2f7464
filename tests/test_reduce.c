/* Tests of the reducers alone over the threads transport: for 1..5 ranks and odd lengths (some
 * shorter than the rank count), tree and ring sums equal the double-precision sum within fp32
 * rounding, equal bit for bit the order of additions docs/distributed.md documents, are the
 * same bits on every rank and in a second run; the broadcast copies rank 0's bytes; a rank
 * that fails releases the others with an error naming it instead of a hang. Also the reducer
 * names, the linear scaling rule and recognizing an MPI launcher. */
#include "core/rng.h"
#include "dist/reduce.h"
#include "harness.h"
#include "pdl/pdl.h"

#include <pthread.h>
#include <string.h>

enum { MAX_RANKS = 5 };

typedef struct rank_job {
    pdl_transport *t;
    int rank;
    pdl_reduce_algo algo;
    float *buf;
    int64_t n;
    int fail_rank; /* this rank calls fail instead of reducing (-1: none) */
    pdl_status status;
    char message[512];
} rank_job;

static void *rank_main(void *arg)
{
    rank_job *j = arg;
    if (j->rank == j->fail_rank) {
        j->t->ops->fail(j->t, j->rank, "test failure");
        j->status = PDL_ERR_INVALID;
        return NULL;
    }
    j->status = j->algo == PDL_REDUCE_DEFAULT
                    ? pdl_reduce_broadcast(j->t, j->rank, j->buf, (size_t)j->n * sizeof(float))
                    : pdl_reduce_sum(j->t, j->rank, j->algo, j->buf, j->n);
    snprintf(j->message, sizeof j->message, "%s", pdl_last_error());
    return NULL;
}

/* Runs the reduction (algo) or, for PDL_REDUCE_DEFAULT, the broadcast on ranks threads;
 * buf[r] is rank r's buffer. Returns the number of ranks that failed. */
static int run_ranks(int ranks, pdl_reduce_algo algo, float **buf, int64_t n, int fail_rank,
                     rank_job *jobs)
{
    pdl_transport *t = NULL;
    pthread_t threads[MAX_RANKS];
    int failed = 0;
    CHECK_OK(pdl_transport_threads_create(ranks, &t));
    if (!t)
        return ranks;
    for (int r = 0; r < ranks; r++) {
        jobs[r] = (rank_job){t, r, algo, buf[r], n, fail_rank, PDL_OK, ""};
        pthread_create(&threads[r], NULL, rank_main, &jobs[r]);
    }
    for (int r = 0; r < ranks; r++) {
        pthread_join(threads[r], NULL);
        failed += jobs[r].status != PDL_OK;
    }
    t->ops->free(t);
    return failed;
}

static float value(int rank, int64_t i, uint64_t seed)
{
    /* Mixed magnitudes and signs, so that the order of additions changes the rounding. */
    float u = pdl_rng_uniform(seed, (uint64_t)rank, (uint64_t)i);
    float scale = (i % 3 == 0) ? 1000.0f : (i % 3 == 1) ? 1.0f : 0.001f;
    return (2.0f * u - 1.0f) * scale;
}

/* The sum of element i in the documented fp32 order. */
static float documented(pdl_reduce_algo algo, int ranks, int64_t n, int64_t i, uint64_t seed)
{
    if (algo == PDL_REDUCE_TREE) {
        float partial[MAX_RANKS];
        for (int r = 0; r < ranks; r++)
            partial[r] = value(r, i, seed);
        for (int s = 1; s < ranks; s *= 2)
            for (int r = 0; r + s < ranks; r += 2 * s)
                partial[r] = partial[r] + partial[r + s];
        return partial[0];
    }
    int c = 0; /* chunk of element i: [c*n/N, (c+1)*n/N) */
    while (!(i >= n * c / ranks && i < n * (c + 1) / ranks))
        c++;
    float sum = value(c, i, seed);
    for (int k = 1; k < ranks; k++)
        sum = sum + value((c + k) % ranks, i, seed);
    return sum;
}

static void test_sums(void)
{
    static const int64_t lengths[] = {1, 2, 3, 4, 7, 33, 1001, 4099};
    static const pdl_reduce_algo algos[] = {PDL_REDUCE_TREE, PDL_REDUCE_RING};
    for (int ranks = 1; ranks <= MAX_RANKS; ranks++)
        for (size_t a = 0; a < 2; a++)
            for (size_t l = 0; l < sizeof lengths / sizeof lengths[0]; l++) {
                const int64_t n = lengths[l];
                const uint64_t seed = 100 + (uint64_t)l;
                float *buf[MAX_RANKS], *first = malloc((size_t)n * sizeof(float));
                rank_job jobs[MAX_RANKS];
                for (int run = 0; run < 2; run++) {
                    for (int r = 0; r < ranks; r++) {
                        buf[r] = malloc((size_t)n * sizeof(float));
                        for (int64_t i = 0; i < n; i++)
                            buf[r][i] = value(r, i, seed);
                    }
                    CHECK(run_ranks(ranks, algos[a], buf, n, -1, jobs) == 0);
                    int exact = 0, close = 0, same = 0;
                    for (int64_t i = 0; i < n; i++) {
                        double sum = 0, mag = 0;
                        for (int r = 0; r < ranks; r++) {
                            sum += value(r, i, seed);
                            mag += fabs(value(r, i, seed));
                        }
                        float want = documented(algos[a], ranks, n, i, seed);
                        exact += memcmp(&buf[0][i], &want, sizeof want) == 0;
                        close += fabs(buf[0][i] - sum) <= ranks * 1.2e-7 * mag;
                        for (int r = 1; r < ranks; r++)
                            same += memcmp(&buf[r][i], &buf[0][i], sizeof(float)) == 0;
                    }
                    if (exact != n || close != n || same != n * (ranks - 1))
                        fprintf(stderr, "%s, %d ranks, n %lld: %d exact, %d close, %d same\n",
                                pdl_reduce_algo_name(algos[a]), ranks, (long long)n, exact, close,
                                same);
                    CHECK(exact == n && close == n && same == n * (ranks - 1));
                    if (run == 0)
                        memcpy(first, buf[0], (size_t)n * sizeof(float));
                    else
                        CHECK(memcmp(first, buf[0], (size_t)n * sizeof(float)) == 0);
                    for (int r = 0; r < ranks; r++)
                        free(buf[r]);
                }
                free(first);
            }
}

static void test_broadcast(void)
{
    for (int ranks = 1; ranks <= MAX_RANKS; ranks++) {
        const int64_t n = 37;
        float *buf[MAX_RANKS];
        rank_job jobs[MAX_RANKS];
        for (int r = 0; r < ranks; r++) {
            buf[r] = malloc((size_t)n * sizeof(float));
            for (int64_t i = 0; i < n; i++)
                buf[r][i] = value(r, i, 9);
        }
        CHECK(run_ranks(ranks, PDL_REDUCE_DEFAULT, buf, n, -1, jobs) == 0);
        for (int r = 1; r < ranks; r++)
            CHECK(memcmp(buf[r], buf[0], (size_t)n * sizeof(float)) == 0);
        for (int64_t i = 0; i < n; i++)
            CHECK(buf[0][i] == value(0, i, 9));
        for (int r = 0; r < ranks; r++)
            free(buf[r]);
    }
}

/* A rank that gives up: every other rank returns (no hang) with an error naming it. */
static void test_failure(void)
{
    static const pdl_reduce_algo algos[] = {PDL_REDUCE_TREE, PDL_REDUCE_RING};
    for (size_t a = 0; a < 2; a++)
        for (int fail = 0; fail < 3; fail++) {
            const int ranks = 4;
            const int64_t n = 5000;
            float *buf[MAX_RANKS];
            rank_job jobs[MAX_RANKS];
            for (int r = 0; r < ranks; r++)
                buf[r] = calloc((size_t)n, sizeof(float));
            CHECK(run_ranks(ranks, algos[a], buf, n, fail, jobs) == ranks);
            char needle[32];
            snprintf(needle, sizeof needle, "worker %d failed: test failure", fail);
            for (int r = 0; r < ranks; r++) {
                if (r != fail && !strstr(jobs[r].message, needle)) {
                    fprintf(stderr, "rank %d: '%s'\n", r, jobs[r].message);
                    CHECK(strstr(jobs[r].message, needle));
                }
                free(buf[r]);
            }
        }
}

static void test_names(void)
{
    pdl_reduce_algo algo = PDL_REDUCE_DEFAULT;
    CHECK_OK(pdl_reduce_algo_parse("tree", &algo));
    CHECK(algo == PDL_REDUCE_TREE);
    CHECK_OK(pdl_reduce_algo_parse("ring", &algo));
    CHECK(algo == PDL_REDUCE_RING);
    CHECK(pdl_reduce_algo_parse("star", &algo) == PDL_ERR_INVALID);
    CHECK(strstr(pdl_last_error(), "'star'"));
    CHECK(!strcmp(pdl_reduce_algo_name(PDL_REDUCE_MPI), "mpi"));
    pdl_transport *t = NULL;
    CHECK_OK(pdl_transport_threads_create(2, &t));
    float x[2] = {1, 2};
    CHECK(pdl_reduce_sum(t, 0, PDL_REDUCE_MPI, x, 2) == PDL_ERR_UNSUPPORTED);
    CHECK(strstr(pdl_last_error(), "needs MPI ranks"));
    t->ops->free(t);
}

static void test_lr_scale(void)
{
    pdl_train_config c = pdl_train_config_default();
    c.batch = 1024;
    c.schedule.base_lr = 0.1f;
    c.schedule.min_lr = 0.001f;
    CHECK_OK(pdl_lr_scale_linear(&c, 256));
    CHECK_CLOSE(c.schedule.base_lr, 0.4, 1e-7, 0);
    CHECK_CLOSE(c.schedule.min_lr, 0.004, 1e-9, 0);
    CHECK(pdl_lr_scale_linear(&c, 0) == PDL_ERR_INVALID);
}

/* An MPI launcher is recognized from its environment; a batch script around srun is not one. */
static void test_launch_env(void)
{
    static const char *const vars[] = {
        "OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "MV2_COMM_WORLD_SIZE", "SLURM_STEP_ID", "SLURM_PROCID",
        "SLURM_STEP_NUM_TASKS", "PMIX_RANK"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        unsetenv(vars[i]);
    CHECK(pdl_mpi_launch_size() == 0);
    setenv("SLURM_PROCID", "0", 1);
    setenv("SLURM_STEP_NUM_TASKS", "4", 1);
    CHECK(pdl_mpi_launch_size() == 0);
    setenv("SLURM_STEP_ID", "0", 1);
    CHECK(pdl_mpi_launch_size() == 4);
    setenv("OMPI_COMM_WORLD_SIZE", "3", 1);
    CHECK(pdl_mpi_launch_size() == 3);
    setenv("OMPI_COMM_WORLD_SIZE", "x", 1);
    CHECK(pdl_mpi_launch_size() == 4);
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        unsetenv(vars[i]);
    setenv("PMIX_RANK", "0", 1);
    CHECK(pdl_mpi_launch_size() == 1);
    unsetenv("PMIX_RANK");
}

int main(void)
{
    RUN(test_sums);
    RUN(test_broadcast);
    RUN(test_failure);
    RUN(test_names);
    RUN(test_lr_scale);
    RUN(test_launch_env);
    return harness_summary();
}
