/* Tests of pdl_cpu_gemm against a double-precision triple loop, on every instruction set this
 * CPU has (cpu_isa.h): all transpose combinations, odd and random sizes across the blocking
 * boundaries, padded leading dimensions, alpha/beta (beta 0 with NaN in C), bit-identical results
 * for 1, 2 and 3 threads; and the instruction-set override itself. */
#include "backend/cpu/cpu_isa.h"
#include "backend/cpu/gemm.h"
#include "core/rng.h"
#include "harness.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct gemm_case {
    bool ta, tb;
    int64_t m, n, k;
    float alpha, beta;
} gemm_case;

/* Operands with padded leading dimensions (pad columns hold a sentinel GEMM must not use). */
typedef struct operands {
    int64_t lda, ldb, ldc;
    float *a, *b, *c;
} operands;

static void fill(float *x, int64_t count, uint64_t stream)
{
    for (int64_t i = 0; i < count; i++)
        x[i] = 2.0f * pdl_rng_uniform(1234, stream, (uint64_t)i) - 1.0f;
}

static operands make_operands(const gemm_case *t)
{
    operands o;
    int64_t a_rows = t->ta ? t->k : t->m, a_cols = t->ta ? t->m : t->k;
    int64_t b_rows = t->tb ? t->n : t->k, b_cols = t->tb ? t->k : t->n;
    o.lda = a_cols + 3;
    o.ldb = b_cols + 5;
    o.ldc = t->n + 2;
    o.a = malloc((size_t)(a_rows * o.lda) * sizeof(float));
    o.b = malloc((size_t)(b_rows * o.ldb) * sizeof(float));
    o.c = malloc((size_t)(t->m * o.ldc) * sizeof(float));
    fill(o.a, a_rows * o.lda, 1);
    fill(o.b, b_rows * o.ldb, 2);
    fill(o.c, t->m * o.ldc, 3);
    for (int64_t i = 0; i < a_rows; i++)
        for (int64_t j = a_cols; j < o.lda; j++)
            o.a[i * o.lda + j] = NAN;
    for (int64_t i = 0; i < b_rows; i++)
        for (int64_t j = b_cols; j < o.ldb; j++)
            o.b[i * o.ldb + j] = NAN;
    return o;
}

static void free_operands(operands *o)
{
    free(o->a);
    free(o->b);
    free(o->c);
}

/* Checks c (after GEMM) against the double-precision result from c0 (before), element by
 * element: |c - ref| <= 4 * 2^-24 * (k + 2) * (|alpha| sum |a b| + |beta c0|). Pad columns of C
 * must be untouched. Returns the number of bad elements. */
static int check_result(const gemm_case *t, const operands *o, const float *c0, const float *c)
{
    int bad = 0;
    for (int64_t i = 0; i < t->m; i++) {
        for (int64_t j = 0; j < t->n; j++) {
            double sum = 0.0, abs_sum = 0.0;
            for (int64_t p = 0; p < t->k; p++) {
                double x = t->ta ? o->a[p * o->lda + i] : o->a[i * o->lda + p];
                double y = t->tb ? o->b[j * o->ldb + p] : o->b[p * o->ldb + j];
                sum += x * y;
                abs_sum += fabs(x * y);
            }
            double before = t->beta == 0.0f ? 0.0 : (double)c0[i * o->ldc + j];
            double ref = t->alpha * sum + t->beta * before;
            double bound = 4.0 * 5.96e-8 * (double)(t->k + 2) *
                           (fabs(t->alpha) * abs_sum + fabs(t->beta * before)) + 1e-30;
            double got = c[i * o->ldc + j];
            if (!(fabs(got - ref) <= bound)) {
                if (bad < 3)
                    fprintf(stderr, "  gemm %s ta=%d tb=%d m=%lld n=%lld k=%lld alpha=%g "
                            "beta=%g: C[%lld,%lld] = %.9g, expected %.9g (bound %.3g)\n",
                            pdl_cpu_isa_name(pdl_cpu_isa_active()), t->ta, t->tb,
                            (long long)t->m, (long long)t->n, (long long)t->k, t->alpha,
                            t->beta, (long long)i, (long long)j, got, ref, bound);
                bad++;
            }
        }
        for (int64_t j = t->n; j < o->ldc; j++)
            if (memcmp(&c[i * o->ldc + j], &c0[i * o->ldc + j], sizeof(float)) != 0)
                bad++;
    }
    return bad;
}

/* Runs t on no pool and, when pool is not NULL, on pool too; checks both (the second must have
 * the same bits as the first). Returns the number of bad elements. */
static int run_case(pdl_threadpool *pool, const gemm_case *t, bool nan_in_c)
{
    operands o = make_operands(t);
    if (nan_in_c)
        for (int64_t i = 0; i < t->m; i++)
            for (int64_t j = 0; j < t->n; j++)
                o.c[i * o.ldc + j] = NAN;
    size_t c_bytes = (size_t)(t->m * o.ldc) * sizeof(float);
    float *c0 = malloc(c_bytes), *c1 = malloc(c_bytes);
    memcpy(c0, o.c, c_bytes);
    memcpy(c1, o.c, c_bytes);
    pdl_cpu_gemm(NULL, t->ta, t->tb, t->m, t->n, t->k, t->alpha, o.a, o.lda, o.b, o.ldb, t->beta,
                 o.c, o.ldc);
    int bad = check_result(t, &o, c0, o.c);
    if (pool) {
        pdl_cpu_gemm(pool, t->ta, t->tb, t->m, t->n, t->k, t->alpha, o.a, o.lda, o.b, o.ldb,
                     t->beta, c1, o.ldc);
        bad += memcmp(c1, o.c, c_bytes) != 0;
    }
    free(c0);
    free(c1);
    free_operands(&o);
    return bad;
}

/* Every transpose combination over sizes around the micro-tiles (4, 6, 12 rows; 8, 16, 32
 * columns), the A blocks (128-288 rows), the depth blocks (128, 256) and the column blocks
 * (1024), full blocks included; every other one also on a pool. */
static void test_sizes_and_transposes(pdl_threadpool *pool)
{
    const int64_t sizes[][3] = {
        {1, 1, 1},     {1, 7, 13},    {7, 1, 13},     {13, 7, 1},     {7, 13, 65},
        {65, 13, 7},   {13, 65, 129}, {129, 65, 13},  {65, 40, 257}, {33, 17, 300},
        {97, 129, 31}, {241, 33, 19}, {17, 300, 65},  {6, 16, 256},   {12, 32, 512},
        {145, 9, 40},  {300, 24, 9},  {5, 1100, 11},  {3, 2100, 5},   {290, 40, 3},
        {3, 1100, 300}, {2, 1024, 512},
    };
    for (int combo = 0; combo < 4; combo++) {
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
            gemm_case t = {combo & 1, (combo >> 1) & 1, sizes[s][0], sizes[s][1], sizes[s][2],
                           1.0f, 0.0f};
            CHECK(run_case((combo + s) % 2 ? pool : NULL, &t, false) == 0);
        }
    }
}

/* Random cases: m, n and k each from {1, 7, 17, 63, 129, 257} or up to 700, random transposes,
 * alpha and beta (beta 0 with NaN in C), at most ~500k multiply-adds each; every other one also
 * on a pool. */
static void test_random_shapes(pdl_threadpool *pool)
{
    const int64_t odd[] = {1, 7, 17, 63, 129, 257};
    const float alphas[] = {1.0f, -0.5f, 2.25f}, betas[] = {0.0f, 1.0f, -1.5f, 0.5f};
    for (uint64_t i = 0; i < 30; i++) {
        int64_t dims[3];
        for (int d = 0; d < 3; d++) {
            uint64_t index = i * 3 + (uint64_t)d, pick = pdl_rng_below(99, 10, index, 8);
            dims[d] = pick < 6 ? odd[pick] : 1 + (int64_t)pdl_rng_below(99, 11, index, 700);
        }
        if (dims[0] * dims[1] * dims[2] > 500000)
            dims[2] = 1 + 500000 / (dims[0] * dims[1]);
        uint64_t bits = pdl_rng_u64(99, 12, i);
        gemm_case t = {bits & 1, (bits >> 1) & 1, dims[0], dims[1], dims[2],
                       alphas[(bits >> 2) % 3], betas[(bits >> 4) % 4]};
        CHECK(run_case((bits >> 8) & 1 ? pool : NULL, &t, t.beta == 0.0f) == 0);
    }
}

static void test_alpha_beta(void)
{
    const float coefficients[][2] = {{1.0f, 1.0f}, {0.5f, 0.0f}, {1.5f, -0.75f},
                                     {-2.0f, 1.0f}, {0.0f, 2.0f}, {0.0f, 0.0f}};
    for (size_t i = 0; i < sizeof coefficients / sizeof coefficients[0]; i++) {
        for (int combo = 0; combo < 4; combo++) {
            gemm_case t = {combo & 1, combo >> 1, 37, 21, 260, coefficients[i][0],
                           coefficients[i][1]};
            CHECK(run_case(NULL, &t, false) == 0);
        }
    }
}

/* beta == 0 must overwrite C without reading it: NaN in C never reaches the result. Also for
 * k == 0 and alpha == 0, where C becomes exactly 0. */
static void test_beta_zero_ignores_nan(void)
{
    const gemm_case cases[] = {
        {false, false, 23, 45, 67, 1.0f, 0.0f},
        {true, true, 61, 17, 300, -1.0f, 0.0f},
        {false, true, 9, 9, 0, 1.0f, 0.0f},
        {true, false, 9, 9, 9, 0.0f, 0.0f},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        CHECK(run_case(NULL, &cases[i], true) == 0);
}

/* The same problem on one thread (no pool) and on 2 and 3 threads gives the same bits. The
 * sizes are above gemm.c's SINGLE_JOB_MACS (4M multiply-adds), so that threads share them. */
static void test_thread_count_determinism(pdl_threadpool *const pools[2])
{
    const gemm_case cases[] = {
        {false, true, 150, 120, 250, 1.0f, 0.0f},
        {true, false, 150, 30, 960, 0.7f, 0.3f},
        {false, false, 17, 1100, 240, -1.0f, 0.5f},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const gemm_case *t = &cases[i];
        operands o = make_operands(t);
        size_t c_bytes = (size_t)(t->m * o.ldc) * sizeof(float);
        float *c0 = malloc(c_bytes), *first = malloc(c_bytes);
        memcpy(c0, o.c, c_bytes);
        pdl_cpu_gemm(NULL, t->ta, t->tb, t->m, t->n, t->k, t->alpha, o.a, o.lda, o.b, o.ldb,
                     t->beta, o.c, o.ldc);
        memcpy(first, o.c, c_bytes);
        for (int p = 0; p < 2; p++) {
            memcpy(o.c, c0, c_bytes);
            pdl_cpu_gemm(pools[p], t->ta, t->tb, t->m, t->n, t->k, t->alpha, o.a, o.lda, o.b,
                         o.ldb, t->beta, o.c, o.ldc);
            CHECK(memcmp(o.c, first, c_bytes) == 0);
        }
        free(c0);
        free(first);
        free_operands(&o);
    }
}

static void test_empty_is_a_no_op(void)
{
    float c[4] = {1.0f, 2.0f, 3.0f, 4.0f};
    float a[4] = {0}, b[4] = {0};
    pdl_cpu_gemm(NULL, false, false, 0, 2, 2, 1.0f, a, 2, b, 2, 0.0f, c, 2);
    pdl_cpu_gemm(NULL, false, false, 2, 0, 2, 1.0f, a, 2, b, 2, 0.0f, c, 2);
    CHECK(c[0] == 1.0f && c[3] == 4.0f);
}

/* Every test above on every instruction set this CPU has. */
static void test_every_isa(void)
{
    pdl_threadpool *pools[2] = {NULL, NULL};
    for (int i = 0; i < 2; i++)
        CHECK_OK(pdl_threadpool_create(i + 2, &pools[i]));
    for (int isa = PDL_ISA_C; isa <= (int)pdl_cpu_isa_detect(); isa++) {
        CHECK_OK(pdl_cpu_isa_force((pdl_cpu_isa)isa));
        int failed_before = harness_checks_failed;
        test_sizes_and_transposes(pools[1]);
        test_random_shapes(pools[0]);
        test_alpha_beta();
        test_beta_zero_ignores_nan();
        test_thread_count_determinism(pools);
        test_empty_is_a_no_op();
        printf("gemm on %s: %s\n", pdl_cpu_isa_name((pdl_cpu_isa)isa),
               harness_checks_failed == failed_before ? "ok" : "FAILED");
    }
    CHECK_OK(pdl_cpu_isa_force(pdl_cpu_isa_detect()));
    for (int i = 0; i < 2; i++)
        pdl_threadpool_free(pools[i]);
}

/* PDL_ISA is read once, at the first question; force refuses a set the CPU lacks, by name. */
static void test_isa_override(void)
{
    setenv("PDL_ISA", "c", 1);
    CHECK(pdl_cpu_isa_active() == PDL_ISA_C);
    setenv("PDL_ISA", "avx2", 1);
    CHECK(pdl_cpu_isa_active() == PDL_ISA_C);
    unsetenv("PDL_ISA");
    pdl_cpu_isa isa = PDL_ISA_C;
    CHECK(pdl_cpu_isa_parse("sse9", &isa) == PDL_ERR_INVALID);
    CHECK(strstr(pdl_last_error(), "sse9") != NULL);
    for (int i = PDL_ISA_C; i < PDL_ISA_COUNT; i++) {
        CHECK_OK(pdl_cpu_isa_parse(pdl_cpu_isa_name((pdl_cpu_isa)i), &isa));
        CHECK(isa == (pdl_cpu_isa)i);
        if (i <= (int)pdl_cpu_isa_detect())
            continue;
        CHECK(pdl_cpu_isa_force((pdl_cpu_isa)i) == PDL_ERR_UNSUPPORTED);
        CHECK(strstr(pdl_last_error(), pdl_cpu_isa_name((pdl_cpu_isa)i)) != NULL);
        CHECK(pdl_cpu_isa_active() == PDL_ISA_C);
    }
    CHECK(pdl_cpu_isa_force(PDL_ISA_COUNT) == PDL_ERR_INVALID);
    CHECK_OK(pdl_cpu_isa_force(pdl_cpu_isa_detect()));
    CHECK(pdl_cpu_isa_active() == pdl_cpu_isa_detect());
}

int main(void)
{
    RUN(test_isa_override); /* first: it checks the first reading of PDL_ISA */
    RUN(test_every_isa);
    return harness_summary();
}
