/* The sgemm driver behind pdl_cpu_gemm: picks the kernel of the active instruction set
 * (cpu_isa.h), cuts C into jobs for the threads, and runs each job as GotoBLAS/BLIS do: loops
 * over column, depth and row blocks, packed, around a register-blocked micro-kernel. Also the
 * portable C kernel and packing routine; the ISA kernels live in gemm_avx2.c and gemm_avx512.c
 * (gemm_kernels.h). */
#include "backend/cpu/gemm.h"

#include "backend/cpu/cpu_isa.h"
#include "backend/cpu/gemm_kernels.h"

#include <math.h>
#include <stdatomic.h>
#include <stddef.h>

#define SINGLE_JOB_MACS (1 << 22) /* below this many multiply-adds, threads cost more */
#define MACS_PER_CYCLE 16.0       /* rough kernel speed, for weighing compute against ... */
#define PACK_CYCLES 0.5           /* ... the cycles of packing one element ... */
#define JOB_CYCLES 2000.0         /* ... and of starting one job */
#define JOBS_PER_THREAD_MAX 4     /* most jobs per thread worth considering */

/* ---- portable C kernel ------------------------------------------------------------------- */

enum { C_MR = 4, C_NR = 16, C_KC = 256, C_MC = C_MR * 32, C_NC = C_NR * 64 };
_Static_assert(C_MC * C_KC <= GEMM_PACK_A_FLOATS && C_KC * C_NC <= GEMM_PACK_B_FLOATS,
               "portable C blocks exceed the driver's packing buffers");

/* Fused multiply-add where it is fast; a*b+c elsewhere (ISO C mode does not contract). */
#if defined(FP_FAST_FMAF)
#define MADD(a, b, c) fmaf(a, b, c)
#else
#define MADD(a, b, c) ((a) * (b) + (c))
#endif

static void micro_c(int64_t kc, const float *restrict a, const float *restrict b, float *c,
                    int64_t ldc, int rows, int cols, float alpha, float beta)
{
    float acc[C_MR * C_NR] = {0};
    for (int64_t p = 0; p < kc; p++)
        for (int i = 0; i < C_MR; i++)
            for (int j = 0; j < C_NR; j++)
                acc[i * C_NR + j] = MADD(a[p * C_MR + i], b[p * C_NR + j], acc[i * C_NR + j]);
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++) {
            float t = alpha * acc[i * C_NR + j];
            c[i * ldc + j] = beta == 0.0f ? t : fmaf(beta, c[i * ldc + j], t);
        }
}

void pdl_gemm_pack(const float *src, int64_t ld, bool k_contiguous, int64_t count, int w,
                   int64_t kc, float *dst)
{
    for (int64_t q = 0; q * w < count; q++)
        for (int64_t p = 0; p < kc; p++)
            for (int i = 0; i < w; i++) {
                int64_t item = q * w + i;
                dst[(q * kc + p) * w + i] = item >= count ? 0.0f
                                            : k_contiguous ? src[item * ld + p]
                                                           : src[p * ld + item];
            }
}

static void pack_a_c(const float *src, int64_t ld, bool k_contiguous, int64_t count, int64_t kc,
                     float *dst)
{
    pdl_gemm_pack(src, ld, k_contiguous, count, C_MR, kc, dst);
}

static void pack_b_c(const float *src, int64_t ld, bool k_contiguous, int64_t count, int64_t kc,
                     float *dst)
{
    pdl_gemm_pack(src, ld, k_contiguous, count, C_NR, kc, dst);
}

const gemm_kernel *pdl_gemm_kernel_c(void)
{
    static const gemm_kernel kernel = {"c", C_MR, C_NR, C_KC, C_MC, C_NC, micro_c, pack_a_c,
                                       pack_b_c};
    return &kernel;
}

/* ---- driver ------------------------------------------------------------------------------ */

typedef struct gemm_args {
    const gemm_kernel *kernel;
    bool trans_a, trans_b;
    int64_t m, n, k;
    float alpha, beta;
    const float *a; // op(A) is (m, k)
    int64_t lda;
    const float *b; // op(B) is (k, n)
    int64_t ldb;
    float *c;       // C is (m, n)
    int64_t ldc;
    int64_t k_blocks;             /* k in this many nearly equal blocks of at most kernel->kc */
    int64_t job_rows, job_cols;   /* C block of one job: multiples of mr and nr */
    int64_t col_jobs, jobs;
    atomic_llong next_job;        /* jobs are taken in turn by whichever thread is free */
} gemm_args;

static int64_t min64(int64_t x, int64_t y)
{
    return x < y ? x : y;
}

static int64_t ceil_div(int64_t x, int64_t y)
{
    return (x + y - 1) / y;
}

/* Length of the blocks when count items split into nearly equal blocks of at most most items,
 * in whole units (so that no block is a thin remainder). */
static int64_t balanced_block(int64_t count, int64_t most, int64_t unit)
{
    int64_t blocks = ceil_div(count, most);
    return ceil_div(ceil_div(count, blocks), unit) * unit;
}

/* Packs op(A) rows [i0, i0 + rows) x k [p0, p0 + kc) into mr-row panels (kc, mr). */
static void pack_a_block(const gemm_args *g, int64_t i0, int64_t rows, int64_t p0, int64_t kc,
                         float *ap)
{
    const float *src = g->trans_a ? g->a + p0 * g->lda + i0  // A is (k, m)
                                  : g->a + i0 * g->lda + p0; // A is (m, k)
    g->kernel->pack_a(src, g->lda, !g->trans_a, rows, kc, ap);
}

/* Packs op(B) k [p0, p0 + kc) x columns [j0, j0 + cols) into nr-column panels (kc, nr). */
static void pack_b_block(const gemm_args *g, int64_t p0, int64_t kc, int64_t j0, int64_t cols,
                         float *bp)
{
    const float *src = g->trans_b ? g->b + j0 * g->ldb + p0  // B is (n, k)
                                  : g->b + p0 * g->ldb + j0; // B is (k, n)
    g->kernel->pack_b(src, g->ldb, g->trans_b, cols, kc, bp);
}

/* One job: C rows [i0, i1) x columns [j0, j1). For each column block (at most nc) and each k
 * block (in increasing k: the summation order), the packed B block (kc x nc) serves every packed
 * A block (mc x kc) of the job's rows; each A panel stays in L1 while the B block's panels
 * stream past it from L2 and L3 (measured faster here than the other way round). */
static void run_job(const gemm_args *g, int64_t i0, int64_t i1, int64_t j0, int64_t j1,
                    float *ap, float *bp)
{
    const gemm_kernel *kn = g->kernel;
    const int64_t mc = balanced_block(i1 - i0, kn->mc, kn->mr);
    const int64_t nc = balanced_block(j1 - j0, kn->nc, kn->nr);
    for (int64_t jc = j0; jc < j1; jc += nc) {
        int64_t cols = min64(nc, j1 - jc);
        for (int64_t kb = 0; kb < g->k_blocks; kb++) {
            int64_t p0 = g->k * kb / g->k_blocks, kc = g->k * (kb + 1) / g->k_blocks - p0;
            float beta = kb == 0 ? g->beta : 1.0f;
            pack_b_block(g, p0, kc, jc, cols, bp);
            for (int64_t ic = i0; ic < i1; ic += mc) {
                int64_t rows = min64(mc, i1 - ic);
                pack_a_block(g, ic, rows, p0, kc, ap);
                for (int64_t ir = 0; ir < rows; ir += kn->mr)
                    for (int64_t jr = 0; jr < cols; jr += kn->nr)
                        kn->micro(kc, ap + ir * kc, bp + jr * kc,
                                  g->c + (ic + ir) * g->ldc + jc + jr, g->ldc,
                                  (int)min64(kn->mr, rows - ir), (int)min64(kn->nr, cols - jr),
                                  g->alpha, beta);
            }
        }
    }
}

/* A thread's share: jobs taken in turn until none is left, with its packed blocks on its stack. */
static void gemm_worker(void *arg, int64_t begin, int64_t end)
{
    (void)begin;
    (void)end;
    gemm_args *g = (gemm_args *)arg;
    _Alignas(64) float ap[GEMM_PACK_A_FLOATS + GEMM_PACK_SLACK];
    _Alignas(64) float bp[GEMM_PACK_B_FLOATS + GEMM_PACK_SLACK];
    for (;;) {
        int64_t job = atomic_fetch_add(&g->next_job, 1);
        if (job >= g->jobs)
            break;
        int64_t i0 = job / g->col_jobs * g->job_rows, j0 = job % g->col_jobs * g->job_cols;
        run_job(g, i0, min64(i0 + g->job_rows, g->m), j0, min64(j0 + g->job_cols, g->n), ap, bp);
    }
}

/* Estimated cycles of the slowest thread when C is cut into about row_jobs x col_jobs jobs:
 * compute, packing (A once per nc columns of a job, B once per job) and job starts. */
static double split_cycles(const gemm_args *g, int64_t threads, int64_t row_jobs,
                           int64_t col_jobs)
{
    const gemm_kernel *kn = g->kernel;
    int64_t rows = ceil_div(ceil_div(g->m, kn->mr), row_jobs) * kn->mr;
    int64_t cols = ceil_div(ceil_div(g->n, kn->nr), col_jobs) * kn->nr;
    int64_t jobs = ceil_div(g->m, rows) * ceil_div(g->n, cols);
    double job = (double)rows * (double)cols * (double)g->k / MACS_PER_CYCLE +
                 PACK_CYCLES * (double)g->k *
                     ((double)rows * (double)ceil_div(cols, kn->nc) + (double)cols) +
                 JOB_CYCLES;
    return (double)ceil_div(jobs, threads) * job;
}

/* Chooses the job grid: one job when the problem is small or there is one thread, else the
 * cheapest grid by split_cycles (ties: fewer jobs). Never changes any element's sum. */
static void choose_jobs(gemm_args *g, int64_t threads)
{
    const gemm_kernel *kn = g->kernel;
    int64_t panels = ceil_div(g->m, kn->mr), strips = ceil_div(g->n, kn->nr);
    int64_t best_rows = 1, best_cols = 1;
    if (threads > 1 && (double)g->m * (double)g->n * (double)g->k >= SINGLE_JOB_MACS) {
        int64_t most = JOBS_PER_THREAD_MAX * threads;
        double best = split_cycles(g, threads, 1, 1);
        for (int64_t rj = 1; rj <= min64(panels, most); rj++)
            for (int64_t cj = 1; cj <= min64(strips, most / rj); cj++) {
                double cycles = split_cycles(g, threads, rj, cj);
                if (cycles < best) {
                    best = cycles;
                    best_rows = rj;
                    best_cols = cj;
                }
            }
    }
    g->job_rows = ceil_div(panels, best_rows) * kn->mr;
    g->job_cols = ceil_div(strips, best_cols) * kn->nr;
    g->col_jobs = ceil_div(g->n, g->job_cols);
    g->jobs = ceil_div(g->m, g->job_rows) * g->col_jobs;
}

/* The kernel of the active instruction set. */
static const gemm_kernel *active_kernel(void)
{
    switch (pdl_cpu_isa_active()) {
    case PDL_ISA_AVX512:
        return pdl_gemm_kernel_avx512();
    case PDL_ISA_AVX2:
        return pdl_gemm_kernel_avx2();
    default:
        return pdl_gemm_kernel_c();
    }
}

/* C = beta * C (zero when beta == 0, without reading C): the k == 0 or alpha == 0 case. */
static void scale_c(int64_t m, int64_t n, float beta, float *c, int64_t ldc)
{
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++)
            c[i * ldc + j] = beta == 0.0f ? 0.0f : beta * c[i * ldc + j];
}

void pdl_cpu_gemm(pdl_threadpool *pool, bool trans_a, bool trans_b, int64_t m, int64_t n,
                  int64_t k, float alpha, const float *a, int64_t lda, const float *b,
                  int64_t ldb, float beta, float *c, int64_t ldc)
{
    if (m <= 0 || n <= 0)
        return;
    if (k <= 0 || alpha == 0.0f) {
        scale_c(m, n, beta, c, ldc);
        return;
    }
    const gemm_kernel *kernel = active_kernel();
    gemm_args g = {.kernel = kernel, .trans_a = trans_a, .trans_b = trans_b, .m = m, .n = n,
                   .k = k, .alpha = alpha, .beta = beta, .a = a, .lda = lda, .b = b, .ldb = ldb,
                   .c = c, .ldc = ldc, .k_blocks = ceil_div(k, kernel->kc)};
    atomic_init(&g.next_job, 0);
    int64_t threads = pdl_threadpool_threads(pool);
    choose_jobs(&g, threads);
    if (g.jobs == 1)
        gemm_worker(&g, 0, 1);
    else
        pdl_parallel_for(pool, min64(threads, g.jobs), 1, gemm_worker, &g);
}
