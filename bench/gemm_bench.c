/* Benchmark of pdl_cpu_gemm against OpenBLAS (Debian's libopenblas.so.0, loaded at run time) in
 * the same run: square problems and the shapes of convolution and fully-connected layers, on 1
 * thread and on all, as GFLOP/s (median of --runs samples after a warm-up), % of the machine's
 * measured FMA peak (pdl_machine_peak) and the ratio pdl / OpenBLAS. Not part of the test run.
 * Built by CMake (PDL_BENCH, on by default) as build/bench/gemm_bench.
 * Usage: gemm_bench [--threads N] [--runs N] [--best] [--only TEXT] [--isa c|avx2|avx512]
 *   --best reports the highest sample instead of the median (the speed without other load);
 *   --only runs the problems whose description contains TEXT. */
#include "backend/cpu/cpu_isa.h"
#include "backend/cpu/gemm.h"
#include "pdl/bench.h"

#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SAMPLE_SECONDS 0.02 /* a sample repeats the call until it lasts about this long */

/* cblas_sgemm with CblasRowMajor = 101, CblasNoTrans = 111, CblasTrans = 112. */
typedef void (*cblas_sgemm_fn)(int order, int trans_a, int trans_b, int m, int n, int k,
                               float alpha, const float *a, int lda, const float *b, int ldb,
                               float beta, float *c, int ldc);
typedef void (*set_threads_fn)(int threads);

typedef struct openblas {
    void *handle;
    cblas_sgemm_fn sgemm;
    set_threads_fn set_threads;
} openblas;

typedef struct problem {
    const char *what;
    bool trans_a, trans_b;
    int64_t m, n, k;
} problem;

/* One library's call on one problem. */
typedef struct runner {
    const problem *p;
    pdl_threadpool *pool; /* pdl: NULL for one thread */
    const openblas *blas; /* NULL: pdl */
    int threads;
    const float *a, *b;
    float *c;
} runner;

static void run_once(const runner *r)
{
    const problem *p = r->p;
    int64_t lda = p->trans_a ? p->m : p->k, ldb = p->trans_b ? p->k : p->n;
    if (!r->blas) {
        pdl_cpu_gemm(r->pool, p->trans_a, p->trans_b, p->m, p->n, p->k, 1.0f, r->a, lda, r->b,
                     ldb, 0.0f, r->c, p->n);
        return;
    }
    r->blas->sgemm(101, p->trans_a ? 112 : 111, p->trans_b ? 112 : 111, (int)p->m, (int)p->n,
                   (int)p->k, 1.0f, r->a, (int)lda, r->b, (int)ldb, 0.0f, r->c, (int)p->n);
}

/* Calls per sample: enough for the sample to last about SAMPLE_SECONDS (the first call is the
 * warm-up). */
static int sample_reps(const runner *r)
{
    if (r->blas)
        r->blas->set_threads(r->threads);
    double start = pdl_seconds();
    run_once(r);
    double once = pdl_seconds() - start;
    return once >= SAMPLE_SECONDS ? 1 : (int)(SAMPLE_SECONDS / fmax(once, 1e-7)) + 1;
}

static double sample_gflops(const runner *r, int reps)
{
    if (r->blas)
        r->blas->set_threads(r->threads);
    double start = pdl_seconds();
    for (int i = 0; i < reps; i++)
        run_once(r);
    double seconds = pdl_seconds() - start;
    return 2.0 * (double)r->p->m * (double)r->p->n * (double)r->p->k * reps / seconds / 1e9;
}

/* GFLOP/s of pdl and of OpenBLAS (out[0], out[1]): the median, or with best the highest, of
 * runs samples taken in turn, so that both meet the same load from other processes. Each pdl
 * sample waits for OpenBLAS's threads, which spin for a while after a call, to go to sleep. */
static void measure(const runner *pdl, const runner *blas, int runs, bool best, double out[2])
{
    const runner *r[2] = {pdl, blas};
    int reps[2] = {sample_reps(pdl), sample_reps(blas)};
    double gflops[2][64];
    for (int s = 0; s < runs; s++)
        for (int i = 0; i < 2; i++) {
            if (i == 0 && blas->threads > 1)
                nanosleep(&(struct timespec){.tv_nsec = 100000000}, NULL);
            gflops[i][s] = sample_gflops(r[i], reps[i]);
        }
    for (int i = 0; i < 2; i++) {
        pdl_timing_stats stats = pdl_timing_stats_of(gflops[i], runs);
        out[i] = best ? stats.max : stats.median;
    }
}

/* Largest |x - y| relative to the largest |y| of the (m, n) results. */
static double max_relative_difference(const float *x, const float *y, int64_t count)
{
    double diff = 0.0, scale = 1e-30;
    for (int64_t i = 0; i < count; i++) {
        diff = fmax(diff, fabs((double)x[i] - (double)y[i]));
        scale = fmax(scale, fabs((double)y[i]));
    }
    return diff / scale;
}

static int usage(const char *message)
{
    fprintf(stderr, "gemm_bench: %s\nusage: gemm_bench [--threads N] [--runs N (1-64)] "
            "[--best] [--only TEXT] [--isa c|avx2|avx512]\n", message);
    return 2;
}

int main(int argc, char **argv)
{
    int threads = 0, runs = 7;
    bool best = false;
    const char *only = "";
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
            threads = atoi(argv[++i]);
            if (threads < 1)
                return usage("--threads: expected a positive count");
        } else if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc) {
            runs = atoi(argv[++i]);
            if (runs < 1 || runs > 64)
                return usage("--runs: expected 1 to 64");
        } else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc) {
            only = argv[++i];
        } else if (strcmp(argv[i], "--best") == 0) {
            best = true;
        } else if (strcmp(argv[i], "--isa") == 0 && i + 1 < argc) {
            pdl_cpu_isa isa;
            if (pdl_cpu_isa_parse(argv[++i], &isa) != PDL_OK || pdl_cpu_isa_force(isa) != PDL_OK)
                return usage(pdl_last_error());
        } else {
            char message[256];
            snprintf(message, sizeof message, "unknown option or missing value: %s", argv[i]);
            return usage(message);
        }
    }
    openblas blas = {.handle = dlopen("libopenblas.so.0", RTLD_NOW | RTLD_LOCAL)};
    if (blas.handle) {
        /* POSIX's way from dlsym's object pointer to a function pointer (ISO C has none). */
        *(void **)&blas.sgemm = dlsym(blas.handle, "cblas_sgemm");
        *(void **)&blas.set_threads = dlsym(blas.handle, "openblas_set_num_threads");
    }
    if (!blas.sgemm || !blas.set_threads) {
        fprintf(stderr, "gemm_bench: cannot load cblas_sgemm from libopenblas.so.0 (%s)\n",
                dlerror());
        return 1;
    }
    pdl_machine_peak_result peak;
    pdl_threadpool *pool = NULL;
    if (pdl_machine_peak(&peak) != PDL_OK || pdl_threadpool_create(threads, &pool) != PDL_OK) {
        fprintf(stderr, "gemm_bench: %s\n", pdl_last_error());
        return 1;
    }
    threads = pdl_threadpool_threads(pool);
    const problem problems[] = {
        {"square 128", false, false, 128, 128, 128},
        {"square 256", false, false, 256, 256, 256},
        {"square 512", false, false, 512, 512, 512},
        {"square 1024", false, false, 1024, 1024, 1024},
        {"square 1024 A^T", true, false, 1024, 1024, 1024},
        {"square 1024 B^T", false, true, 1024, 1024, 1024},
        {"square 1536", false, false, 1536, 1536, 1536},
        {"square 2048", false, false, 2048, 2048, 2048},
        {"conv 64x3136x288", false, false, 64, 3136, 288},
        {"conv 64x3136x576", false, false, 64, 3136, 576},
        {"conv 256x196x2304", false, false, 256, 196, 2304},
        {"conv 512x49x4608", false, false, 512, 49, 4608},
        {"conv bwd-d 576x3136x64 A^T", true, false, 576, 3136, 64},
        {"conv bwd-w 64x576x3136 B^T", false, true, 64, 576, 3136},
        {"fc 32x4096x9216 B^T", false, true, 32, 4096, 9216},
        {"fc bwd-w 1000x4096x32 A^T", true, false, 1000, 4096, 32},
        {"odd 127x129x131", false, false, 127, 129, 131},
    };
    size_t most = 2048 * 2048 * 2; /* floats of the largest operand (fc B: 4096 x 9216) */
    most = most > (size_t)4096 * 9216 ? most : (size_t)4096 * 9216;
    float *a = malloc(most * sizeof(float)), *b = malloc(most * sizeof(float));
    float *c = malloc(most * sizeof(float)), *c_blas = malloc(most * sizeof(float));
    if (!a || !b || !c || !c_blas) {
        fprintf(stderr, "gemm_bench: out of memory\n");
        return 1;
    }
    for (size_t i = 0; i < most; i++) {
        a[i] = (float)((i * 7919) % 1000) / 1000.0f - 0.5f;
        b[i] = (float)((i * 104729) % 1000) / 1000.0f - 0.5f;
    }
    printf("FMA peak (%s): %.1f GFLOP/s on 1 thread, %.1f on %d; pdl kernel: %s; "
           "%s of %d samples, wall time\n", peak.isa, peak.gflops_1thread, peak.gflops_all,
           peak.threads, pdl_cpu_isa_name(pdl_cpu_isa_active()), best ? "best" : "median", runs);
    char pdl_n[16], blas_n[16];
    snprintf(pdl_n, sizeof pdl_n, "pdl %dt", threads);
    snprintf(blas_n, sizeof blas_n, "blas %dt", threads);
    printf("%-28s | %7s %7s %5s %5s | %7s %7s %5s %5s | %s\n", "problem (m x n x k)", "pdl 1t",
           "blas 1t", "ratio", "%pk", pdl_n, blas_n, "ratio", "%pk", "max rel diff");
    for (size_t i = 0; i < sizeof problems / sizeof problems[0]; i++) {
        const problem *p = &problems[i];
        if (!strstr(p->what, only))
            continue;
        runner pdl1 = {p, NULL, NULL, 1, a, b, c}, pdln = {p, pool, NULL, threads, a, b, c};
        runner blas1 = {p, NULL, &blas, 1, a, b, c_blas};
        runner blasn = {p, NULL, &blas, threads, a, b, c_blas};
        double one[2], all[2];
        measure(&pdl1, &blas1, runs, best, one);
        measure(&pdln, &blasn, runs, best, all);
        printf("%-28s | %7.1f %7.1f %5.2f %4.0f%% | %7.1f %7.1f %5.2f %4.0f%% | %.1e\n", p->what,
               one[0], one[1], one[0] / one[1], 100.0 * one[0] / peak.gflops_1thread, all[0],
               all[1], all[0] / all[1], 100.0 * all[0] / peak.gflops_all,
               max_relative_difference(c, c_blas, p->m * p->n));
        fflush(stdout);
    }
    free(a);
    free(b);
    free(c);
    free(c_blas);
    pdl_threadpool_free(pool);
    dlclose(blas.handle);
    return 0;
}
