/* The elementwise activation layers relu, leaky_relu, sigmoid and tanh: one implementation
 * driven by a table of forward and derivative functions. Owns their options (leaky_relu's
 * slope); the `act =` shorthand of conv/fc is expanded by the net, not here. */
#include "layers/layer.h"

#include <math.h>

/* Scalar functions. NaN propagates through every forward (x < 0 is false for NaN), so a
 * diverged input stays visible. Derivatives take the input x and the output y = f(x). */
static inline float relu_f(float x, float slope) { (void)slope; return x < 0.0f ? 0.0f : x; }
static inline float relu_d(float x, float y, float slope)
{
    (void)y, (void)slope;
    return x > 0.0f ? 1.0f : 0.0f;
}

static inline float leaky_f(float x, float slope) { return x < 0.0f ? slope * x : x; }
static inline float leaky_d(float x, float y, float slope)
{
    (void)y;
    return x > 0.0f ? 1.0f : slope;
}

/* exp of a non-positive number only, so neither branch overflows. */
static inline float sigmoid_f(float x, float slope)
{
    (void)slope;
    if (x >= 0.0f)
        return 1.0f / (1.0f + expf(-x));
    float e = expf(x);
    return e / (1.0f + e);
}
static inline float sigmoid_d(float x, float y, float slope)
{
    (void)x, (void)slope;
    return y * (1.0f - y);
}

static inline float tanh_f(float x, float slope) { (void)slope; return tanhf(x); }
static inline float tanh_d(float x, float y, float slope)
{
    (void)x, (void)slope;
    return 1.0f - y * y;
}

/* Loops over n elements for one scalar pair, so that the compiler inlines the scalar function:
 * name_forward writes y = f(x); name_backward adds dy * f'(x) into dx. */
#define ELEMENTWISE_KERNELS(name)                                                                 \
    static void name##_forward(const float *x, float *y, int64_t n, float slope)                  \
    {                                                                                             \
        for (int64_t i = 0; i < n; i++)                                                           \
            y[i] = name##_f(x[i], slope);                                                         \
    }                                                                                             \
    static void name##_backward(const float *x, const float *y, const float *dy, float *dx,       \
                                int64_t n, float slope)                                           \
    {                                                                                             \
        for (int64_t i = 0; i < n; i++)                                                           \
            dx[i] += dy[i] * name##_d(x[i], y[i], slope);                                         \
    }

ELEMENTWISE_KERNELS(relu)
ELEMENTWISE_KERNELS(leaky)
ELEMENTWISE_KERNELS(sigmoid)
ELEMENTWISE_KERNELS(tanh)

typedef struct activation_kind {
    const pdl_layer_ops *ops;
    /* x, y are (n) */
    void (*forward)(const float *x, float *y, int64_t n, float slope);
    /* x, y, dy, dx are (n); adds into dx */
    void (*backward)(const float *x, const float *y, const float *dy, float *dx, int64_t n,
                     float slope);
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
    return st;
}

static pdl_status activation_reshape(pdl_layer *l)
{
    l->out_shape = l->in_shape[0];
    return PDL_OK;
}

enum { GRAIN = 1 << 14 }; /* elements worth a thread */

/* Elements [begin, end) of the layer arg. */
static void forward_range(void *arg, int64_t begin, int64_t end)
{
    const pdl_layer *l = arg;
    const activation_opts *o = l->opts;
    o->kind->forward(l->in[0] + begin, l->out + begin, end - begin, o->slope);
}

static void backward_range(void *arg, int64_t begin, int64_t end)
{
    const pdl_layer *l = arg;
    const activation_opts *o = l->opts;
    o->kind->backward(l->in[0] + begin, l->out + begin, l->dout + begin, l->din[0] + begin,
                      end - begin, o->slope);
}

/* in[0] and out are (any shape, same count) */
static void activation_forward(pdl_layer *l, const pdl_layer_ctx *ctx)
{
    pdl_parallel_for(ctx->pool, pdl_shape_count(&l->out_shape), GRAIN, forward_range, l);
}

/* dout, din[0] are like out; in[0] and out keep the values of the training forward. */
static void activation_backward(pdl_layer *l, const pdl_layer_ctx *ctx)
{
    if (l->din[0])
        pdl_parallel_for(ctx->pool, pdl_shape_count(&l->out_shape), GRAIN, backward_range, l);
}

#define ACTIVATION_OPS(keyword)                                                                   \
    {                                                                                             \
        .type = keyword, .min_inputs = 1, .max_inputs = 1,                                        \
        .opts_size = sizeof(activation_opts), .is_loss = false, .init = activation_init,          \
        .reshape = activation_reshape, .forward = activation_forward,                             \
        .backward = activation_backward, .destroy = NULL, .backward_reads_input = true,          \
        .backward_reads_output = true, .can_run_in_place = false,                                 \
    }

const pdl_layer_ops pdl_layer_relu = ACTIVATION_OPS("relu");
const pdl_layer_ops pdl_layer_leaky_relu = ACTIVATION_OPS("leaky_relu");
const pdl_layer_ops pdl_layer_sigmoid = ACTIVATION_OPS("sigmoid");
const pdl_layer_ops pdl_layer_tanh = ACTIVATION_OPS("tanh");
