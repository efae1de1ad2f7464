/* The elementwise activation layers relu, leaky_relu, sigmoid and tanh: vectorizable kernels per
 * type, threaded over element ranges, and in-place capable (backward reads the output only).
 * Owns their options (leaky_relu's slope); the `act =` shorthand of conv/fc is expanded by the
 * net, not here. */
#include "layers/layer.h"
#include "layers/vecmath.h"

#include <math.h>

/* Forward kernels: y = f(x) over n elements; y may be x (in place). NaN propagates (x < 0 is
 * false for NaN), so a diverged input stays visible. */
static void relu_forward(const float *x, float *y, int64_t n, float slope)
{
    (void)slope;
    for (int64_t i = 0; i < n; i++)
        y[i] = x[i] < 0.0f ? 0.0f : x[i];
}

static void leaky_forward(const float *x, float *y, int64_t n, float slope)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = vec_select(x[i] < 0.0f, slope * x[i], x[i]);
}

/* 1 / (1 + e^-x) from e = exp(-|x|), so that exp never overflows: 1 / (1 + e) for x >= 0,
 * e / (1 + e) below. */
static void sigmoid_forward(const float *x, float *y, int64_t n, float slope)
{
    (void)slope;
    for (int64_t b = 0; b < n; b += VEC_CHUNK) {
        int64_t m = n - b < VEC_CHUNK ? n - b : VEC_CHUNK;
        float e[VEC_CHUNK];
        for (int64_t i = 0; i < m; i++)
            e[i] = -fabsf(x[b + i]);
        vec_exp(e, m);
        for (int64_t i = 0; i < m; i++)
            y[b + i] = vec_select(x[b + i] >= 0.0f, 1.0f, e[i]) / (1.0f + e[i]);
    }
}

/* Cephes' tanhf: an odd polynomial for |x| < 0.625, else sign(x) (1 - 2 / (e^2|x| + 1)). */
static void tanh_forward(const float *x, float *y, int64_t n, float slope)
{
    (void)slope;
    for (int64_t b = 0; b < n; b += VEC_CHUNK) {
        int64_t m = n - b < VEC_CHUNK ? n - b : VEC_CHUNK;
        float e[VEC_CHUNK];
        for (int64_t i = 0; i < m; i++)
            e[i] = 2.0f * fabsf(x[b + i]);
        vec_exp(e, m);
        for (int64_t i = 0; i < m; i++) {
            float v = x[b + i], z = v * v;
            float p = -5.70498872745e-3f;
            p = p * z + 2.06390887954e-2f;
            p = p * z - 5.37397155531e-2f;
            p = p * z + 1.33314422036e-1f;
            p = p * z - 3.33332819422e-1f;
            float small = p * z * v + v;
            float large = copysignf(1.0f - 2.0f / (e[i] + 1.0f), v);
            y[b + i] = vec_select(fabsf(v) < 0.625f, small, large);
        }
    }
}

/* Backward kernels: dx (+)= dy * f'(x) with f' from y = f(x) alone, so the input may be gone
 * (in place: dx == dy and y == x). accumulate: add into dx; else overwrite it. */
#define BACKWARD_KERNEL(name, term)                                                               \
    static void name##_backward(const float *y, const float *dy, float *dx, int64_t n,           \
                                float slope, bool accumulate)                                     \
    {                                                                                             \
        (void)slope;                                                                              \
        if (accumulate)                                                                           \
            for (int64_t i = 0; i < n; i++)                                                       \
                dx[i] += term;                                                                    \
        else                                                                                      \
            for (int64_t i = 0; i < n; i++)                                                       \
                dx[i] = term;                                                                     \
    }

/* y > 0 exactly where x > 0, also for leaky_relu with slope >= 0 (y = slope x <= 0 for x <= 0). */
BACKWARD_KERNEL(relu, y[i] > 0.0f ? dy[i] : 0.0f)
BACKWARD_KERNEL(leaky, vec_select(y[i] > 0.0f, dy[i], slope * dy[i]))
BACKWARD_KERNEL(sigmoid, dy[i] * (y[i] * (1.0f - y[i])))
BACKWARD_KERNEL(tanh, dy[i] * (1.0f - y[i] * y[i]))

typedef struct activation_kind {
    const pdl_layer_ops *ops;
    /* x, y are (n); y may be x */
    void (*forward)(const float *x, float *y, int64_t n, float slope);
    /* y, dy, dx are (n); dx may be dy */
    void (*backward)(const float *y, const float *dy, float *dx, int64_t n, float slope,
                     bool accumulate);
    bool has_slope;
} activation_kind;

static const activation_kind kinds[] = {
    {&pdl_layer_relu, relu_forward, relu_backward, false},
    {&pdl_layer_leaky_relu, leaky_forward, leaky_backward, true},
    {&pdl_layer_sigmoid, sigmoid_forward, sigmoid_backward, false},
    {&pdl_layer_tanh, tanh_forward, tanh_backward, false},
};

typedef struct activation_opts {
    const activation_kind *kind;
    float slope; /* leaky_relu: the gradient for x < 0 */
    /* leaky_relu with slope < 0: y > 0 for either sign of x, so a training forward keeps the
     * sign of x (one byte per element, in saved) for backward. */
    bool sign_mask;
} activation_opts;

static pdl_status activation_init(pdl_layer *l, pdl_cfg_section *sec)
{
    activation_opts *o = l->opts;
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (kinds[i].ops == l->ops)
            o->kind = &kinds[i];
    PDL_ASSERT(o->kind != NULL);
    if (!o->kind->has_slope)
        return PDL_OK;
    double slope;
    pdl_status st = pdl_cfg_float(sec, "slope", 0.01, -HUGE_VAL, HUGE_VAL, &slope);
    o->slope = (float)slope;
    o->sign_mask = o->slope < 0.0f;
    return st;
}

static pdl_status activation_reshape(pdl_layer *l)
{
    const activation_opts *o = l->opts;
    l->out_shape = l->in_shape[0];
    if (o->sign_mask)
        l->saved_bytes = (size_t)pdl_shape_count(&l->out_shape);
    return PDL_OK;
}

enum { GRAIN = 1 << 14 }; /* elements worth a thread */

typedef struct activation_job {
    const pdl_layer *l;
    unsigned char *mask; /* (count) x > 0, or NULL */
} activation_job;

/* Elements [begin, end) of the layer. The mask is taken before an in-place forward overwrites
 * its input. */
static void forward_range(void *arg, int64_t begin, int64_t end)
{
    const activation_job *job = arg;
    const pdl_layer *l = job->l;
    const activation_opts *o = l->opts;
    const float *x = l->in[0];
    unsigned char *mask = job->mask;
    if (mask)
        for (int64_t i = begin; i < end; i++)
            mask[i] = x[i] > 0.0f;
    o->kind->forward(x + begin, l->out + begin, end - begin, o->slope);
}

static void mask_backward(const unsigned char *mask, const float *dy, float *dx, int64_t n,
                          float slope, bool accumulate)
{
    if (accumulate)
        for (int64_t i = 0; i < n; i++)
            dx[i] += vec_select(mask[i], dy[i], slope * dy[i]);
    else
        for (int64_t i = 0; i < n; i++)
            dx[i] = vec_select(mask[i], dy[i], slope * dy[i]);
}

static void backward_range(void *arg, int64_t begin, int64_t end)
{
    const activation_job *job = arg;
    const pdl_layer *l = job->l;
    const activation_opts *o = l->opts;
    if (job->mask)
        mask_backward(job->mask + begin, l->dout + begin, l->din[0] + begin, end - begin,
                      o->slope, !l->in_place);
    else
        o->kind->backward(l->out + begin, l->dout + begin, l->din[0] + begin, end - begin,
                          o->slope, !l->in_place);
}

/* in[0] and out are (any shape, same count), possibly the same buffer. */
static void activation_forward(pdl_layer *l, const pdl_layer_ctx *ctx)
{
    const activation_opts *o = l->opts;
    activation_job job = {l, o->sign_mask && ctx->training ? l->saved : NULL};
    pdl_parallel_for(ctx->pool, pdl_shape_count(&l->out_shape), GRAIN, forward_range, &job);
}

/* dout, din[0] are like out (the same buffer in place); out keeps the training forward's
 * values. */
static void activation_backward(pdl_layer *l, const pdl_layer_ctx *ctx)
{
    const activation_opts *o = l->opts;
    activation_job job = {l, o->sign_mask ? l->saved : NULL};
    if (l->din[0])
        pdl_parallel_for(ctx->pool, pdl_shape_count(&l->out_shape), GRAIN, backward_range, &job);
}

#define ACTIVATION_OPS(keyword)                                                                   \
    {                                                                                             \
        .type = keyword, .min_inputs = 1, .max_inputs = 1,                                        \
        .opts_size = sizeof(activation_opts), .is_loss = false, .init = activation_init,          \
        .reshape = activation_reshape, .forward = activation_forward,                             \
        .backward = activation_backward, .destroy = NULL, .backward_reads_input = false,         \
        .backward_reads_output = true, .can_run_in_place = true,                                  \
    }

const pdl_layer_ops pdl_layer_relu = ACTIVATION_OPS("relu");
const pdl_layer_ops pdl_layer_leaky_relu = ACTIVATION_OPS("leaky_relu");
const pdl_layer_ops pdl_layer_sigmoid = ACTIVATION_OPS("sigmoid");
const pdl_layer_ops pdl_layer_tanh = ACTIVATION_OPS("tanh");
