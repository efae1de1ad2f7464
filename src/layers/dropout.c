/* Inverted dropout: in training each element is kept with probability 1 - p and scaled by
 * 1 / (1 - p); in eval the layer is the identity. The mask is a pure function of
 * (seed, step, layer name, element index) via the counter-based rng; nothing else is random.
 * Backward reads the mask only, so the layer runs in place. */
#include "core/rng.h"
#include "layers/layer.h"
#include "layers/vecmath.h"

#include <string.h>

typedef struct dropout_opts {
    double p; /* drop probability, in [0, 1) */
} dropout_opts;

static pdl_status dropout_init(pdl_layer *l, pdl_cfg_section *sec)
{
    dropout_opts *o = l->opts;
    pdl_status st = pdl_cfg_float(sec, "p", 0.5, 0.0, 1.0, &o->p);
    if (st == PDL_OK && o->p >= 1.0)
        st = pdl_cfg_error(sec, "p", PDL_ERR_PARSE, "must be below 1 (got %g)", o->p);
    return st;
}

static pdl_status dropout_reshape(pdl_layer *l)
{
    l->out_shape = l->in_shape[0];
    l->saved_bytes = (size_t)pdl_shape_count(&l->out_shape); /* the mask, one byte each */
    return PDL_OK;
}

enum { GRAIN = 1 << 14 }; /* elements worth a thread */

typedef struct dropout_job {
    const pdl_layer *l;
    uint64_t seed, stream;
    float p, scale;
} dropout_job;

/* Elements [begin, end): draw the mask, then write out (vectorized). */
static void forward_range(void *arg, int64_t begin, int64_t end)
{
    const dropout_job *j = arg;
    unsigned char *mask = j->l->saved;
    const float *x = j->l->in[0];
    float *y = j->l->out; /* may be x */
    for (int64_t i = begin; i < end; i++)
        mask[i] = pdl_rng_uniform(j->seed, j->stream, (uint64_t)i) >= j->p;
    for (int64_t i = begin; i < end; i++)
        y[i] = vec_select(mask[i], x[i] * j->scale, 0.0f);
}

/* dx (+)= dy * scale where kept, 0 elsewhere; in place dx is dy and is overwritten. */
static void backward_range(void *arg, int64_t begin, int64_t end)
{
    const dropout_job *j = arg;
    const unsigned char *mask = j->l->saved;
    const float *dy = j->l->dout;
    float *dx = j->l->din[0], scale = j->scale;
    if (j->l->in_place)
        for (int64_t i = begin; i < end; i++)
            dx[i] = vec_select(mask[i], dy[i] * scale, 0.0f);
    else
        for (int64_t i = begin; i < end; i++)
            dx[i] += vec_select(mask[i], dy[i] * scale, 0.0f);
}

static dropout_job job_of(const pdl_layer *l, const pdl_layer_ctx *ctx)
{
    const dropout_opts *o = l->opts;
    return (dropout_job){.l = l,
                         .seed = ctx->seed,
                         .stream = pdl_rng_stream_of(l->name) ^ ctx->step,
                         .p = (float)o->p,
                         .scale = (float)(1.0 / (1.0 - o->p))};
}

/* in[0], out (possibly the same buffer) and the mask in saved are (any shape, same count). */
static void dropout_forward(pdl_layer *l, const pdl_layer_ctx *ctx)
{
    int64_t count = pdl_shape_count(&l->out_shape);
    if (!ctx->training) {
        if (l->out != l->in[0])
            memcpy(l->out, l->in[0], (size_t)count * sizeof(float));
        return;
    }
    dropout_job job = job_of(l, ctx);
    pdl_parallel_for(ctx->pool, count, GRAIN, forward_range, &job);
}

/* dout, din[0] are like out; the mask is the one of the last training forward. */
static void dropout_backward(pdl_layer *l, const pdl_layer_ctx *ctx)
{
    dropout_job job = job_of(l, ctx);
    if (l->din[0])
        pdl_parallel_for(ctx->pool, pdl_shape_count(&l->out_shape), GRAIN, backward_range, &job);
}

const pdl_layer_ops pdl_layer_dropout = {
    .type = "dropout",
    .min_inputs = 1,
    .max_inputs = 1,
    .opts_size = sizeof(dropout_opts),
    .is_loss = false,
    .init = dropout_init,
    .reshape = dropout_reshape,
    .forward = dropout_forward,
    .backward = dropout_backward,
    .destroy = NULL,
    .backward_reads_input = false,
    .backward_reads_output = false,
    .can_run_in_place = true,
};
