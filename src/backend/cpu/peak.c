/* The machine's physical limits for `pdl bench` (pdl_machine_peak): FP32 FMA throughput from a
 * register-resident loop of independent FMAs (AVX-512F, AVX2+FMA or portable C: the best set
 * cpu_isa.h detects) and memory bandwidth from a STREAM-style triad. Knows nothing of nets. */
#include "backend/cpu/cpu_isa.h"
#include "core/error.h"
#include "core/threadpool.h"
#include "pdl/bench.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

#if PDL_CPU_X86
#include <immintrin.h>
#endif

enum { FMA_RUNS = 10, TRIAD_RUNS = 8 };
#define CALIBRATE_SECONDS 0.01 /* grow the FMA loop until one run takes this long ... */
#define RUN_SECONDS 0.02       /* ... then size each timed run to about this */
#define TRIAD_BYTES ((size_t)256 << 20) /* the three triad arrays together */

/* Runs iterations rounds of independent FMA chains c = c * m + a and returns a value that
 * depends on all of them (so that the loop cannot be removed). */
typedef float (*fma_loop_fn)(int64_t iterations, float m, float a);

typedef struct fma_kernel {
    const char *isa;
    fma_loop_fn loop;
    double flops_per_iteration; /* chains x lanes x 2 */
} fma_kernel;

/* Values of the chains: m just below 1 keeps c bounded (it tends to a / (1 - m)) and normal.
 * Read through volatile so that the compiler cannot specialize the loops on constants. */
static volatile float chain_m = 0.999999f, chain_a = 1e-6f;

#if PDL_CPU_X86
/* 16 zmm chains: enough to cover 2 FMA ports x 4 cycles of latency twice over. */
#define ZMM_CHAINS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) \
    X(12) X(13) X(14) X(15)
__attribute__((target("avx512f"), noinline)) static float fma_loop_avx512(int64_t iterations,
                                                                          float m, float a)
{
    const __m512 vm = _mm512_set1_ps(m), va = _mm512_set1_ps(a);
#define DECLARE(i) __m512 c##i = _mm512_set1_ps((float)(i));
    ZMM_CHAINS(DECLARE)
#undef DECLARE
    for (int64_t it = 0; it < iterations; it++) {
#define STEP(i) c##i = _mm512_fmadd_ps(c##i, vm, va);
        ZMM_CHAINS(STEP)
#undef STEP
    }
    __m512 sum = _mm512_setzero_ps();
#define ADD(i) sum = _mm512_add_ps(sum, c##i);
    ZMM_CHAINS(ADD)
#undef ADD
    float lanes[16];
    _mm512_storeu_ps(lanes, sum);
    return lanes[0] + lanes[15];
}

/* 12 ymm chains: 2 FMA ports x 4-5 cycles of latency need 8-10 in flight. */
#define YMM_CHAINS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)
__attribute__((target("avx2,fma"), noinline)) static float fma_loop_avx2(int64_t iterations,
                                                                         float m, float a)
{
    const __m256 vm = _mm256_set1_ps(m), va = _mm256_set1_ps(a);
#define DECLARE(i) __m256 c##i = _mm256_set1_ps((float)(i));
    YMM_CHAINS(DECLARE)
#undef DECLARE
    for (int64_t it = 0; it < iterations; it++) {
#define STEP(i) c##i = _mm256_fmadd_ps(c##i, vm, va);
        YMM_CHAINS(STEP)
#undef STEP
    }
    __m256 sum = _mm256_setzero_ps();
#define ADD(i) sum = _mm256_add_ps(sum, c##i);
    YMM_CHAINS(ADD)
#undef ADD
    float lanes[8];
    _mm256_storeu_ps(lanes, sum);
    return lanes[0] + lanes[7];
}
#endif

/* Portable C: 32 chains of multiply-then-add (ISO C does not contract them into FMAs, so this
 * measures what plain C reaches, not the hardware's FMA peak). */
enum { C_CHAINS = 32 };
__attribute__((noinline)) static float fma_loop_c(int64_t iterations, float m, float a)
{
    float c[C_CHAINS];
    for (int j = 0; j < C_CHAINS; j++)
        c[j] = (float)j;
    for (int64_t it = 0; it < iterations; it++)
        for (int j = 0; j < C_CHAINS; j++)
            c[j] = c[j] * m + a;
    float sum = 0.0f;
    for (int j = 0; j < C_CHAINS; j++)
        sum += c[j];
    return sum;
}

/* The best loop this CPU runs (the hardware's limit, whatever set the kernels are forced to). */
static fma_kernel best_kernel(void)
{
    switch (pdl_cpu_isa_detect()) {
#if PDL_CPU_X86
    case PDL_ISA_AVX512:
        return (fma_kernel){"avx512f", fma_loop_avx512, 16.0 * 16 * 2};
    case PDL_ISA_AVX2:
        return (fma_kernel){"avx2+fma", fma_loop_avx2, 12.0 * 8 * 2};
#endif
    default:
        return (fma_kernel){"c", fma_loop_c, C_CHAINS * 2.0};
    }
}

/* ---- FMA throughput ------------------------------------------------------------------------ */

typedef struct fma_job {
    const fma_kernel *kernel;
    int64_t iterations;
    float m, a;
    float sink[256]; /* one slot per range: the loops' results, kept so they are not removed */
} fma_job;

static void fma_range(void *arg, int64_t begin, int64_t end)
{
    fma_job *job = arg;
    for (int64_t r = begin; r < end; r++)
        job->sink[r % 256] += job->kernel->loop(job->iterations, job->m, job->a);
}

/* GFLOP/s of one run of the loop on each of `threads` threads (pool NULL: the caller's thread
 * alone). */
static double fma_gflops(pdl_threadpool *pool, int threads, fma_job *job)
{
    double start = pdl_seconds();
    pdl_parallel_for(pool, threads, 1, fma_range, job);
    double seconds = pdl_seconds() - start;
    double flops = job->kernel->flops_per_iteration * (double)job->iterations * threads;
    return seconds > 0 ? flops / seconds / 1e9 : 0.0;
}

/* ---- triad bandwidth ----------------------------------------------------------------------- */

typedef struct triad_job {
    float *a, *b, *c; /* (n) each */
    float scale;
    bool init;        /* first touch: place the pages on the threads that use them */
} triad_job;

static void triad_range(void *arg, int64_t begin, int64_t end)
{
    const triad_job *job = arg;
    float *restrict a = job->a;
    const float *restrict b = job->b, *restrict c = job->c;
    if (job->init) {
        for (int64_t i = begin; i < end; i++) {
            job->a[i] = 0.0f;
            job->b[i] = 1.0f;
            job->c[i] = 2.0f;
        }
        return;
    }
    for (int64_t i = begin; i < end; i++)
        a[i] = b[i] + job->scale * c[i];
}

/* Best GB/s over TRIAD_RUNS triads after the first-touch pass, counting 12 bytes per element. The
 * arrays are mapped, not malloc'd, so that their pages go back to the system on return whatever
 * the allocator's settings (a peak RSS measured afterwards must not include them). */
static pdl_status triad_gbs(pdl_threadpool *pool, double *out)
{
    const int64_t n = (int64_t)(TRIAD_BYTES / 3 / sizeof(float));
    void *block = mmap(NULL, TRIAD_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                       -1, 0);
    if (block == MAP_FAILED)
        return pdl_error(PDL_ERR_NOMEM, "machine peak: cannot map the %zu MiB of the triad",
                         TRIAD_BYTES >> 20);
    float *base = block;
    triad_job job = {.a = base, .b = base + n, .c = base + 2 * n, .scale = 3.0f, .init = true};
    const int64_t grain = 1 << 16;
    pdl_parallel_for(pool, n, grain, triad_range, &job);
    job.init = false;
    double best = 0.0;
    for (int r = 0; r < TRIAD_RUNS; r++) {
        double start = pdl_seconds();
        pdl_parallel_for(pool, n, grain, triad_range, &job);
        double seconds = pdl_seconds() - start;
        double bytes = 3.0 * sizeof(float) * (double)n;
        if (seconds > 0 && bytes / seconds / 1e9 > best)
            best = bytes / seconds / 1e9;
    }
    *out = best;
    munmap(block, TRIAD_BYTES);
    return PDL_OK;
}

/* ---- together ------------------------------------------------------------------------------ */

pdl_status pdl_machine_peak(pdl_machine_peak_result *out)
{
    PDL_ASSERT(out);
    const double start = pdl_seconds();
    pdl_threadpool *pool = NULL;
    pdl_status st = pdl_threadpool_create(0, &pool);
    if (st)
        return pdl_error_context(st, "machine peak");
    const fma_kernel kernel = best_kernel();
    fma_job job = {.kernel = &kernel, .iterations = 1 << 14, .m = chain_m, .a = chain_a};
    /* Calibrate on one thread: double the loop until a run is long enough to time. */
    for (;;) {
        double t = pdl_seconds();
        fma_range(&job, 0, 1);
        t = pdl_seconds() - t;
        if (t >= CALIBRATE_SECONDS || job.iterations > ((int64_t)1 << 40)) {
            double scaled = (double)job.iterations * RUN_SECONDS / (t > 0 ? t : CALIBRATE_SECONDS);
            job.iterations = scaled < 1 ? 1 : (int64_t)scaled;
            break;
        }
        job.iterations *= 2;
    }
    const int threads = pdl_threadpool_threads(pool);
    *out = (pdl_machine_peak_result){.isa = kernel.isa, .threads = threads};
    /* The best of FMA_RUNS each, 1-thread and all-threads runs interleaved, so that a moment
     * when another process (or the hypervisor) takes a core spoils one run, not a figure. */
    for (int r = 0; r < FMA_RUNS; r++) {
        out->gflops_1thread = fmax(out->gflops_1thread, fma_gflops(NULL, 1, &job));
        if (threads > 1)
            out->gflops_all = fmax(out->gflops_all, fma_gflops(pool, threads, &job));
    }
    if (threads == 1)
        out->gflops_all = out->gflops_1thread;
    st = triad_gbs(pool, &out->bandwidth_gbs);
    pdl_threadpool_free(pool);
    out->seconds = pdl_seconds() - start;
    return st;
}
