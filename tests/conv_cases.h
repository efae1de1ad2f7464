/* Convolution test cases shared by the kernel tests (test_conv.c, test_conv_algos.c): one
 * geometry per row, its pdl_conv_geom, random tensors and the max-difference measure. */
#ifndef PDL_TEST_CONV_CASES_H
#define PDL_TEST_CONV_CASES_H

#include "backend/cpu/conv.h"
#include "harness.h"
#include "layer_harness.h"

#include <math.h>
#include <stdbool.h>

typedef struct conv_case {
    int64_t n, c, h, w, k, r, s, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, groups;
    bool bias;
} conv_case;

static pdl_conv_geom geom_of(const conv_case *t)
{
    pdl_conv_geom g = {t->n,     t->c,        t->h,        t->w,     t->k,     t->r,
                       t->s,     t->stride_h, t->stride_w, t->pad_h, t->pad_w, t->dil_h,
                       t->dil_w, t->groups,   0,           0};
    CHECK(pdl_conv_geom_output(&g));
    return g;
}

/* count values uniform in [-1, 1) from (seed, stream); the caller frees them. */
static float *random_tensor(int64_t count, uint64_t seed, uint64_t stream)
{
    float *x = lh_alloc(count);
    lh_fill_uniform(x, count, seed, stream, -1.0f, 1.0f);
    return x;
}

/* max |a - b| over count values; NaN gives infinity. */
static double max_diff(const float *a, const float *b, int64_t count)
{
    double worst = 0.0;
    for (int64_t i = 0; i < count; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (!(d <= worst))
            worst = isnan(d) ? INFINITY : d;
    }
    return worst;
}

#endif
