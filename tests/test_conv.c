/* Tests of convolution: im2col + GEMM against the direct reference (forward, backward-data,
 * backward-weight, bias) on odd shapes covering stride, pad, dilation, groups, depthwise, 1x1,
 * 1x7, 7x1, 5x5 and 11x11/4; thread-count independence; the conv layer's gradients for every
 * option, its shapes, MACs and receptive field, and its errors for bad options and shapes. */
#include "backend/cpu/conv.h"
#include "conv_cases.h"
#include "gradcheck.h"
#include "harness.h"
#include "layer_checks.h"

#include <string.h>

/* Bound on |gemm - reference| per element: 2e-6 per product summed (values in [-1, 1), fp32
 * accumulation against double). A wrong index shows up as an error of order 1. */
#define ERROR_PER_TERM 2e-6

enum { SEED = 7 }; /* of the random tensors */

static const conv_case cases[] = {
    /* n  c  h   w   k  r   s  sh sw ph pw dh dw  g  bias */
    {2, 3, 7, 9, 5, 3, 3, 1, 1, 1, 1, 1, 1, 1, true},     /* 3x3 pad 1 */
    {1, 4, 11, 10, 6, 3, 3, 2, 2, 0, 0, 1, 1, 1, false},  /* stride 2 */
    {2, 3, 9, 8, 4, 3, 3, 1, 1, 2, 2, 2, 2, 1, true},     /* dilation 2 */
    {1, 4, 6, 7, 6, 3, 3, 1, 1, 1, 1, 1, 1, 2, true},     /* 2 groups */
    {2, 6, 7, 5, 6, 3, 3, 1, 1, 1, 1, 1, 1, 6, false},    /* depthwise */
    {1, 3, 8, 7, 6, 3, 3, 2, 1, 1, 0, 1, 1, 3, true},     /* depthwise, multiplier 2 */
    {2, 5, 6, 7, 8, 1, 1, 1, 1, 0, 0, 1, 1, 1, true},     /* 1x1: straight to GEMM */
    {1, 6, 6, 7, 4, 1, 1, 1, 1, 0, 0, 1, 1, 2, false},    /* 1x1 grouped */
    {1, 5, 7, 6, 3, 1, 1, 2, 2, 0, 0, 1, 1, 1, true},     /* 1x1 stride 2: im2col */
    {1, 4, 6, 5, 3, 1, 1, 2, 1, 0, 0, 1, 1, 1, false},    /* 1x1 stride 2x1: im2col */
    {1, 3, 5, 6, 4, 1, 1, 1, 1, 1, 1, 1, 1, 1, false},    /* 1x1 pad 1 */
    {2, 3, 5, 13, 4, 1, 7, 1, 1, 0, 3, 1, 1, 1, true},    /* 1x7 */
    {1, 3, 13, 5, 4, 7, 1, 1, 1, 3, 0, 1, 1, 1, false},   /* 7x1 */
    {1, 4, 9, 11, 3, 5, 5, 1, 1, 2, 2, 1, 1, 1, true},    /* 5x5 */
    {1, 3, 31, 29, 4, 11, 11, 4, 4, 2, 2, 1, 1, 1, true}, /* 11x11 stride 4 */
    {1, 2, 10, 9, 3, 3, 2, 1, 2, 1, 0, 2, 1, 1, true},    /* asymmetric stride/dilation */
    {3, 2, 5, 5, 3, 5, 5, 1, 1, 0, 0, 1, 1, 1, true},     /* kernel covers the input */
    {2, 65, 5, 4, 70, 3, 3, 1, 1, 1, 1, 1, 1, 1, true},   /* wide enough for several GEMM jobs */
};

/* Runs forward, backward-data and backward-weight through conv_gemm on pool and through the
 * reference, checks each against its bound and returns the three outputs' checksums through
 * got[] (for the thread-count comparison). */
static void compare_case(pdl_threadpool *pool, const conv_case *t, double worst[3], float **got)
{
    pdl_conv_geom g = geom_of(t);
    int64_t cg = g.c / g.groups, kg = g.k / g.groups;
    int64_t nx = g.n * g.c * g.h * g.w, ny = g.n * g.k * g.out_h * g.out_w;
    int64_t nw = g.k * cg * g.r * g.s;
    float *x = random_tensor(nx, SEED, 1), *w = random_tensor(nw, SEED, 2);
    float *bias = random_tensor(g.k, SEED, 3);
    float *dy = random_tensor(ny, SEED, 4);
    float *y_ref = lh_alloc(ny), *y = lh_alloc(ny);
    float *dx_ref = random_tensor(nx, SEED, 5), *dx = random_tensor(nx, SEED, 5);
    float *dw_ref = random_tensor(nw, SEED, 6), *dw = random_tensor(nw, SEED, 6);
    float *db_ref = random_tensor(g.k, SEED, 7), *db = random_tensor(g.k, SEED, 7);
    float *ws = lh_alloc((int64_t)(pdl_conv_gemm_workspace_size(&g) / sizeof(float)));
    for (int64_t i = 0; i < ny; i++)
        y[i] = NAN; /* forward must overwrite */
    const float *b = t->bias ? bias : NULL;
    pdl_conv_ref_forward(&g, x, w, b, y_ref);
    pdl_conv_gemm_forward(pool, &g, x, w, b, y, ws);
    pdl_conv_ref_backward_data(&g, dy, w, dx_ref);
    pdl_conv_gemm_backward_data(pool, &g, dy, w, dx, ws);
    pdl_conv_ref_backward_weight(&g, x, dy, dw_ref, t->bias ? db_ref : NULL);
    pdl_conv_gemm_backward_weight(pool, &g, x, dy, dw, t->bias ? db : NULL, ws);

    double e_fwd = max_diff(y, y_ref, ny);
    double e_data = max_diff(dx, dx_ref, nx);
    double e_weight = fmax(max_diff(dw, dw_ref, nw), max_diff(db, db_ref, g.k));
    CHECK(e_fwd <= ERROR_PER_TERM * (double)(cg * g.r * g.s + 1));
    CHECK(e_data <= ERROR_PER_TERM * (double)(kg * g.r * g.s + 1));
    CHECK(e_weight <= ERROR_PER_TERM * (double)(g.n * g.out_h * g.out_w + 1));
    worst[0] = fmax(worst[0], e_fwd);
    worst[1] = fmax(worst[1], e_data);
    worst[2] = fmax(worst[2], e_weight);
    if (got) {
        got[0] = y;
        got[1] = dx;
        got[2] = dw;
        got[3] = db;
    } else {
        free(y);
        free(dx);
        free(dw);
        free(db);
    }
    free(x), free(w), free(bias), free(dy), free(y_ref), free(dx_ref), free(dw_ref);
    free(db_ref), free(ws);
}

static void test_gemm_matches_reference(void)
{
    pdl_threadpool *pool = NULL;
    CHECK_OK(pdl_threadpool_create(2, &pool));
    double worst[3] = {0, 0, 0};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        compare_case(NULL, &cases[i], worst, NULL);
        compare_case(pool, &cases[i], worst, NULL);
    }
    printf("conv_gemm vs reference: max |error| forward %.2e, backward-data %.2e, "
           "backward-weight %.2e (bound %.0e per summed product)\n",
           worst[0], worst[1], worst[2], ERROR_PER_TERM);
    pdl_threadpool_free(pool);
}

/* 1, 2 and 3 threads give the same bits for all three passes. */
static void test_thread_count_determinism(void)
{
    pdl_threadpool *pools[3] = {NULL, NULL, NULL};
    for (int i = 0; i < 3; i++)
        CHECK_OK(pdl_threadpool_create(i + 1, &pools[i]));
    const conv_case big = {3, 40, 9, 11, 72, 3, 3, 1, 1, 1, 1, 1, 1, 2, true};
    pdl_conv_geom g = geom_of(&big);
    int64_t counts[4] = {g.n * g.k * g.out_h * g.out_w, g.n * g.c * g.h * g.w,
                         g.k * (g.c / g.groups) * g.r * g.s, g.k};
    float *first[4];
    double worst[3] = {0, 0, 0};
    compare_case(pools[0], &big, worst, first);
    for (int p = 1; p < 3; p++) {
        float *again[4];
        compare_case(pools[p], &big, worst, again);
        for (int j = 0; j < 4; j++) {
            CHECK(memcmp(first[j], again[j], (size_t)counts[j] * sizeof(float)) == 0);
            free(again[j]);
        }
    }
    for (int j = 0; j < 4; j++)
        free(first[j]);
    for (int i = 0; i < 3; i++)
        pdl_threadpool_free(pools[i]);
}

static void test_geometry(void)
{
    pdl_conv_geom g = {1, 3, 224, 224, 64, 11, 11, 4, 4, 2, 2, 1, 1, 1, 0, 0};
    CHECK(pdl_conv_geom_output(&g));
    CHECK(g.out_h == 55 && g.out_w == 55); /* AlexNet conv1, floor((224 + 4 - 11) / 4) + 1 */
    pdl_conv_geom small = {1, 3, 4, 4, 2, 3, 3, 1, 1, 0, 0, 2, 2, 1, 0, 0};
    CHECK(!pdl_conv_geom_output(&small)); /* dilated kernel 5 > 4 */
    pdl_conv_geom groups = {1, 3, 8, 8, 4, 3, 3, 1, 1, 0, 0, 1, 1, 2, 0, 0};
    CHECK(!pdl_conv_geom_output(&groups));
    pdl_conv_geom pointwise = {2, 5, 6, 7, 8, 1, 1, 1, 1, 0, 0, 1, 1, 1, 0, 0};
    CHECK(pdl_conv_geom_output(&pointwise));
    CHECK(pdl_conv_gemm_workspace_size(&pointwise) == 0);
    CHECK(pdl_conv_gemm_workspace_size(&g) == (size_t)3 * 11 * 11 * 55 * 55 * sizeof(float));
}

/* ---- the conv layer ------------------------------------------------------------------------ */

static void test_layer_gradients(void)
{
    pdl_shape x = pdl_shape_4d(2, 4, 7, 6);
    pdl_shape one = pdl_shape_4d(2, 3, 6, 5);
    CHECK_GRADIENTS(pdl_layer_conv, "filters=3", 1, &one);
    CHECK_GRADIENTS(pdl_layer_conv, "filters=3 size=3 pad=1", 1, &one);
    CHECK_GRADIENTS(pdl_layer_conv, "filters=3 pad=same bias=0", 1, &one);
    CHECK_GRADIENTS(pdl_layer_conv, "filters=2 size=3 stride=2 pad=1", 1, &x);
    CHECK_GRADIENTS(pdl_layer_conv, "filters=2 size=3 stride=2x1", 1, &x);
    CHECK_GRADIENTS(pdl_layer_conv, "filters=2 size=3 dilation=2 pad=same", 1, &x);
    CHECK_GRADIENTS(pdl_layer_conv, "filters=2 size=2x3 dilation=2x1 pad=1x0", 1, &x);
    CHECK_GRADIENTS(pdl_layer_conv, "filters=4 size=3 groups=2 pad=1", 1, &x);
    CHECK_GRADIENTS(pdl_layer_conv, "filters=4 size=3 groups=4 pad=1 bias=0", 1, &x);
    CHECK_GRADIENTS(pdl_layer_conv, "filters=8 size=3 groups=4 stride=2", 1, &x);
    CHECK_GRADIENTS(pdl_layer_conv, "filters=3 size=1", 1, &x);
    CHECK_GRADIENTS(pdl_layer_conv, "filters=4 size=1 groups=2 bias=0", 1, &x);
    CHECK_GRADIENTS(pdl_layer_conv, "filters=2 size=1x5 pad=same", 1, &x);
    CHECK_GRADIENTS(pdl_layer_conv, "filters=2 size=5x1 pad=2x0 stride=2", 1, &x);
    CHECK_GRADIENTS(pdl_layer_conv, "filters=2 size=5 pad=2", 1, &x);
}

static void test_layer_shapes(void)
{
    pdl_shape in = pdl_shape_4d(2, 6, 15, 12);
    layer_harness *h = lh_create(&pdl_layer_conv,
                                 "filters=8 size=3x5 stride=2 pad=1x2 dilation=2x1 groups=2 "
                                 "algo=gemm", /* the workspace checked below is im2col's */
                                 1, &in, 1);
    CHECK(h != NULL);
    if (!h)
        return;
    pdl_layer *l = &h->layer;
    /* PyTorch: floor((15 + 2 - 2*2 - 1) / 2) + 1 = 7, floor((12 + 4 - 4 - 1) / 2) + 1 = 6 */
    pdl_shape out = pdl_shape_4d(2, 8, 7, 6);
    CHECK(pdl_shape_equal(&l->out_shape, &out));
    CHECK(l->n_params == 2);
    pdl_shape wshape = pdl_shape_4d(8, 3, 3, 5);
    CHECK(strcmp(l->params[0].name, "weight") == 0);
    CHECK(pdl_shape_equal(&l->params[0].shape, &wshape));
    CHECK(l->params[0].init == PDL_INIT_HE_NORMAL && l->params[0].fan_in == 3 * 3 * 5);
    CHECK(strcmp(l->params[1].name, "bias") == 0 && l->params[1].shape.dim[0] == 8);
    CHECK(l->params[1].init == PDL_INIT_ZERO);
    CHECK(l->macs == (int64_t)2 * 8 * 7 * 6 * 3 * 3 * 5);
    CHECK(l->rf_kernel_h == 5 && l->rf_kernel_w == 5);
    CHECK(l->rf_stride_h == 2 && l->rf_stride_w == 2);
    CHECK(l->workspace_bytes >= (size_t)6 * 3 * 5 * 7 * 6 * sizeof(float));
    /* The layer's output is the reference convolution of its input. */
    lh_forward(h);
    pdl_conv_geom g = {2, 6, 15, 12, 8, 3, 5, 2, 2, 1, 2, 2, 1, 2, 0, 0};
    CHECK(pdl_conv_geom_output(&g));
    float *ref = lh_alloc(lh_out_count(h));
    pdl_conv_ref_forward(&g, h->in[0], l->params[0].data, l->params[1].data, ref);
    CHECK(max_diff(h->out, ref, lh_out_count(h)) <= ERROR_PER_TERM * 3 * 3 * 5);
    free(ref);
    lh_free(h);

    /* bias = 0 declares no bias; pad = same keeps the size at stride 1. */
    pdl_shape small = pdl_shape_4d(1, 3, 9, 8);
    h = lh_create(&pdl_layer_conv, "filters=5 size=1x7 pad=same bias=0", 1, &small, 1);
    CHECK(h != NULL);
    if (h) {
        pdl_shape same = pdl_shape_4d(1, 5, 9, 8);
        CHECK(pdl_shape_equal(&h->layer.out_shape, &same));
        CHECK(h->layer.n_params == 1);
        CHECK(h->layer.macs == (int64_t)5 * 9 * 8 * 3 * 7);
        CHECK(h->layer.rf_kernel_h == 1 && h->layer.rf_kernel_w == 7);
        lh_free(h);
    }
}

static void test_layer_errors(void)
{
    pdl_shape in = pdl_shape_4d(1, 6, 8, 8);
    fprintf(stderr, "(the following lh_create failures are expected)\n");
    expect_layer_error(&pdl_layer_conv, "size=3", in, "filters", "missing");
    expect_layer_error(&pdl_layer_conv, "filters=0", in, "filters", NULL);
    expect_layer_error(&pdl_layer_conv, "filters=4 stride=0", in, "stride", NULL);
    expect_layer_error(&pdl_layer_conv, "filters=4 size=2 pad=same", in, "'same'", "pad");
    expect_layer_error(&pdl_layer_conv, "filters=4 size=3x2 dilation=2x1 pad=same", in, "'same'",
                       "width");
    expect_layer_error(&pdl_layer_conv, "filters=5 groups=2", in, "groups", "filters");
    expect_layer_error(&pdl_layer_conv, "filters=4 groups=4", in, "layer 'layer' (conv)",
                       "6 channels");
    expect_layer_error(&pdl_layer_conv, "filters=4 size=9", in, "layer 'layer' (conv)",
                       "smaller than the dilated kernel");
    expect_layer_error(&pdl_layer_conv, "filters=4 size=3 dilation=4", in,
                       "smaller than the dilated kernel", "9x9");
    expect_layer_error(&pdl_layer_conv, "filters=4 colour=red", in, "colour", NULL);
    pdl_shape flat = pdl_shape_2d(1, 6);
    expect_layer_error(&pdl_layer_conv, "filters=4", flat, "layer 'layer' (conv)", "4-D");
}

int main(void)
{
    RUN(test_geometry);
    RUN(test_gemm_matches_reference);
    RUN(test_thread_count_determinism);
    RUN(test_layer_gradients);
    RUN(test_layer_shapes);
    RUN(test_layer_errors);
    return harness_summary();
}
