/* Batch normalization over dim 1 with PyTorch's semantics (BatchNorm2d for (N, C, H, W),
 * BatchNorm1d for (N, D)): batch statistics and running-stat updates in training, running stats
 * in eval. Owns its options and parameters; initial values are the net's business. Threads
 * split channels; training forward and backward take two passes over a channel each, eval one.
 * Not in place: backward needs xhat, which the output gives back only where gamma != 0, and
 * keeping xhat would cost the memory in place saves (a ReLU after it runs in place instead). */
#include "layers/layer.h"

#include <math.h>
#include <string.h>

typedef struct batchnorm_opts {
    double eps;
    double momentum; /* running = (1 - momentum) * running + momentum * batch */
    bool affine;     /* learn weight (gamma) and bias (beta) */
    int weight, bias, running_mean, running_var; /* indices into l->params; -1 when absent */
} batchnorm_opts;

/* Geometry of (N, C, inner...) with channel c's values at x[(n * C + c) * inner + s]. */
typedef struct bn_dims {
    int64_t n, c, inner;
} bn_dims;

static bn_dims dims_of(const pdl_shape *s)
{
    bn_dims d = {s->dim[0], s->dim[1], 1};
    for (int i = 2; i < s->ndim; i++)
        d.inner *= s->dim[i];
    return d;
}

static pdl_status batchnorm_init(pdl_layer *l, pdl_cfg_section *sec)
{
    batchnorm_opts *o = l->opts;
    pdl_status st = pdl_cfg_float(sec, "eps", 1e-5, 0.0, 1.0, &o->eps);
    if (st == PDL_OK)
        st = pdl_cfg_float(sec, "momentum", 0.1, 0.0, 1.0, &o->momentum);
    if (st == PDL_OK)
        st = pdl_cfg_bool(sec, "affine", true, &o->affine);
    return st;
}

static pdl_status batchnorm_reshape(pdl_layer *l)
{
    batchnorm_opts *o = l->opts;
    const pdl_shape *in = &l->in_shape[0]; // (N, C, H, W) or (N, D)
    if (in->ndim < 2) {
        char buf[64];
        return pdl_layer_error(l, PDL_ERR_SHAPE, "input %s needs at least 2 dims (N, C, ...)",
                               pdl_shape_format(in, buf, sizeof buf));
    }
    bn_dims d = dims_of(in);
    pdl_shape channels = pdl_shape_make(1, &d.c);
    /* PyTorch's order: weight, bias, running_mean, running_var */
    static const struct {
        const char *name;
        bool trainable;
        pdl_param_init init;
    } decls[] = {{"weight", true, PDL_INIT_ONE},
                 {"bias", true, PDL_INIT_ZERO},
                 {"running_mean", false, PDL_INIT_ZERO},
                 {"running_var", false, PDL_INIT_ONE}};
    int *index[] = {&o->weight, &o->bias, &o->running_mean, &o->running_var};
    for (int i = 0; i < 4; i++) {
        *index[i] = -1;
        if (decls[i].trainable && !o->affine)
            continue;
        pdl_param *p = pdl_layer_declare_param(l, decls[i].name, channels, decls[i].trainable,
                                               decls[i].init, 0, 0);
        if (!p)
            return PDL_ERR_SHAPE;
        *index[i] = (int)(p - l->params);
    }
    l->out_shape = *in;
    l->saved_bytes = 2 * (size_t)d.c * sizeof(float); /* batch mean, then inverse std */
    l->macs = pdl_shape_count(in);                    /* one scale-and-shift per element */
    return PDL_OK;
}

/* gamma of channel c (1 without affine) */
static float gamma_of(const pdl_layer *l, const batchnorm_opts *o, int64_t c)
{
    return o->weight >= 0 ? l->params[o->weight].data[c] : 1.0f;
}

static float beta_of(const pdl_layer *l, const batchnorm_opts *o, int64_t c)
{
    return o->bias >= 0 ? l->params[o->bias].data[c] : 0.0f;
}

/* Sums over one channel are split into LANES partial sums by position (element s of a plane
 * goes to lane s % LANES; the last inner % LANES of each plane to one more sum), so that GCC
 * vectorizes them without reordering a reduction; the partial sums are added in a fixed order
 * at the end. Each channel is summed by one thread. The summing functions stay out of line:
 * inlined into the channel loop, GCC 12 no longer vectorizes them. */
enum { LANES = 4 }; /* one vector of doubles (GCC splits a wider float-to-double SLP badly) */

typedef struct channel_sums {
    double a, b;
} channel_sums;

/* The lanes in a fixed order, then the tails of the planes. */
static channel_sums add_lanes(const double a[LANES], const double b[LANES], channel_sums tail)
{
    channel_sums sums = {0.0, 0.0};
    for (int j = 0; j < LANES; j++) {
        sums.a += a[j];
        sums.b += b[j];
    }
    sums.a += tail.a;
    sums.b += tail.b;
    return sums;
}

/* Over the planes of channel c of x (N, C, inner): a = sum (x - k), b = sum (x - k)^2, in
 * double and shifted by k (a value of the channel), so that a large common offset cancels
 * before the squares. */
__attribute__((noinline)) static channel_sums shifted_sums(const float *x, bn_dims d, int64_t c,
                                                          double k)
{
    double a[LANES] = {0}, b[LANES] = {0};
    channel_sums tail = {0.0, 0.0};
    for (int64_t n = 0; n < d.n; n++) {
        const float *xp = x + (n * d.c + c) * d.inner;
        int64_t s = 0;
        for (; s + LANES <= d.inner; s += LANES) {
            float xs[LANES];
            memcpy(xs, xp + s, sizeof xs); /* one vector load (GCC assembles scalars otherwise) */
#pragma GCC unroll 8
            for (int j = 0; j < LANES; j++) {
                double v = (double)xs[j] - k;
                a[j] += v;
                b[j] += v * v;
            }
        }
        for (; s < d.inner; s++) {
            double v = (double)xp[s] - k;
            tail.a += v;
            tail.b += v * v;
        }
    }
    return add_lanes(a, b, tail);
}

/* Over the planes of channel c of x, dy (N, C, inner): a = sum dy, b = sum dy (x - mean). */
__attribute__((noinline)) static channel_sums gradient_sums(const float *x, const float *dy,
                                                           bn_dims d, int64_t c, double mean)
{
    double a[LANES] = {0}, b[LANES] = {0};
    channel_sums tail = {0.0, 0.0};
    for (int64_t n = 0; n < d.n; n++) {
        const float *xp = x + (n * d.c + c) * d.inner, *dyp = dy + (n * d.c + c) * d.inner;
        int64_t s = 0;
        for (; s + LANES <= d.inner; s += LANES) {
            float xs[LANES], dys[LANES];
            memcpy(xs, xp + s, sizeof xs);
            memcpy(dys, dyp + s, sizeof dys);
#pragma GCC unroll 8
            for (int j = 0; j < LANES; j++) {
                a[j] += dys[j];
                b[j] += (double)dys[j] * ((double)xs[j] - mean);
            }
        }
        for (; s < d.inner; s++) {
            double g = dyp[s];
            tail.a += g;
            tail.b += g * ((double)xp[s] - mean);
        }
    }
    return add_lanes(a, b, tail);
}

/* y = x * scale + shift over the planes of channel c of x, y (N, C, inner); y may be x. */
static void scale_shift_channel(const float *x, float *y, bn_dims d, int64_t c, float scale,
                                float shift)
{
    for (int64_t n = 0; n < d.n; n++) {
        const float *xp = x + (n * d.c + c) * d.inner;
        float *yp = y + (n * d.c + c) * d.inner;
        for (int64_t s = 0; s < d.inner; s++)
            yp[s] = xp[s] * scale + shift;
    }
}

/* Channels are independent: each range of channels is one task (grain ~ GRAIN elements). */
enum { GRAIN = 1 << 14 };

static int64_t channel_grain(bn_dims d)
{
    int64_t per_channel = d.n * d.inner;
    return per_channel >= GRAIN ? 1 : GRAIN / (per_channel > 0 ? per_channel : 1);
}

typedef struct forward_job {
    const pdl_layer *l;
    bool training;
} forward_job;

/* Channels [begin, end) of in[0], out (N, C, inner): in training one pass for the statistics
 * (which also update the running stats and saved = batch mean (C) then inverse std (C)), then
 * one pass of scale and shift, while the channel is still in cache; in eval that pass alone. */
static void forward_range(void *arg, int64_t begin, int64_t end)
{
    const forward_job *job = arg;
    const pdl_layer *l = job->l;
    const batchnorm_opts *o = l->opts;
    bn_dims d = dims_of(&l->in_shape[0]);
    float *running_mean = l->params[o->running_mean].data; // (C)
    float *running_var = l->params[o->running_var].data;   // (C)
    float *saved_mean = l->saved, *saved_invstd = saved_mean + d.c;
    int64_t count = d.n * d.inner;
    for (int64_t c = begin; c < end; c++) {
        double mean, var;
        if (job->training && count > 0) { /* an empty batch leaves the running stats alone */
            double k = l->in[0][c * d.inner];
            channel_sums sums = shifted_sums(l->in[0], d, c, k);
            double shift = sums.a / (double)count;
            mean = k + shift;
            var = sums.b / (double)count - shift * shift;
            var = var > 0.0 ? var : 0.0;
            double unbiased = count > 1 ? var * (double)count / (double)(count - 1) : var;
            running_mean[c] = (float)((1.0 - o->momentum) * running_mean[c] + o->momentum * mean);
            running_var[c] =
                (float)((1.0 - o->momentum) * running_var[c] + o->momentum * unbiased);
        } else {
            mean = running_mean[c];
            var = running_var[c];
        }
        double invstd = 1.0 / sqrt(var + o->eps);
        if (job->training) {
            saved_mean[c] = (float)mean;
            saved_invstd[c] = (float)invstd;
        }
        double gamma = gamma_of(l, o, c);
        scale_shift_channel(l->in[0], l->out, d, c, (float)(gamma * invstd),
                            (float)(beta_of(l, o, c) - mean * gamma * invstd));
    }
}

static void batchnorm_forward(pdl_layer *l, const pdl_layer_ctx *ctx)
{
    forward_job job = {l, ctx->training};
    bn_dims d = dims_of(&l->in_shape[0]);
    pdl_parallel_for(ctx->pool, d.c, channel_grain(d), forward_range, &job);
}

/* Channels [begin, end) of dout, din[0] (N, C, inner): one pass for the sums, one for dx. With
 * xhat = (x - mean) * invstd and M = N * inner: dbeta = sum dy, dgamma = sum dy * xhat,
 * dx = gamma * invstd * (dy - dbeta / M - xhat * dgamma / M). */
static void backward_range(void *arg, int64_t begin, int64_t end)
{
    const pdl_layer *l = arg;
    const batchnorm_opts *o = l->opts;
    bn_dims d = dims_of(&l->in_shape[0]);
    const float *saved_mean = l->saved, *saved_invstd = saved_mean + d.c;
    double count = (double)(d.n * d.inner);
    for (int64_t c = begin; c < end; c++) {
        float mean = saved_mean[c], invstd = saved_invstd[c];
        channel_sums sums = gradient_sums(l->in[0], l->dout, d, c, mean);
        double sum_dy = sums.a, sum_dy_xhat = sums.b * invstd;
        if (o->weight >= 0) {
            l->params[o->weight].grad[c] += (float)sum_dy_xhat;
            l->params[o->bias].grad[c] += (float)sum_dy;
        }
        if (!l->din[0])
            continue;
        float scale = gamma_of(l, o, c) * invstd;
        float mean_dy = (float)(sum_dy / count), mean_dy_xhat = (float)(sum_dy_xhat / count);
        for (int64_t n = 0; n < d.n; n++) {
            int64_t at = (n * d.c + c) * d.inner;
            const float *restrict x = l->in[0] + at, *restrict dy = l->dout + at;
            float *restrict dx = l->din[0] + at;
            for (int64_t s = 0; s < d.inner; s++)
                dx[s] += scale * (dy[s] - mean_dy - (x[s] - mean) * invstd * mean_dy_xhat);
        }
    }
}

static void batchnorm_backward(pdl_layer *l, const pdl_layer_ctx *ctx)
{
    bn_dims d = dims_of(&l->in_shape[0]);
    pdl_parallel_for(ctx->pool, d.c, channel_grain(d), backward_range, l);
}

const pdl_layer_ops pdl_layer_batchnorm = {
    .type = "batchnorm",
    .min_inputs = 1,
    .max_inputs = 1,
    .opts_size = sizeof(batchnorm_opts),
    .is_loss = false,
    .init = batchnorm_init,
    .reshape = batchnorm_reshape,
    .forward = batchnorm_forward,
    .backward = batchnorm_backward,
    .destroy = NULL,
    .backward_reads_input = true,
    .backward_reads_output = false,
    .can_run_in_place = false,
};
