/* Tests of the convolution algorithms: im2col + GEMM, Winograd F(4x4, 3x3) and the direct kernel
 * against the reference on random odd shapes (forward, backward-data, backward-weight where the
 * algorithm has them), each with its error bound, NaN never passing, the same bits on 1 and 2
 * threads; then the conv layer's choice: `auto`, the `algo` key, the process-wide override, what
 * pdl_layer_info shows and the error for an algorithm that does not fit the layer. */
#include "backend/cpu/conv.h"
#include "conv_cases.h"
#include "gradcheck.h"
#include "harness.h"
#include "layer_checks.h"
#include "pdl/net.h"

#include <string.h>

/* GEMM and direct: |error| per element at most 2e-6 per summed product (values in [-1, 1), fp32
 * against double), as in test_conv.c. Winograd: max |y - ref| / max |ref| below 1e-4, the bound
 * documented in winograd.c. A wrong index gives errors of order 1 in either. */
#define ERROR_PER_TERM 2e-6
#define WINOGRAD_RELATIVE 1e-4

typedef enum kind { KIND_GEMM, KIND_WINOGRAD, KIND_DIRECT, KIND_COUNT } kind;
static const char *const kind_names[KIND_COUNT] = {"gemm", "winograd", "direct"};

enum { SEED = 11 }; /* of the random tensors */

/* 3x3, stride 1, dilation 1, groups 1: every algorithm applies. */
static const conv_case winograd_cases[] = {
    /* n  c   h   w   k  r  s sh sw ph pw dh dw g  bias */
    {1, 3, 7, 9, 5, 3, 3, 1, 1, 1, 1, 1, 1, 1, true},     /* pad 1 */
    {2, 5, 11, 13, 7, 3, 3, 1, 1, 0, 0, 1, 1, 1, false},  /* pad 0 */
    {3, 9, 9, 7, 11, 3, 3, 1, 1, 2, 2, 1, 1, 1, true},    /* pad 2: backward pads 0 */
    {1, 13, 6, 5, 6, 3, 3, 1, 1, 3, 3, 1, 1, 1, true},    /* pad 3: backward pads -1 */
    {2, 7, 10, 3, 9, 3, 3, 1, 1, 0, 2, 1, 1, 1, true},    /* asymmetric pad, narrow */
    {1, 4, 3, 3, 3, 3, 3, 1, 1, 0, 0, 1, 1, 1, true},     /* one 1x1 output */
    {2, 37, 10, 9, 21, 3, 3, 1, 1, 1, 1, 1, 1, 1, true},  /* channels past a lane group */
    {1, 509, 5, 7, 5, 3, 3, 1, 1, 1, 1, 1, 1, 1, false},  /* long sums: deep layers */
    {3, 13, 70, 68, 17, 3, 3, 1, 1, 1, 1, 1, 1, 1, true}, /* 918 tiles: two chunks */
};

/* Grouped and depthwise shapes, and a few general ones, for the direct kernel (and GEMM). */
static const conv_case grouped_cases[] = {
    /* n  c   h   w   k  r  s sh sw ph pw dh dw  g  bias */
    {2, 6, 7, 5, 6, 3, 3, 1, 1, 1, 1, 1, 1, 6, true},     /* depthwise */
    {1, 3, 8, 7, 6, 3, 3, 2, 1, 1, 0, 1, 1, 3, true},     /* depthwise, multiplier 2 */
    {3, 5, 13, 11, 5, 5, 5, 2, 2, 2, 2, 1, 1, 5, false},  /* depthwise 5x5 stride 2 */
    {1, 3, 10, 13, 3, 3, 3, 3, 3, 0, 0, 1, 1, 3, true},   /* depthwise stride 3 */
    {1, 4, 11, 9, 8, 3, 3, 1, 1, 2, 2, 2, 2, 4, true},    /* dilation 2 */
    {1, 12, 9, 11, 15, 3, 3, 1, 1, 1, 1, 1, 1, 3, true},  /* 3 groups of 4 -> 5 */
    {2, 10, 5, 7, 4, 1, 1, 1, 1, 0, 0, 1, 1, 2, false},   /* 1x1 grouped */
    {1, 2, 4, 4, 2, 3, 3, 1, 1, 3, 3, 1, 1, 2, true},     /* pad 3: rows wholly outside */
    {1, 2, 3, 3, 4, 5, 5, 1, 1, 2, 2, 1, 1, 1, true},     /* kernel wider than the input */
    {2, 3, 7, 6, 4, 2, 3, 1, 2, 1, 0, 1, 1, 1, true},     /* groups 1, odd kernel/stride */
    {2, 4, 9, 37, 4, 3, 3, 1, 2, 1, 1, 1, 1, 4, true},    /* wide rows, stride 2 */
    {1, 3, 7, 29, 6, 3, 5, 1, 1, 1, 2, 1, 2, 3, true},    /* wide rows, dilated 3x5 */
};

/* max |ref - base| (base NULL: max |ref|): the size of what a pass computed. */
static double max_size(const float *ref, const float *base, int64_t count)
{
    double size = 0.0;
    for (int64_t i = 0; i < count; i++)
        size = fmax(size, fabs((double)ref[i] - (base ? (double)base[i] : 0.0)));
    return size;
}

/* One case's tensors: inputs, the reference's results and an algorithm's. */
typedef struct run {
    pdl_conv_geom g;
    int64_t nx, ny, nw;
    float *x, *w, *bias, *dy; /* inputs */
    float *dx0, *dw0, *db0;   /* what the gradients start from (they accumulate) */
    float *y_ref, *dx_ref, *dw_ref, *db_ref;
} run;

static run run_make(const conv_case *t)
{
    run u = {.g = geom_of(t)};
    const pdl_conv_geom *g = &u.g;
    u.nx = g->n * g->c * g->h * g->w;
    u.ny = g->n * g->k * g->out_h * g->out_w;
    u.nw = g->k * (g->c / g->groups) * g->r * g->s;
    u.x = random_tensor(u.nx, SEED, 1);
    u.w = random_tensor(u.nw, SEED, 2);
    u.bias = t->bias ? random_tensor(g->k, SEED, 3) : NULL;
    u.dy = random_tensor(u.ny, SEED, 4);
    u.dx0 = random_tensor(u.nx, SEED, 5);
    u.dw0 = random_tensor(u.nw, SEED, 6);
    u.db0 = random_tensor(g->k, SEED, 7);
    u.y_ref = lh_alloc(u.ny);
    u.dx_ref = random_tensor(u.nx, SEED, 5);
    u.dw_ref = random_tensor(u.nw, SEED, 6);
    u.db_ref = random_tensor(g->k, SEED, 7);
    pdl_conv_ref_forward(g, u.x, u.w, u.bias, u.y_ref);
    pdl_conv_ref_backward_data(g, u.dy, u.w, u.dx_ref);
    pdl_conv_ref_backward_weight(g, u.x, u.dy, u.dw_ref, u.bias ? u.db_ref : NULL);
    return u;
}

static void run_free(run *u)
{
    free(u->x), free(u->w), free(u->bias), free(u->dy), free(u->dx0), free(u->dw0);
    free(u->db0), free(u->y_ref), free(u->dx_ref), free(u->dw_ref), free(u->db_ref);
}

/* One algorithm's results: y, dx, dw, db (dw and db stay at their start for Winograd). */
typedef struct result {
    float *t[4];
} result;

static size_t workspace_bytes(kind k, const pdl_conv_geom *g)
{
    size_t bytes = pdl_conv_gemm_workspace_size(g);
    if (k == KIND_WINOGRAD && pdl_conv_winograd_workspace_size(g) > bytes)
        bytes = pdl_conv_winograd_workspace_size(g);
    return k == KIND_DIRECT ? 0 : bytes;
}

static result run_algo(kind k, pdl_threadpool *pool, const run *u)
{
    const pdl_conv_geom *g = &u->g;
    result r = {{lh_alloc(u->ny), lh_alloc(u->nx), lh_alloc(u->nw), lh_alloc(g->k)}};
    memcpy(r.t[1], u->dx0, (size_t)u->nx * sizeof(float));
    memcpy(r.t[2], u->dw0, (size_t)u->nw * sizeof(float));
    memcpy(r.t[3], u->db0, (size_t)g->k * sizeof(float));
    for (int64_t i = 0; i < u->ny; i++)
        r.t[0][i] = NAN; /* forward must overwrite */
    float *ws = lh_alloc((int64_t)(workspace_bytes(k, g) / sizeof(float)));
    float *db = u->bias ? r.t[3] : NULL;
    if (k == KIND_GEMM) {
        pdl_conv_gemm_forward(pool, g, u->x, u->w, u->bias, r.t[0], ws);
        pdl_conv_gemm_backward_data(pool, g, u->dy, u->w, r.t[1], ws);
        pdl_conv_gemm_backward_weight(pool, g, u->x, u->dy, r.t[2], db, ws);
    } else if (k == KIND_WINOGRAD) {
        pdl_conv_winograd_forward(pool, g, u->x, u->w, u->bias, r.t[0], ws);
        pdl_conv_winograd_backward_data(pool, g, u->dy, u->w, r.t[1], ws);
    } else {
        pdl_conv_direct_forward(pool, g, u->x, u->w, u->bias, r.t[0]);
        pdl_conv_direct_backward_data(pool, g, u->dy, u->w, r.t[1]);
        pdl_conv_direct_backward_weight(pool, g, u->x, u->dy, r.t[2], db);
    }
    free(ws);
    return r;
}

static void result_free(result *r)
{
    for (int i = 0; i < 4; i++)
        free(r->t[i]);
}

/* Checks r against the reference with k's bound; folds the errors (relative for Winograd, per
 * summed product otherwise) into worst[3]. */
static void check_result(kind k, const run *u, const result *r, double worst[3])
{
    const pdl_conv_geom *g = &u->g;
    int64_t cg = g->c / g->groups, kg = g->k / g->groups;
    double e_fwd = max_diff(r->t[0], u->y_ref, u->ny);
    double e_data = max_diff(r->t[1], u->dx_ref, u->nx);
    double e_weight = fmax(max_diff(r->t[2], u->dw_ref, u->nw),
                           u->bias ? max_diff(r->t[3], u->db_ref, g->k) : 0.0);
    if (k == KIND_WINOGRAD) {
        e_fwd /= max_size(u->y_ref, NULL, u->ny);
        e_data /= max_size(u->dx_ref, u->dx0, u->nx);
        CHECK(e_fwd < WINOGRAD_RELATIVE);
        CHECK(e_data < WINOGRAD_RELATIVE);
        e_weight = 0.0;
        CHECK(memcmp(r->t[2], u->dw0, (size_t)u->nw * sizeof(float)) == 0); /* untouched */
    } else {
        e_fwd /= (double)(cg * g->r * g->s + 1);
        e_data /= (double)(kg * g->r * g->s + 1);
        e_weight /= (double)(g->n * g->out_h * g->out_w + 1);
        CHECK(e_fwd <= ERROR_PER_TERM);
        CHECK(e_data <= ERROR_PER_TERM);
        CHECK(e_weight <= ERROR_PER_TERM);
    }
    if (!(e_fwd < WINOGRAD_RELATIVE && e_data < WINOGRAD_RELATIVE) || !(e_weight <= 1.0))
        fprintf(stderr, "  %s on (%lld, %lld, %lld, %lld) -> %lld, %lldx%lld: errors %.3g %.3g "
                "%.3g\n", kind_names[k], (long long)g->n, (long long)g->c, (long long)g->h,
                (long long)g->w, (long long)g->k, (long long)g->r, (long long)g->s, e_fwd, e_data,
                e_weight);
    worst[0] = fmax(worst[0], e_fwd);
    worst[1] = fmax(worst[1], e_data);
    worst[2] = fmax(worst[2], e_weight);
}

/* Every case through algorithm k on 1 and 2 threads: within the bound, and the same bits. */
static void check_kind(kind k, const conv_case *cases, size_t n_cases)
{
    pdl_threadpool *one = NULL, *two = NULL;
    CHECK_OK(pdl_threadpool_create(1, &one));
    CHECK_OK(pdl_threadpool_create(2, &two));
    double worst[3] = {0, 0, 0};
    for (size_t i = 0; i < n_cases; i++) {
        run u = run_make(&cases[i]);
        result a = run_algo(k, one, &u), b = run_algo(k, two, &u);
        check_result(k, &u, &a, worst);
        const int64_t counts[4] = {u.ny, u.nx, u.nw, u.g.k};
        for (int j = 0; j < 4; j++)
            CHECK(memcmp(a.t[j], b.t[j], (size_t)counts[j] * sizeof(float)) == 0);
        result_free(&a);
        result_free(&b);
        run_free(&u);
    }
    if (k == KIND_WINOGRAD)
        printf("winograd vs reference: max relative error forward %.2e, backward-data %.2e "
               "(bound %.0e)\n", worst[0], worst[1], WINOGRAD_RELATIVE);
    else
        printf("%s vs reference: max |error| per summed product forward %.2e, backward-data "
               "%.2e, backward-weight %.2e (bound %.0e)\n", kind_names[k], worst[0], worst[1],
               worst[2], ERROR_PER_TERM);
    pdl_threadpool_free(one);
    pdl_threadpool_free(two);
}

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static void test_winograd(void)
{
    check_kind(KIND_WINOGRAD, winograd_cases, COUNT(winograd_cases));
}

static void test_direct(void)
{
    check_kind(KIND_DIRECT, grouped_cases, COUNT(grouped_cases));
    check_kind(KIND_DIRECT, winograd_cases, 4);
}

static void test_gemm(void)
{
    check_kind(KIND_GEMM, grouped_cases, COUNT(grouped_cases));
    check_kind(KIND_GEMM, winograd_cases, 4);
}

/* A NaN in the input reaches the outputs of every algorithm: it is never hidden. */
static void test_nan_propagates(void)
{
    const conv_case t = {1, 3, 7, 9, 5, 3, 3, 1, 1, 1, 1, 1, 1, 1, true};
    run u = run_make(&t);
    u.x[2 * 9 + 4] = NAN; /* channel 0, row 2, column 4 */
    for (int k = 0; k < KIND_COUNT; k++) {
        result r = run_algo((kind)k, NULL, &u);
        CHECK(isnan(r.t[0][2 * 9 + 4])); /* output (0, 0, 2, 4) reads it */
        CHECK(!isnan(r.t[0][u.ny - 1])); /* the far corner does not read it */
        result_free(&r);
    }
    run_free(&u);
}

static void test_applies(void)
{
    pdl_conv_geom g = {1, 4, 8, 8, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 0, 0};
    CHECK(pdl_conv_winograd_applies(&g));
    pdl_conv_geom bad[4] = {g, g, g, g};
    bad[0].r = 5;
    bad[1].stride_w = 2;
    bad[2].dil_h = 2;
    bad[3].groups = 2;
    for (int i = 0; i < 4; i++)
        CHECK(!pdl_conv_winograd_applies(&bad[i]));
}

/* ---- the conv layer's choice ----------------------------------------------------------------- */

/* The algorithm the layer built from options for input (n, c, h, w) runs; "" when it fails. */
static const char *layer_algo(const char *options, int64_t c, int64_t h, int64_t w)
{
    static char algo[32];
    pdl_shape in = pdl_shape_4d(1, c, h, w);
    layer_harness *lh = lh_create(&pdl_layer_conv, options, 1, &in, 1);
    snprintf(algo, sizeof algo, "%s", lh && lh->layer.algo ? lh->layer.algo : "");
    lh_free(lh);
    return algo;
}

static void test_layer_auto(void)
{
    CHECK(!strcmp(layer_algo("filters=32 size=3 pad=1", 32, 21, 24), "winograd")); /* 36 tiles */
    CHECK(!strcmp(layer_algo("filters=32 size=3 pad=1", 32, 9, 9), "gemm"));   /* 9 tiles */
    CHECK(!strcmp(layer_algo("filters=16 size=3 pad=1", 32, 21, 24), "gemm")); /* few filters */
    CHECK(!strcmp(layer_algo("filters=32 size=3 pad=1", 3, 21, 24), "gemm"));  /* few channels */
    CHECK(!strcmp(layer_algo("filters=32 size=3 stride=2 pad=1", 32, 40, 40), "gemm"));
    CHECK(!strcmp(layer_algo("filters=32 size=5 pad=2", 32, 40, 40), "gemm"));
    CHECK(!strcmp(layer_algo("filters=16 size=1", 16, 5, 5), "1x1-gemm"));
    CHECK(!strcmp(layer_algo("filters=16 size=1 stride=2", 16, 5, 5), "gemm"));
    CHECK(!strcmp(layer_algo("filters=32 size=3 pad=1 groups=16", 16, 9, 9), "direct"));
    CHECK(!strcmp(layer_algo("filters=32 size=3 pad=1 groups=4", 16, 9, 9), "direct"));
    CHECK(!strcmp(layer_algo("filters=32 size=3 pad=1 groups=2", 16, 9, 9), "gemm"));
    CHECK(!strcmp(layer_algo("filters=4 size=3 algo=winograd", 3, 9, 9), "winograd"));
    CHECK(!strcmp(layer_algo("filters=32 size=3 pad=1 algo=gemm", 32, 9, 9), "gemm"));
    CHECK(!strcmp(layer_algo("filters=4 size=5 algo=direct", 3, 9, 9), "direct"));
    CHECK(!strcmp(layer_algo("filters=4 size=1 algo=reference", 3, 9, 9), "reference"));
}

/* Each forced algorithm passes the gradient check through the layer and gives the same bits
 * with a 3-thread pool. */
static void test_layer_forced(void)
{
    pdl_shape x = pdl_shape_4d(2, 4, 7, 6);
    static const char *const options[] = {
        "filters=3 size=3 pad=1 algo=winograd",
        "filters=2 size=3 pad=2 bias=0 algo=winograd",
        "filters=4 size=3 groups=4 stride=2 algo=direct",
        "filters=6 size=3 pad=1 groups=2 algo=direct",
        "filters=3 size=3 dilation=2 pad=same algo=reference",
        "filters=3 size=1 algo=gemm",
    };
    for (size_t i = 0; i < COUNT(options); i++) {
        CHECK_GRADIENTS(pdl_layer_conv, options[i], 1, &x);
        check_threads(&pdl_layer_conv, options[i], &x);
    }
}

static void test_layer_override(void)
{
    CHECK_OK(pdl_conv_algo_override("gemm"));
    CHECK(!strcmp(layer_algo("filters=32 size=3 pad=1", 32, 21, 24), "gemm"));
    CHECK(!strcmp(layer_algo("filters=32 size=3 pad=1 algo=direct", 32, 9, 9), "gemm"));
    CHECK_OK(pdl_conv_algo_override("winograd"));
    CHECK(!strcmp(layer_algo("filters=4 size=3 pad=1", 3, 9, 9), "winograd"));
    CHECK(!strcmp(layer_algo("filters=32 size=5 pad=2", 32, 9, 9), "gemm")); /* its key: auto */
    CHECK(!strcmp(layer_algo("filters=32 size=5 algo=direct", 32, 9, 9), "direct"));
    CHECK(!strcmp(layer_algo("filters=32 size=3 groups=16 algo=direct", 16, 9, 9), "direct"));
    CHECK_OK(pdl_conv_algo_override("auto"));
    CHECK(!strcmp(layer_algo("filters=32 size=3 pad=1 algo=gemm", 32, 21, 24), "winograd"));
    CHECK(pdl_conv_algo_override("fft") == PDL_ERR_INVALID);
    CHECK(strstr(pdl_last_error(), "'fft'") && strstr(pdl_last_error(), "winograd"));
    CHECK(!strcmp(layer_algo("filters=32 size=3 pad=1 algo=gemm", 32, 21, 24), "winograd"));
    CHECK_OK(pdl_conv_algo_override(NULL));
    CHECK(!strcmp(layer_algo("filters=32 size=3 pad=1 algo=gemm", 32, 21, 24), "gemm"));
}

/* A model file forcing an algorithm that does not fit names file:line, the key and why. */
static void test_model_file_errors(void)
{
    const char *text = "[net]\ninput = 3x12x12\nclasses = 4\n"
                       "[conv]\nfilters = 8\nsize = 5\nalgo = winograd\n";
    pdl_net *net = NULL;
    CHECK(pdl_net_from_text(text, "algo.cfg", &net) == PDL_ERR_PARSE);
    CHECK(net == NULL);
    const char *message = pdl_last_error();
    printf("expected error: %s\n", message);
    CHECK(strstr(message, "algo.cfg:7") != NULL);
    CHECK(strstr(message, "'algo'") != NULL);
    CHECK(strstr(message, "3x3") != NULL && strstr(message, "5x5") != NULL);
    pdl_shape in = pdl_shape_4d(1, 8, 9, 9);
    fprintf(stderr, "(the following lh_create failures are expected)\n");
    expect_layer_error(&pdl_layer_conv, "filters=8 stride=2 algo=winograd", in, "winograd",
                       "stride 2x2");
    expect_layer_error(&pdl_layer_conv, "filters=8 groups=2 algo=winograd", in, "winograd",
                       "groups 2");
    expect_layer_error(&pdl_layer_conv, "filters=8 algo=fft", in, "'algo'", "fft");
}

/* pdl_layer_info shows each conv layer's algorithm and NULL for the other layers. */
static void test_layer_info(void)
{
    const char *text = "[net]\ninput = 32x13x13\nclasses = 4\n"
                       "[conv]\nname = c1\nfilters = 32\npad = same\nact = relu\n"
                       "[conv]\nname = dw\nfilters = 32\ngroups = 32\npad = 1\n"
                       "[conv]\nname = pw\nfilters = 4\nsize = 1\n"
                       "[avgpool]\nsize = 13\n[flatten]\n[softmax_loss]\n";
    pdl_net *net = NULL;
    CHECK_OK(pdl_net_from_text(text, "info.cfg", &net));
    if (!net)
        return;
    CHECK_OK(pdl_net_set_batch(net, 2));
    int convs = 0;
    for (int i = 0; i < pdl_net_layer_count(net); i++) {
        pdl_layer_info info;
        CHECK_OK(pdl_net_layer_info(net, i, &info));
        bool conv = !strcmp(info.type, "conv");
        convs += conv;
        CHECK(conv == (info.algo != NULL));
        if (!strcmp(info.name, "c1"))
            CHECK(info.algo && !strcmp(info.algo, "winograd"));
        if (!strcmp(info.name, "dw"))
            CHECK(info.algo && !strcmp(info.algo, "direct"));
        if (!strcmp(info.name, "pw"))
            CHECK(info.algo && !strcmp(info.algo, "1x1-gemm"));
    }
    CHECK(convs == 3);
    /* At batch 1 the 3x3 layer has 16 tiles: auto takes GEMM; the choice follows the batch. */
    CHECK_OK(pdl_net_set_batch(net, 1));
    pdl_layer_info info;
    CHECK_OK(pdl_net_layer_info(net, 0, &info));
    CHECK(!strcmp(info.name, "c1") && info.algo && !strcmp(info.algo, "gemm"));
    pdl_net_free(net);
}

int main(void)
{
    RUN(test_applies);
    RUN(test_winograd);
    RUN(test_direct);
    RUN(test_gemm);
    RUN(test_nan_propagates);
    RUN(test_layer_auto);
    RUN(test_layer_forced);
    RUN(test_layer_override);
    RUN(test_model_file_errors);
    RUN(test_layer_info);
    return harness_summary();
}
