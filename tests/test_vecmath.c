/* Tests for the vectorizable exp, log and pow of src/layers/vecmath.h against libm's exp, log
 * and pow in double rounded once to float: distance in ulps over the whole float range
 * (subnormal results included) and the special values (NaN, infinities, zero, overflow,
 * underflow). */
#include "harness.h"
#include "layers/vecmath.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Position of f on the line of floats, so that adjacent floats differ by 1. */
static int64_t float_order(float f)
{
    int32_t i;
    memcpy(&i, &f, sizeof i);
    return i < 0 ? (int64_t)INT32_MIN - i : i;
}

static int64_t ulps(float a, float b)
{
    int64_t d = float_order(a) - float_order(b);
    return d < 0 ? -d : d;
}

enum { COUNT = 1 << 18 };

/* Largest ulp distance of f (applied in place, in VEC_CHUNK pieces as the layers do) from
 * ref (libm in double, rounded once to float) over xs (n); *at is the worst x. */
static int64_t worst_ulps(void (*f)(float *, int64_t), double (*ref)(double), const float *xs,
                          int64_t n, float *at)
{
    float *y = malloc((size_t)n * sizeof(float));
    int64_t worst = 0;
    memcpy(y, xs, (size_t)n * sizeof(float));
    for (int64_t b = 0; b < n; b += VEC_CHUNK)
        f(y + b, n - b < VEC_CHUNK ? n - b : VEC_CHUNK);
    for (int64_t i = 0; i < n; i++) {
        int64_t d = ulps(y[i], (float)ref(xs[i]));
        if (d > worst)
            worst = d, *at = xs[i];
    }
    free(y);
    return worst;
}

static void test_exp(void)
{
    float *x = malloc(COUNT * sizeof(float)), at = 0.0f;
    for (int64_t i = 0; i < COUNT; i++) /* [-104, 89]: results from 0 through subnormals to inf */
        x[i] = -104.0f + 193.0f * (float)i / (float)COUNT;
    int64_t worst = worst_ulps(vec_exp, exp, x, COUNT, &at);
    printf("exp: worst %lld ulp at %g\n", (long long)worst, at);
    CHECK(worst <= 1);
    float special[] = {NAN, INFINITY, -INFINITY, 0.0f, -0.0f, 88.7f, 88.8f, -1000.0f, 1000.0f};
    float want[] = {NAN, INFINITY, 0.0f, 1.0f, 1.0f, expf(88.7f), INFINITY, 0.0f, INFINITY};
    vec_exp(special, 9);
    for (int i = 0; i < 9; i++)
        CHECK(special[i] == want[i] || (isnan(special[i]) && isnan(want[i])));
    free(x);
}

static void test_log(void)
{
    float *x = malloc(COUNT * sizeof(float)), at = 0.0f;
    for (int64_t i = 0; i < COUNT; i++) /* every binade from subnormals to FLT_MAX */
        x[i] = ldexpf(1.0f + (float)(i % 4093) / 4093.0f, -149 + (int)(i * 277 / COUNT));
    int64_t worst = worst_ulps(vec_log, log, x, COUNT, &at);
    printf("log: worst %lld ulp at %g\n", (long long)worst, at);
    CHECK(worst <= 1);
    float special[] = {NAN, INFINITY, -INFINITY, 0.0f, -0.0f, -1.0f, 1.0f};
    float want[] = {NAN, INFINITY, NAN, -INFINITY, -INFINITY, NAN, 0.0f};
    vec_log(special, 7);
    for (int i = 0; i < 7; i++)
        CHECK(special[i] == want[i] || (isnan(special[i]) && isnan(want[i])));
    free(x);
}

/* LRN's use: s^-beta for s >= k > 0. The log's absolute error is amplified by exp, so the
 * bound is 2 + 2 |p log x| ulp (a few ulp for LRN's scales). */
static void test_pow(void)
{
    float *x = malloc(COUNT * sizeof(float)), *y = malloc(COUNT * sizeof(float));
    const float exponents[] = {-0.75f, -0.5f, -1.2f, 2.0f};
    for (int e = 0; e < 4; e++) {
        float p = exponents[e];
        for (int64_t i = 0; i < COUNT; i++)
            y[i] = x[i] = 1e-3f + 100.0f * (float)i / (float)COUNT;
        for (int64_t b = 0; b < COUNT; b += VEC_CHUNK)
            vec_pow(y + b, VEC_CHUNK, p);
        int64_t worst = 0, over = 0;
        for (int64_t i = 0; i < COUNT; i++) {
            int64_t d = ulps(y[i], (float)pow(x[i], p));
            worst = d > worst ? d : worst;
            over += (double)d > 2.0 + 2.0 * fabs(p * log(x[i]));
        }
        printf("pow %g on [0.001, 100]: worst %lld ulp\n", p, (long long)worst);
        CHECK(over == 0);
    }
    free(x);
    free(y);
}

int main(void)
{
    RUN(test_exp);
    RUN(test_log);
    RUN(test_pow);
    return harness_summary();
}
