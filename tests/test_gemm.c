/* Tests of pdl_cpu_gemm against a double-precision triple loop: all transpose combinations, odd
 * sizes across the blocking boundaries, padded leading dimensions, alpha/beta (beta 0 with NaN
 * in C), and bit-identical results for 1, 2 and 3 threads. */
#include "backend/cpu/gemm.h"
#include "core/rng.h"
#include "harness.h"

#include <math.h>
#include <stdint.h>
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
static int check_result(const gemm_case *t, const operands *o, const float *c0)
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
            double got = o->c[i * o->ldc + j];
            if (!(fabs(got - ref) <= bound)) {
                if (bad < 3)
                    fprintf(stderr, "  gemm ta=%d tb=%d m=%lld n=%lld k=%lld: C[%lld,%lld] = %.9g,"
                            " expected %.9g (bound %.3g)\n", t->ta, t->tb, (long long)t->m,
                            (long long)t->n, (long long)t->k, (long long)i, (long long)j, got,
                            ref, bound);
                bad++;
            }
        }
        for (int64_t j = t->n; j < o->ldc; j++)
            if (memcmp(&o->c[i * o->ldc + j], &c0[i * o->ldc + j], sizeof(float)) != 0)
                bad++;
    }
    return bad;
}

static int run_case(pdl_threadpool *pool, const gemm_case *t, bool nan_in_c)
{
    operands o = make_operands(t);
    if (nan_in_c)
        for (int64_t i = 0; i < t->m; i++)
            for (int64_t j = 0; j < t->n; j++)
                o.c[i * o.ldc + j] = NAN;
    float *c0 = malloc((size_t)(t->m * o.ldc) * sizeof(float));
    memcpy(c0, o.c, (size_t)(t->m * o.ldc) * sizeof(float));
    pdl_cpu_gemm(pool, t->ta, t->tb, t->m, t->n, t->k, t->alpha, o.a, o.lda, o.b, o.ldb, t->beta,
                 o.c, o.ldc);
    int bad = check_result(t, &o, c0);
    free(c0);
    free_operands(&o);
    return bad;
}

/* Every transpose combination over sizes around the micro-tile (5, 8, 16, 32), the A block
 * (60, 96), the job (240, 256) and the depth block (256). */
static void test_sizes_and_transposes(void)
{
    const int64_t sizes[][3] = {
        {1, 1, 1},    {1, 7, 13},   {7, 1, 13},    {13, 7, 1},    {7, 13, 65},
        {65, 13, 7},  {13, 65, 129}, {129, 65, 13}, {65, 129, 257}, {33, 17, 300},
        {97, 129, 31}, {241, 33, 19}, {17, 300, 65}, {5, 16, 256},   {8, 32, 512},
    };
    pdl_threadpool *pool = NULL;
    CHECK_OK(pdl_threadpool_create(3, &pool));
    for (int combo = 0; combo < 4; combo++) {
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
            gemm_case t = {combo & 1, (combo >> 1) & 1, sizes[s][0], sizes[s][1], sizes[s][2],
                           1.0f, 0.0f};
            CHECK(run_case(NULL, &t, false) == 0);
            CHECK(run_case(pool, &t, false) == 0);
        }
    }
    pdl_threadpool_free(pool);
}

static void test_alpha_beta(void)
{
    const float coefficients[][2] = {{1.0f, 1.0f}, {0.5f, 0.0f}, {1.5f, -0.75f},
                                     {-2.0f, 1.0f}, {0.0f, 2.0f}, {0.0f, 0.0f}};
    for (size_t i = 0; i < sizeof coefficients / sizeof coefficients[0]; i++) {
        for (int combo = 0; combo < 4; combo++) {
            gemm_case t = {combo & 1, combo >> 1, 37, 41, 300, coefficients[i][0],
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

/* The same problem on 1, 2 and 3 threads (and no pool) gives the same bits. */
static void test_thread_count_determinism(void)
{
    const gemm_case cases[] = {
        {false, false, 250, 300, 300, 1.0f, 0.0f},
        {true, false, 64, 600, 290, 0.7f, 0.3f},
        {false, true, 64, 300, 600, 1.0f, 1.0f},
        {true, true, 250, 30, 270, 1.0f, 0.0f},
    };
    pdl_threadpool *pools[3] = {NULL, NULL, NULL};
    for (int i = 0; i < 3; i++)
        CHECK_OK(pdl_threadpool_create(i + 1, &pools[i]));
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const gemm_case *t = &cases[i];
        operands o = make_operands(t);
        size_t c_bytes = (size_t)(t->m * o.ldc) * sizeof(float);
        float *c0 = malloc(c_bytes), *first = malloc(c_bytes);
        memcpy(c0, o.c, c_bytes);
        pdl_cpu_gemm(NULL, t->ta, t->tb, t->m, t->n, t->k, t->alpha, o.a, o.lda, o.b, o.ldb,
                     t->beta, o.c, o.ldc);
        memcpy(first, o.c, c_bytes);
        for (int p = 0; p < 3; p++) {
            memcpy(o.c, c0, c_bytes);
            pdl_cpu_gemm(pools[p], t->ta, t->tb, t->m, t->n, t->k, t->alpha, o.a, o.lda, o.b,
                         o.ldb, t->beta, o.c, o.ldc);
            CHECK(memcmp(o.c, first, c_bytes) == 0);
        }
        free(c0);
        free(first);
        free_operands(&o);
    }
    for (int i = 0; i < 3; i++)
        pdl_threadpool_free(pools[i]);
}

static void test_empty_is_a_no_op(void)
{
    float c[4] = {1.0f, 2.0f, 3.0f, 4.0f};
    float a[4] = {0}, b[4] = {0};
    pdl_cpu_gemm(NULL, false, false, 0, 2, 2, 1.0f, a, 2, b, 2, 0.0f, c, 2);
    pdl_cpu_gemm(NULL, false, false, 2, 0, 2, 1.0f, a, 2, b, 2, 0.0f, c, 2);
    CHECK(c[0] == 1.0f && c[3] == 4.0f);
}

int main(void)
{
    RUN(test_sizes_and_transposes);
    RUN(test_alpha_beta);
    RUN(test_beta_zero_ignores_nan);
    RUN(test_thread_count_determinism);
    RUN(test_empty_is_a_no_op);
    return harness_summary();
}
