/* Benchmark of pdl_cpu_gemm: GFLOP/s on square and network-shaped problems with 1 and N threads,
 * against a naive triple loop and the machine's measured FMA peak. Medians of 5 runs after a
 * warm-up. Not part of the test run.
 * Build: gcc -std=c17 -O3 -march=native -D_GNU_SOURCE -Iinclude -Isrc bench/gemm_bench.c
 *        src/backend/cpu/gemm.c src/core/threadpool.c src/core/error.c -lm -lpthread
 * Usage: gemm_bench [threads] [wall] (threads default: all online cores; "wall" times
 * single-threaded runs in wall time instead of CPU time). */
#include "backend/cpu/gemm.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { RUNS = 5 };

/* Single-threaded runs are timed in the thread's CPU time, so that time slices lost to other
 * processes on a shared machine do not count; multi-threaded runs in wall time. */
static clockid_t clock_single = CLOCK_THREAD_CPUTIME_ID;

static double seconds(clockid_t id)
{
    struct timespec t;
    clock_gettime(id, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* C (m, n) = A (m, k) * B (k, n), the textbook i-j-p loop. */
static void naive_gemm(int64_t m, int64_t n, int64_t k, const float *a, const float *b, float *c)
{
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            float sum = 0.0f;
            for (int64_t p = 0; p < k; p++)
                sum += a[i * k + p] * b[p * n + j];
            c[i * n + j] = sum;
        }
}

/* acc (ROWS, LANES) = sum over steps of a[p] (ROWS) outer b[p] (LANES): the micro-kernel's
 * form, 10 ymm accumulators on AVX2. */
enum { ROWS = 5, LANES = 16, STEPS = 64 };
__attribute__((noinline)) static void outer_products(const float *restrict a,
                                                     const float *restrict b, float *restrict acc)
{
    float sum[ROWS * LANES];
    for (int j = 0; j < ROWS * LANES; j++)
        sum[j] = 0.0f;
    for (int p = 0; p < STEPS; p++) {
        float bv[LANES];
        for (int j = 0; j < LANES; j++)
            bv[j] = b[p * LANES + j];
#pragma GCC unroll 16
        for (int i = 0; i < ROWS; i++) {
            float ai = a[p * ROWS + i];
#pragma GCC unroll 32
            for (int j = 0; j < LANES; j++)
                sum[i * LANES + j] = fmaf(ai, bv[j], sum[i * LANES + j]);
        }
    }
    for (int j = 0; j < ROWS * LANES; j++)
        acc[j] = sum[j];
}

/* Single-core FMA ceiling of plain C: outer_products on L1-resident data, no memory traffic. */
static double peak_gflops(void)
{
    static float a[STEPS * ROWS], b[STEPS * LANES], acc[ROWS * LANES];
    for (int p = 0; p < STEPS * ROWS; p++)
        a[p] = 1e-3f * (float)(p % 7);
    for (int p = 0; p < STEPS * LANES; p++)
        b[p] = 1e-3f * (float)(p % 5);
    float sink = 0.0f;
    const long repeats = 400000;
    double best = 1e30;
    for (int r = 0; r < RUNS; r++) {
        double t = seconds(clock_single);
        for (long it = 0; it < repeats; it++) {
            outer_products(a, b, acc);
            sink += acc[it % (ROWS * LANES)];
        }
        t = seconds(clock_single) - t;
        if (t < best)
            best = t;
    }
    volatile float keep = sink;
    (void)keep;
    return 2.0 * ROWS * LANES * STEPS * (double)repeats / best / 1e9;
}

typedef struct problem {
    const char *what;
    bool trans_a, trans_b;
    int64_t m, n, k;
} problem;

/* Median seconds of RUNS calls after one warm-up. */
static double time_gemm(pdl_threadpool *pool, const problem *p, const float *a, const float *b,
                        float *c)
{
    double t[RUNS];
    clockid_t id = pool ? CLOCK_MONOTONIC : clock_single;
    int64_t lda = p->trans_a ? p->m : p->k, ldb = p->trans_b ? p->k : p->n;
    pdl_cpu_gemm(pool, p->trans_a, p->trans_b, p->m, p->n, p->k, 1.0f, a, lda, b, ldb, 0.0f, c,
                 p->n);
    for (int r = 0; r < RUNS; r++) {
        double start = seconds(id);
        pdl_cpu_gemm(pool, p->trans_a, p->trans_b, p->m, p->n, p->k, 1.0f, a, lda, b, ldb, 0.0f,
                     c, p->n);
        t[r] = seconds(id) - start;
    }
    qsort(t, RUNS, sizeof t[0], compare_double);
    return t[RUNS / 2];
}

int main(int argc, char **argv)
{
    int threads = argc > 1 ? atoi(argv[1]) : 0;
    if (argc > 2 && strcmp(argv[2], "wall") == 0)
        clock_single = CLOCK_MONOTONIC;
    pdl_threadpool *pool = NULL;
    if (pdl_threadpool_create(threads, &pool) != PDL_OK) {
        fprintf(stderr, "gemm_bench: %s\n", pdl_last_error());
        return 1;
    }
    const problem problems[] = {
        {"square 256", false, false, 256, 256, 256},
        {"square 512", false, false, 512, 512, 512},
        {"square 1024", false, false, 1024, 1024, 1024},
        {"square 1024 A^T", true, false, 1024, 1024, 1024},
        {"square 1024 B^T", false, true, 1024, 1024, 1024},
        {"conv fwd 64x3136x576", false, false, 64, 3136, 576},
        {"conv bwd-w 64x576x3136 B^T", false, true, 64, 576, 3136},
        {"fc fwd 64x128x3136 B^T", false, true, 64, 128, 3136},
        {"odd 127x129x131", false, false, 127, 129, 131},
    };
    size_t max_elems = 1024 * 1024 * 4;
    float *a = malloc(max_elems * sizeof(float));
    float *b = malloc(max_elems * sizeof(float));
    float *c = malloc(max_elems * sizeof(float));
    float *ref = malloc(max_elems * sizeof(float));
    if (!a || !b || !c || !ref) {
        fprintf(stderr, "gemm_bench: out of memory\n");
        return 1;
    }
    for (size_t i = 0; i < max_elems; i++) {
        a[i] = (float)((i * 7919) % 1000) / 1000.0f - 0.5f;
        b[i] = (float)((i * 104729) % 1000) / 1000.0f - 0.5f;
    }
    double peak = peak_gflops();
    printf("FMA ceiling (one core, L1-resident plain-C outer products): %.1f GFLOP/s\n", peak);
    printf("%-30s %10s %14s %10s   (1 thread: %s time)\n", "problem", "1 thread", "threads",
           "1t/ceiling", clock_single == CLOCK_MONOTONIC ? "wall" : "CPU");
    for (size_t i = 0; i < sizeof problems / sizeof problems[0]; i++) {
        const problem *p = &problems[i];
        double flops = 2.0 * (double)p->m * (double)p->n * (double)p->k;
        double t1 = time_gemm(NULL, p, a, b, c);
        double tn = time_gemm(pool, p, a, b, c);
        printf("%-30s %7.1f GF %7.1f GF (%d) %7.0f%%\n", p->what, flops / t1 / 1e9,
               flops / tn / 1e9, pdl_threadpool_threads(pool), 100.0 * flops / t1 / 1e9 / peak);
    }
    /* The naive loop on one size, checked against the blocked result. */
    problem p = {"square 512", false, false, 512, 512, 512};
    double t[RUNS];
    for (int r = 0; r < RUNS; r++) {
        double start = seconds(clock_single);
        naive_gemm(p.m, p.n, p.k, a, b, ref);
        t[r] = seconds(clock_single) - start;
    }
    qsort(t, RUNS, sizeof t[0], compare_double);
    pdl_cpu_gemm(NULL, false, false, p.m, p.n, p.k, 1.0f, a, p.k, b, p.n, 0.0f, c, p.n);
    double max_diff = 0.0;
    for (int64_t j = 0; j < p.m * p.n; j++)
        max_diff = fmax(max_diff, fabs((double)c[j] - (double)ref[j]));
    printf("naive i-j-p loop, square 512: %.2f GFLOP/s (max |diff| vs blocked %.2e)\n",
           2.0 * 512 * 512 * 512 / t[RUNS / 2] / 1e9, max_diff);
    free(a);
    free(b);
    free(c);
    free(ref);
    pdl_threadpool_free(pool);
    return 0;
}
