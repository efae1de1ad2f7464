/* Cross-channel LRN, PyTorch's LocalResponseNorm: b_c = a_c / s_c^beta with s_c = k + alpha /
 * size * sum of a_j^2 over channels j in [c - size/2, c + (size-1)/2] (absent ones count as 0).
 * Owns its options and the exact backward (vectorized, s^-beta through vecmath.h's pow);
 * within-channel LRN is not supported. Backward reads the input and the output, so it never
 * runs in place. */
#include "layers/layer.h"
#include "layers/vecmath.h"

#include <math.h>

typedef struct lrn_opts {
    int64_t size;
    double alpha, beta, k;
} lrn_opts;

static pdl_status lrn_init(pdl_layer *l, pdl_cfg_section *sec)
{
    lrn_opts *o = l->opts;
    pdl_status st = pdl_cfg_int(sec, "size", 5, 1, 1 << 16, &o->size);
    if (st == PDL_OK)
        st = pdl_cfg_float(sec, "alpha", 1e-4, 0.0, HUGE_VAL, &o->alpha);
    if (st == PDL_OK)
        st = pdl_cfg_float(sec, "beta", 0.75, 0.0, HUGE_VAL, &o->beta);
    if (st == PDL_OK)
        st = pdl_cfg_float(sec, "k", 1.0, 0.0, HUGE_VAL, &o->k);
    if (st == PDL_OK && o->k <= 0.0)
        st = pdl_cfg_error(sec, "k", PDL_ERR_PARSE, "must be positive (got %g)", o->k);
    return st;
}

static pdl_status lrn_reshape(pdl_layer *l)
{
    const lrn_opts *o = l->opts;
    const pdl_shape *in = &l->in_shape[0]; // (N, C, H, W)
    if (in->ndim < 2) {
        char buf[64];
        return pdl_layer_error(l, PDL_ERR_SHAPE, "input %s needs at least 2 dims (N, C, ...)",
                               pdl_shape_format(in, buf, sizeof buf));
    }
    int64_t count = pdl_shape_count(in);
    l->out_shape = *in;
    l->saved_bytes = (size_t)count * sizeof(float);     /* s, the scale of each element */
    l->workspace_bytes = (size_t)count * sizeof(float); /* eval: s; backward: dy * b / s */
    l->macs = count * o->size;                          /* the window sums of squares */
    return PDL_OK;
}

/* Work is split by rows of the (N, C, inner) view: row r = n * C + c is channel c of sample n,
 * inner values starting at r * inner. */
enum { GRAIN = 1 << 14 }; /* elements worth a thread */

typedef struct lrn_job {
    const pdl_layer *l;
    float *scale; /* (N, C, inner): saved in training, else the workspace */
    int64_t rows, channels, inner;
} lrn_job;

static lrn_job job_of(const pdl_layer *l, float *scale)
{
    const pdl_shape *s = &l->in_shape[0];
    lrn_job job = {.l = l,
                   .scale = scale,
                   .rows = s->dim[0] * s->dim[1],
                   .channels = s->dim[1],
                   .inner = 1};
    for (int i = 2; i < s->ndim; i++)
        job.inner *= s->dim[i];
    return job;
}

static int64_t row_grain(const lrn_job *job)
{
    return job->inner >= GRAIN ? 1 : GRAIN / (job->inner > 0 ? job->inner : 1);
}

/* Channels [lo, hi] of the window around c, clipped to [0, channels). */
static void window(int64_t c, int64_t before, int64_t after, int64_t channels, int64_t *lo,
                   int64_t *hi)
{
    *lo = c - before < 0 ? 0 : c - before;
    *hi = c + after >= channels ? channels - 1 : c + after;
}

/* Rows [begin, end): the scale s from the window's squares (summed in channel order), then
 * out = x * s^-beta, a chunk of VEC_CHUNK values at a time. */
static void forward_range(void *arg, int64_t begin, int64_t end)
{
    const lrn_job *job = arg;
    const pdl_layer *l = job->l;
    const lrn_opts *o = l->opts;
    int64_t channels = job->channels, inner = job->inner;
    float coef = (float)(o->alpha / (double)o->size), k = (float)o->k, beta = (float)o->beta;
    for (int64_t row = begin; row < end; row++) {
        int64_t c = row % channels, lo, hi;
        const float *x = l->in[0] + (row - c) * inner; /* channel 0 of this sample */
        float *s = job->scale + row * inner, *y = l->out + row * inner;
        window(c, o->size / 2, (o->size - 1) / 2, channels, &lo, &hi);
        for (int64_t b = 0; b < inner; b += VEC_CHUNK) {
            int64_t m = inner - b < VEC_CHUNK ? inner - b : VEC_CHUNK;
            float sum[VEC_CHUNK] = {0}, t[VEC_CHUNK];
            for (int64_t j = lo; j <= hi; j++) {
                const float *xj = x + j * inner + b;
                for (int64_t p = 0; p < m; p++)
                    sum[p] += xj[p] * xj[p];
            }
            for (int64_t p = 0; p < m; p++)
                s[b + p] = t[p] = k + coef * sum[p];
            vec_pow(t, m, -beta);
            const float *xc = x + c * inner + b;
            for (int64_t p = 0; p < m; p++)
                y[b + p] = xc[p] * t[p];
        }
    }
}

/* in[0], out and the scale are (N, C, H, W). Only a training forward keeps the scale (in
 * saved, which the net provides for training only); eval uses the workspace. */
static void lrn_forward(pdl_layer *l, const pdl_layer_ctx *ctx)
{
    lrn_job job = job_of(l, ctx->training ? l->saved : l->workspace);
    pdl_parallel_for(ctx->pool, job.rows, row_grain(&job), forward_range, &job);
}

/* Rows [begin, end) of r = dy * b / s into the workspace. */
static void ratio_range(void *arg, int64_t begin, int64_t end)
{
    const lrn_job *job = arg;
    const pdl_layer *l = job->l;
    float *restrict ratio = l->workspace;
    const float *dy = l->dout, *y = l->out, *s = job->scale;
    for (int64_t i = begin * job->inner; i < end * job->inner; i++)
        ratio[i] = dy[i] * y[i] / s[i];
}

/* Rows [begin, end) of dx_j += dy_j * s_j^-beta - 2 * alpha * beta / size * x_j * (sum of
 * r_i over the channels i whose window holds j: i in [j - (size-1)/2, j + size/2]), a chunk
 * of VEC_CHUNK values at a time. */
static void backward_range(void *arg, int64_t begin, int64_t end)
{
    const lrn_job *job = arg;
    const pdl_layer *l = job->l;
    const lrn_opts *o = l->opts;
    int64_t channels = job->channels, inner = job->inner;
    float coef = (float)(2.0 * o->alpha * o->beta / (double)o->size), beta = (float)o->beta;
    for (int64_t row = begin; row < end; row++) {
        int64_t c = row % channels, lo, hi;
        const float *x = l->in[0] + row * inner, *dy = l->dout + row * inner;
        const float *s = job->scale + row * inner;
        const float *ratio = (const float *)l->workspace + (row - c) * inner; /* channel 0 */
        float *dx = l->din[0] + row * inner;
        window(c, (o->size - 1) / 2, o->size / 2, channels, &lo, &hi);
        for (int64_t b = 0; b < inner; b += VEC_CHUNK) {
            int64_t m = inner - b < VEC_CHUNK ? inner - b : VEC_CHUNK;
            float sum[VEC_CHUNK] = {0}, t[VEC_CHUNK];
            for (int64_t i = lo; i <= hi; i++) {
                const float *r = ratio + i * inner + b;
                for (int64_t p = 0; p < m; p++)
                    sum[p] += r[p];
            }
            for (int64_t p = 0; p < m; p++)
                t[p] = s[b + p];
            vec_pow(t, m, -beta);
            for (int64_t p = 0; p < m; p++)
                dx[b + p] += dy[b + p] * t[p] - coef * x[b + p] * sum[p];
        }
    }
}

/* dout, din[0] are (N, C, H, W); the workspace holds r (N, C, H, W). */
static void lrn_backward(pdl_layer *l, const pdl_layer_ctx *ctx)
{
    if (!l->din[0])
        return;
    lrn_job job = job_of(l, l->saved);
    pdl_parallel_for(ctx->pool, job.rows, row_grain(&job), ratio_range, &job);
    pdl_parallel_for(ctx->pool, job.rows, row_grain(&job), backward_range, &job);
}

const pdl_layer_ops pdl_layer_lrn = {
    .type = "lrn",
    .min_inputs = 1,
    .max_inputs = 1,
    .opts_size = sizeof(lrn_opts),
    .is_loss = false,
    .init = lrn_init,
    .reshape = lrn_reshape,
    .forward = lrn_forward,
    .backward = lrn_backward,
    .destroy = NULL,
    .backward_reads_input = true,
    .backward_reads_output = true,
    .can_run_in_place = false,
};
