/* Concatenation of 1..8 inputs along dim 1 (channels); every other dim must match. Owns the
 * shape checks and the copies (threaded over output ranges); it has no options. */
#include "layers/layer.h"

#include <string.h>

/* Values per sample and channel: the product of dims 2.. */
static int64_t inner_of(const pdl_shape *s)
{
    int64_t inner = 1;
    for (int i = 2; i < s->ndim; i++)
        inner *= s->dim[i];
    return inner;
}

static pdl_status concat_reshape(pdl_layer *l)
{
    const pdl_shape *first = &l->in_shape[0]; // (N, C0, H, W)
    char want[64], got[64];
    if (first->ndim < 2)
        return pdl_layer_error(l, PDL_ERR_SHAPE, "input 0 %s needs at least 2 dims (N, C, ...)",
                               pdl_shape_format(first, got, sizeof got));
    l->out_shape = *first;
    for (int i = 1; i < l->n_inputs; i++) {
        const pdl_shape *s = &l->in_shape[i]; // (N, Ci, H, W)
        bool fits = s->ndim == first->ndim;
        for (int d = 0; fits && d < s->ndim; d++)
            fits = d == 1 || s->dim[d] == first->dim[d];
        if (!fits)
            return pdl_layer_error(l, PDL_ERR_SHAPE,
                                   "input %d has shape %s, but input 0 has %s; concat needs "
                                   "equal dims except dim 1 (channels)",
                                   i, pdl_shape_format(s, got, sizeof got),
                                   pdl_shape_format(first, want, sizeof want));
        l->out_shape.dim[1] += s->dim[1];
    }
    return PDL_OK;
}

enum { GRAIN = 1 << 15 }; /* elements worth a thread */

typedef struct concat_job {
    const pdl_layer *l;
    bool backward;
} concat_job;

/* Output elements [begin, end) of out (N, sum Ci, inner), piece by piece: the part of sample
 * n's slice of input i inside the range. Forward copies in[i] into it; backward adds it into
 * din[i] (inputs without a gradient are skipped). */
static void range_pieces(void *arg, int64_t begin, int64_t end)
{
    const concat_job *job = arg;
    const pdl_layer *l = job->l;
    int64_t inner = inner_of(&l->out_shape), out_block = l->out_shape.dim[1] * inner;
    if (out_block == 0)
        return;
    for (int64_t n = begin / out_block; n * out_block < end; n++) {
        int64_t start = n * out_block; /* of the slice of input i */
        for (int i = 0; i < l->n_inputs; i++) {
            int64_t block = l->in_shape[i].dim[1] * inner;
            int64_t lo = begin > start ? begin : start;
            int64_t hi = end < start + block ? end : start + block;
            int64_t at = n * block + (lo - start); /* in input i */
            if (lo < hi && !job->backward)
                memcpy(l->out + lo, l->in[i] + at, (size_t)(hi - lo) * sizeof(float));
            if (lo < hi && job->backward && l->din[i]) {
                const float *restrict dy = l->dout + lo;
                float *restrict dx = l->din[i] + at;
                for (int64_t j = 0; j < hi - lo; j++)
                    dx[j] += dy[j];
            }
            start += block;
        }
    }
}

/* in[i] is (N, Ci, H, W), out is (N, sum Ci, H, W) */
static void concat_forward(pdl_layer *l, const pdl_layer_ctx *ctx)
{
    concat_job job = {l, false};
    pdl_parallel_for(ctx->pool, pdl_shape_count(&l->out_shape), GRAIN, range_pieces, &job);
}

/* dout is (N, sum Ci, H, W); adds its slices into din[i] (N, Ci, H, W) */
static void concat_backward(pdl_layer *l, const pdl_layer_ctx *ctx)
{
    concat_job job = {l, true};
    pdl_parallel_for(ctx->pool, pdl_shape_count(&l->out_shape), GRAIN, range_pieces, &job);
}

const pdl_layer_ops pdl_layer_concat = {
    .type = "concat",
    .min_inputs = 1,
    .max_inputs = PDL_MAX_INPUTS,
    .opts_size = 0,
    .is_loss = false,
    .init = pdl_layer_init_none,
    .reshape = concat_reshape,
    .forward = concat_forward,
    .backward = concat_backward,
    .destroy = NULL,
    .backward_reads_input = false,
    .backward_reads_output = false,
    .can_run_in_place = false,
};
