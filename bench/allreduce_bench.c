/* Benchmark of data-parallel training: allreduce bandwidth of pdl's tree and ring over threads
 * (in one process) or over MPI, and MPI_Allreduce, for buffers of 4 KB .. 256 MB, reported as
 * NCCL-tests does (algbw = bytes / time, busbw = algbw * 2 (N - 1) / N); and training
 * throughput of pdl_train with one worker on all threads, N workers in one process, or one
 * worker per MPI rank. Medians of 5 runs after a warm-up. Not part of the test run.
 * Built by CMake (PDL_BENCH, on by default) as build/bench/allreduce_bench; MPI modes need a
 * build with MPI.
 * Usage:
 *   allreduce_bench [WORKERS [MAX_MB]]       threads: tree and ring between WORKERS (2) threads
 *   mpirun -np N allreduce_bench [MAX_MB]    MPI: ring, tree and MPI_Allreduce between N ranks
 *   [mpirun -np N --bind-to none] allreduce_bench train MODEL.cfg IMAGES LABELS [STEPS [WORKERS]]
 *       images/s of pdl_train between STEPS and 2 STEPS steps (60), with 1 worker on all
 *       threads and WORKERS (2) workers in one process (under mpirun on rank 0 while the
 *       others wait) and, under mpirun, one worker per rank; all setups alternate. */
#include "dist/reduce.h"
#include "pdl/pdl.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

enum { RUNS = 5, MAX_WORKERS = 16 };

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* CPU seconds of this process so far, all threads. */
static double cpu_s(void)
{
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return (double)(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
           1e-6 * (double)(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

static int compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, compare_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* ---- allreduce bandwidth ------------------------------------------------------------------ */

typedef struct bw_rank {
    pdl_transport *t;
    int rank;
    float *buf;
    pthread_barrier_t *barrier; /* threads; MPI ranks meet in a one-float tree sum */
} bw_rank;

static void barrier(const bw_rank *r)
{
    float x = 0;
    if (r->barrier)
        pthread_barrier_wait(r->barrier);
    else
        pdl_reduce_sum(r->t, r->rank, PDL_REDUCE_TREE, &x, 1);
}

/* Seconds per allreduce of n floats with algo (median of RUNS runs of iters each), as rank 0
 * sees it; every rank calls it. */
static double time_allreduce(const bw_rank *r, pdl_reduce_algo algo, int64_t n, int iters)
{
    double t[RUNS];
    for (int run = -1; run < RUNS; run++) {
        barrier(r);
        double t0 = now_s();
        for (int i = 0; i < iters; i++)
            if (pdl_reduce_sum(r->t, r->rank, algo, r->buf, n) != PDL_OK) {
                fprintf(stderr, "rank %d: %s\n", r->rank, pdl_last_error());
                exit(1);
            }
        barrier(r);
        if (run >= 0)
            t[run] = (now_s() - t0) / iters;
    }
    return median(t, RUNS);
}

static int64_t max_bytes = (int64_t)256 << 20;

static void bandwidth(const bw_rank *r, const pdl_reduce_algo *algos, int n_algos)
{
    const int size = r->t->size;
    if (r->rank == 0) {
        printf("allreduce over %s, %d ranks (busbw = algbw * 2(N-1)/N); medians of %d runs\n",
               r->t->kind, size, RUNS);
        printf("%12s", "bytes");
        for (int a = 0; a < n_algos; a++)
            printf("  %5s time(us) algbw busbw", pdl_reduce_algo_name(algos[a]));
        printf("   (GB/s)\n");
    }
    for (int64_t bytes = 4096; bytes <= max_bytes; bytes *= 4) {
        int64_t n = bytes / 4;
        int iters = bytes <= (1 << 20) ? 200 : bytes <= (16 << 20) ? 10 : 1;
        if (r->rank == 0)
            printf("%12lld", (long long)bytes);
        for (int a = 0; a < n_algos; a++) {
            double s = time_allreduce(r, algos[a], n, iters);
            double algbw = (double)bytes / s / 1e9;
            if (r->rank == 0)
                printf("  %14.1f %5.2f %5.2f", s * 1e6, algbw, algbw * 2.0 * (size - 1) / size);
        }
        if (r->rank == 0) {
            printf("\n");
            fflush(stdout);
        }
    }
}

static void *bw_thread(void *arg)
{
    static const pdl_reduce_algo algos[] = {PDL_REDUCE_TREE, PDL_REDUCE_RING};
    bandwidth(arg, algos, 2);
    return NULL;
}

static int bench_threads(int workers)
{
    pdl_transport *t = NULL;
    pthread_barrier_t b;
    bw_rank ranks[MAX_WORKERS];
    pthread_t threads[MAX_WORKERS];
    if (pdl_transport_threads_create(workers, &t) != PDL_OK)
        return 1;
    pthread_barrier_init(&b, NULL, (unsigned)workers);
    for (int r = 0; r < workers; r++) {
        ranks[r] = (bw_rank){t, r, calloc((size_t)max_bytes, 1), &b};
        if (!ranks[r].buf)
            return 1;
        pthread_create(&threads[r], NULL, bw_thread, &ranks[r]);
    }
    for (int r = 0; r < workers; r++) {
        pthread_join(threads[r], NULL);
        free(ranks[r].buf);
    }
    pthread_barrier_destroy(&b);
    t->ops->free(t);
    return 0;
}

static int bench_mpi(pdl_comm *comm)
{
    static const pdl_reduce_algo algos[] = {PDL_REDUCE_RING, PDL_REDUCE_TREE, PDL_REDUCE_MPI};
    pdl_transport *t = NULL;
    if (pdl_transport_mpi_create(comm, &t) != PDL_OK)
        return 1;
    bw_rank r = {t, pdl_comm_rank(comm), calloc((size_t)max_bytes, 1), NULL};
    if (!r.buf)
        return 1;
    bandwidth(&r, algos, 3);
    free(r.buf);
    t->ops->free(t);
    return 0;
}

/* ---- training throughput ------------------------------------------------------------------- */

/* Seconds of pdl_train for steps steps of model on src with dist (NULL: one worker). */
static double train_seconds(const char *model, pdl_data_source *src, const pdl_dist_options *dist,
                            int64_t steps, pdl_dist_stats *stats)
{
    pdl_net *net = NULL;
    pdl_dist_options d = dist ? *dist : (pdl_dist_options){0};
    d.stats = stats;
    if (pdl_net_load(model, &net) != PDL_OK)
        goto fail;
    pdl_train_options o = {.max_steps = steps, .dist = &d};
    if (pdl_train_config_from_text(pdl_net_source_text(net), model, &o.config) != PDL_OK)
        goto fail;
    o.config.epochs = 1000;
    double t0 = now_s();
    if (pdl_train(net, src, NULL, &o) != PDL_OK)
        goto fail;
    double t = now_s() - t0;
    pdl_net_free(net);
    return t;
fail:
    fprintf(stderr, "train: %s\n", pdl_last_error());
    exit(1);
}

/* One training setup of the throughput comparison. */
typedef struct setup {
    char label[128];
    pdl_dist_options dist;
    bool alone; /* one worker: dist unused */
    double rate[RUNS], reduce[RUNS], exposed[RUNS];
    double cpu[RUNS]; /* CPU ms per image, this process */
} setup;

/* Images/s over the steps between steps and 2 steps, which leaves out building the net,
 * starting the threads and the first steps; the reduction's shares of the step time. */
static void measure(setup *s, int run, const char *model, pdl_data_source *src, int64_t steps,
                    int64_t batch)
{
    pdl_dist_stats s1 = {0}, s2 = {0};
    const pdl_dist_options *d = s->alone ? NULL : &s->dist;
    double c0 = cpu_s();
    double t1 = train_seconds(model, src, d, steps, &s1);
    double c1 = cpu_s();
    double t2 = train_seconds(model, src, d, 2 * steps, &s2);
    s->cpu[run] = 1e3 * ((cpu_s() - c1) - (c1 - c0)) / (double)(steps * batch);
    double step_s = s2.step_seconds - s1.step_seconds;
    s->rate[run] = (double)(steps * batch) / (t2 - t1);
    s->reduce[run] = step_s > 0 ? (s2.reduce_seconds - s1.reduce_seconds) / step_s : 0;
    s->exposed[run] = step_s > 0 ? (s2.reduce_wait_seconds - s1.reduce_wait_seconds) / step_s : 0;
}

static int bench_train(int argc, char **argv, pdl_comm *comm)
{
    if (argc < 5) {
        fprintf(stderr, "usage: allreduce_bench train MODEL.cfg IMAGES LABELS [STEPS [WORKERS]]\n");
        return 2;
    }
    static const pdl_reduce_algo algos[] = {PDL_REDUCE_RING, PDL_REDUCE_TREE, PDL_REDUCE_MPI};
    const char *model = argv[2];
    int64_t steps = argc > 5 ? atoll(argv[5]) : 60;
    int workers = argc > 6 ? atoi(argv[6]) : 2;
    const int rank = pdl_comm_rank(comm);
    pdl_data_source *src = NULL;
    pdl_net *net = NULL;
    pdl_transport *t = NULL;
    pdl_train_config c;
    if (pdl_idx_open(argv[3], argv[4], &src) != PDL_OK || pdl_net_load(model, &net) != PDL_OK ||
        pdl_train_config_from_text(pdl_net_source_text(net), model, &c) != PDL_OK ||
        (comm && pdl_transport_mpi_create(comm, &t) != PDL_OK)) {
        fprintf(stderr, "train: %s\n", pdl_last_error());
        return 1;
    }
    pdl_net_free(net);
    /* In one process (under mpirun rank 0 alone, the other ranks idle): one worker, then
     * workers threads; under mpirun also one worker per rank. */
    setup setups[6] = {0};
    int n = 0;
    snprintf(setups[n].label, sizeof setups[n].label, "1 worker, all threads");
    setups[n++].alone = true;
    for (int a = 0; a < 2 + (comm != NULL); a++)
        for (int mpi = 0; mpi < 2; mpi++) {
            if ((mpi && !comm) || (!mpi && algos[a] == PDL_REDUCE_MPI))
                continue;
            setups[n].dist = (pdl_dist_options){
                .workers = mpi ? 0 : workers, .reduce = algos[a], .comm = mpi ? comm : NULL};
            snprintf(setups[n].label, sizeof setups[n].label, "%d %s, reduce %s",
                     mpi ? pdl_comm_size(comm) : workers, mpi ? "MPI ranks" : "workers (threads)",
                     pdl_reduce_algo_name(algos[a]));
            n++;
        }
    /* Setups alternate within each run, so that a busy spell of the machine hits them all. */
    for (int run = 0; run < RUNS; run++)
        for (int i = 0; i < n; i++) {
            float x = 0;
            if (rank == 0 || setups[i].dist.comm)
                measure(&setups[i], run, model, src, steps, c.batch);
            if (t && pdl_reduce_sum(t, rank, PDL_REDUCE_TREE, &x, 1) != PDL_OK)
                return 1;
        }
    /* CPU per image of the whole job: the ranks' medians summed. */
    float cpu[6];
    for (int i = 0; i < n; i++)
        cpu[i] = (float)median(setups[i].cpu, RUNS);
    if (t && pdl_reduce_sum(t, rank, PDL_REDUCE_TREE, cpu, n) != PDL_OK) {
        fprintf(stderr, "train: %s\n", pdl_last_error());
        return 1;
    }
    if (rank == 0) {
        printf("%s, batch %lld, %lld steps measured; medians of %d runs\n", model,
               (long long)c.batch, (long long)steps, RUNS);
        for (int i = 0; i < n; i++)
            printf("  %-32s %7.1f images/s  %5.2f CPU ms/image  reducing %5.1f%% of step "
                   "time, exposed %5.1f%%\n",
                   setups[i].label, median(setups[i].rate, RUNS), (double)cpu[i],
                   100 * median(setups[i].reduce, RUNS), 100 * median(setups[i].exposed, RUNS));
    }
    if (t)
        t->ops->free(t);
    pdl_data_source_free(src);
    return 0;
}

int main(int argc, char **argv)
{
    pdl_comm *comm = NULL;
    int rc;
    if (pdl_mpi_launch_size() > 0 && pdl_mpi_init(&comm) != PDL_OK) {
        fprintf(stderr, "%s\n", pdl_last_error());
        return 1;
    }
    bool train = argc > 1 && !strcmp(argv[1], "train");
    if (train) {
        rc = bench_train(argc, argv, comm);
    } else if (comm) {
        max_bytes = argc > 1 ? (int64_t)atoi(argv[1]) << 20 : max_bytes;
        rc = bench_mpi(comm);
    } else {
        int workers = argc > 1 ? atoi(argv[1]) : 2;
        max_bytes = argc > 2 ? (int64_t)atoi(argv[2]) << 20 : max_bytes;
        rc = workers >= 2 && workers <= MAX_WORKERS ? bench_threads(workers) : 2;
    }
    pdl_mpi_finalize(comm);
    return rc;
}
