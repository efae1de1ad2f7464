/* Portable blocked sgemm: packs A blocks and B strips, runs a register-blocked micro-kernel in
 * plain C that GCC vectorizes (-O3 -march=native), and splits blocks of C over the thread pool.
 * Hand-written ISA kernels are a later step; this file keeps the interface they will plug into. */
#include "backend/cpu/gemm.h"

#include <math.h>
#include <stddef.h>

/* Micro-tile MR x NR: NR is two vector registers wide; MR rows leave room for the B vectors and
 * a broadcast (AVX2: 10 accumulators of 16 ymm registers; AVX-512: 16 of 32 zmm). */
#if defined(__AVX512F__)
#define MR 8
#define NR 32
#elif defined(__AVX__)
#define MR 5
#define NR 16
#else
#define MR 4
#define NR 8
#endif
#define KC 256        /* depth of one packed block: a B strip (KC x NR) stays in L1 */
#define MC (MR * 12)  /* rows of one packed A block (MC x KC), kept in L2 */
#define MJ (MC * 4)   /* most rows of one job: A blocks that share one packed B block */
#define NJ 256        /* most columns of one job: its packed B block (KC x NJ) stays in L2 */
#define STRIP_PAD 16  /* floats between packed B strips, so they do not alias 4 KB apart */
#define JOB_FLOPS_MIN (1 << 20) /* below this a job is not worth waking a thread */

/* Fused multiply-add where it is fast; a*b+c elsewhere (ISO C mode does not contract). */
#if defined(FP_FAST_FMAF)
#define MADD(a, b, c) fmaf(a, b, c)
#else
#define MADD(a, b, c) ((a) * (b) + (c))
#endif

/* GCC vectorizes with 256-bit registers by default even where AVX-512 exists; the micro-kernel
 * is written for full zmm rows (and kept out of line so that the preference applies). */
#if defined(__AVX512F__) && defined(__GNUC__) && !defined(__clang__)
#define KERNEL_ATTR __attribute__((noinline, target("prefer-vector-width=512")))
#else
#define KERNEL_ATTR
#endif

typedef struct gemm_args {
    bool trans_a, trans_b;
    int64_t m, n, k;
    float alpha, beta;
    const float *a; // op(A) is (m, k)
    int64_t lda;
    const float *b; // op(B) is (k, n)
    int64_t ldb;
    float *c;       // C is (m, n)
    int64_t ldc;
    int64_t job_rows;   /* C rows per job, a multiple of MR, at most MJ */
    int64_t job_cols;   /* C columns per job, a multiple of NR, at most NJ */
    int64_t col_jobs;   /* jobs per row of jobs */
} gemm_args;

/* acc (MR, NR) = sum over p < kc of ap[p] (MR) outer bp[p] (NR), in increasing p. Every element
 * sees the same sequence of operations, wherever its tile lies. */
KERNEL_ATTR static void micro_kernel(int64_t kc, const float *restrict ap, const float *restrict bp,
                                     float *restrict acc)
{
    float sum[MR * NR];
    for (int j = 0; j < MR * NR; j++)
        sum[j] = 0.0f;
    for (int64_t p = 0; p < kc; p++) {
        const float *bv = bp + p * NR;
        const float *av = ap + p * MR;
#pragma GCC unroll 16
        for (int i = 0; i < MR; i++) {
            float ai = av[i];
#pragma GCC unroll 32
            for (int j = 0; j < NR; j++)
                sum[i * NR + j] = MADD(ai, bv[j], sum[i * NR + j]);
        }
    }
    for (int j = 0; j < MR * NR; j++)
        acc[j] = sum[j];
}

/* Packs op(A)[i0 .. i0+mc, p0 .. p0+kc) into MR-row panels ap[panel][p][MR], zero-padded.
 * Writes each panel in order; reads MR rows of A side by side when A is (m, k). */
static void pack_a(const gemm_args *g, int64_t i0, int64_t mc, int64_t p0, int64_t kc, float *ap)
{
    int64_t panels = (mc + MR - 1) / MR;
    if (g->trans_a) {
        for (int64_t p = 0; p < kc; p++) {
            const float *src = g->a + (p0 + p) * g->lda + i0; // A is (k, m)
            for (int64_t i = 0; i < panels * MR; i++)
                ap[(i / MR) * kc * MR + p * MR + i % MR] = i < mc ? src[i] : 0.0f;
        }
        return;
    }
    for (int64_t panel = 0; panel < panels; panel++) {
        const float *src[MR];
        int64_t rows = mc - panel * MR < MR ? mc - panel * MR : MR;
        for (int64_t i = 0; i < MR; i++) /* rows past mc repeat a valid row, stored as 0 */
            src[i] = g->a + (i0 + panel * MR + (i < rows ? i : 0)) * g->lda + p0; // A is (m, k)
        float *dst = ap + panel * kc * MR;
        for (int64_t p = 0; p < kc; p++)
            for (int64_t i = 0; i < MR; i++)
                dst[p * MR + i] = i < rows ? src[i][p] : 0.0f;
    }
}

/* Packs op(B)[p0 .. p0+kc, j0 .. j0+cols) into NR-column strips bp[strip][p][NR],
 * zero-padded. Writes each strip in order; reads NR rows of B side by side when B is (n, k). */
static void pack_b(const gemm_args *g, int64_t p0, int64_t kc, int64_t j0, int64_t cols,
                   float *bp)
{
    int64_t strips = (cols + NR - 1) / NR;
    if (g->trans_b) {
        for (int64_t s = 0; s < strips; s++) {
            const float *src[NR];
            int64_t width = cols - s * NR < NR ? cols - s * NR : NR;
            for (int64_t j = 0; j < NR; j++) /* columns past cols repeat a valid one, stored 0 */
                src[j] = g->b + (j0 + s * NR + (j < width ? j : 0)) * g->ldb + p0; // B is (n, k)
            float *dst = bp + s * (kc * NR + STRIP_PAD);
            for (int64_t p = 0; p < kc; p++)
                for (int64_t j = 0; j < NR; j++)
                    dst[p * NR + j] = j < width ? src[j][p] : 0.0f;
        }
        return;
    }
    for (int64_t p = 0; p < kc; p++) {
        const float *src = g->b + (p0 + p) * g->ldb + j0; // B is (k, n)
        for (int64_t s = 0; s < strips; s++) {
            float *dst = bp + s * (kc * NR + STRIP_PAD) + p * NR;
            const float *row = src + s * NR;
            int64_t width = cols - s * NR;
            if (width >= NR) { /* a fixed count: vector moves, not a string copy */
                for (int j = 0; j < NR; j++)
                    dst[j] = row[j];
                continue;
            }
            for (int64_t j = 0; j < NR; j++)
                dst[j] = j < width ? row[j] : 0.0f;
        }
    }
}

/* C tile (rows, cols) <- alpha * acc + (first ? beta * C : C); beta == 0 never reads C. */
static void store_tile(const gemm_args *g, const float *acc, int64_t rows, int64_t cols,
                       bool first, float *c)
{
    float alpha = g->alpha, beta = g->beta;
    for (int64_t i = 0; i < rows; i++) {
        float *row = c + i * g->ldc;
        const float *sum = acc + i * NR;
        if (!first)
            for (int64_t j = 0; j < cols; j++)
                row[j] = row[j] + alpha * sum[j];
        else if (beta == 0.0f)
            for (int64_t j = 0; j < cols; j++)
                row[j] = alpha * sum[j];
        else
            for (int64_t j = 0; j < cols; j++)
                row[j] = alpha * sum[j] + beta * row[j];
    }
}

/* One job: C rows [i0, i1) x columns [j0, j1) (at most NJ), over all of k in KC blocks. The
 * packed B block (KC x NJ) stays in L2 and serves every A block (MC x KC) of the job's rows;
 * each B strip stays in L1 while it meets the A block's panels. */
static void gemm_block(const gemm_args *g, int64_t i0, int64_t i1, int64_t j0, int64_t j1)
{
    _Alignas(64) float ap[MC * KC];
    _Alignas(64) float bp[KC * NJ + STRIP_PAD * (NJ / NR)];
    _Alignas(64) float acc[MR * NR];
    /* Rows split evenly into A blocks, in whole panels, so that no block is a thin remainder. */
    int64_t panels = (i1 - i0 + MR - 1) / MR;
    int64_t blocks = (panels + MC / MR - 1) / (MC / MR);
    int64_t block_rows = (panels + blocks - 1) / blocks * MR;
    for (int64_t p0 = 0; p0 < g->k; p0 += KC) {
        int64_t kc = g->k - p0 < KC ? g->k - p0 : KC;
        pack_b(g, p0, kc, j0, j1 - j0, bp);
        for (int64_t ic = i0; ic < i1; ic += block_rows) {
            int64_t mc = i1 - ic < block_rows ? i1 - ic : block_rows;
            pack_a(g, ic, mc, p0, kc, ap);
            for (int64_t j = j0; j < j1; j += NR) {
                int64_t cols = j1 - j < NR ? j1 - j : NR;
                const float *strip = bp + (j - j0) / NR * (kc * NR + STRIP_PAD);
                for (int64_t ir = 0; ir < mc; ir += MR) {
                    int64_t rows = mc - ir < MR ? mc - ir : MR;
                    micro_kernel(kc, ap + ir * kc, strip, acc);
                    store_tile(g, acc, rows, cols, p0 == 0, g->c + (ic + ir) * g->ldc + j);
                }
            }
        }
    }
}

static void gemm_jobs(void *arg, int64_t begin, int64_t end)
{
    const gemm_args *g = (const gemm_args *)arg;
    for (int64_t job = begin; job < end; job++) {
        int64_t i0 = job / g->col_jobs * g->job_rows;
        int64_t j0 = job % g->col_jobs * g->job_cols;
        int64_t i1 = i0 + g->job_rows < g->m ? i0 + g->job_rows : g->m;
        int64_t j1 = j0 + g->job_cols < g->n ? j0 + g->job_cols : g->n;
        gemm_block(g, i0, i1, j0, j1);
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
    gemm_args g = {.trans_a = trans_a, .trans_b = trans_b, .m = m, .n = n, .k = k,
                   .alpha = alpha, .beta = beta, .a = a, .lda = lda, .b = b, .ldb = ldb,
                   .c = c, .ldc = ldc, .job_rows = MJ, .job_cols = NJ};
    /* Smaller jobs, first narrower then shorter, while there are too few to keep every thread
     * busy. The split never changes what any element of C sums, only who computes it. */
    int64_t threads = pdl_threadpool_threads(pool);
    int64_t panels = (m + MR - 1) / MR, strips = (n + NR - 1) / NR;
    int64_t row_jobs = (m + MJ - 1) / MJ, col_jobs = (n + NJ - 1) / NJ;
    int64_t want = 4 * threads;
    if (threads > 1 && row_jobs * col_jobs < want) {
        col_jobs = (want + row_jobs - 1) / row_jobs;
        col_jobs = col_jobs < strips ? col_jobs : strips;
        g.job_cols = (strips + col_jobs - 1) / col_jobs * NR;
        if (row_jobs * col_jobs < want) {
            row_jobs = (want + col_jobs - 1) / col_jobs;
            row_jobs = row_jobs < panels ? row_jobs : panels;
            g.job_rows = (panels + row_jobs - 1) / row_jobs * MR;
        }
    }
    g.col_jobs = (n + g.job_cols - 1) / g.job_cols;
    int64_t jobs = (m + g.job_rows - 1) / g.job_rows * g.col_jobs;
    int64_t job_flops =
        2 * (m < g.job_rows ? m : g.job_rows) * (n < g.job_cols ? n : g.job_cols) * k;
    int64_t grain = JOB_FLOPS_MIN / job_flops;
    pdl_parallel_for(pool, jobs, grain < 1 ? 1 : grain, gemm_jobs, &g);
}
