/* Flatten: (N, C, H, W) -> (N, C*H*W), a copy, or nothing at all in place (out over in[0]).
 * Owns only the shape rule; it has no options. */
#include "layers/layer.h"

#include <string.h>

static pdl_status flatten_reshape(pdl_layer *l)
{
    const pdl_shape *in = &l->in_shape[0]; // (N, C, H, W)
    if (in->ndim < 1) {
        char buf[64];
        return pdl_layer_error(l, PDL_ERR_SHAPE, "input %s has no batch dim",
                               pdl_shape_format(in, buf, sizeof buf));
    }
    l->out_shape = pdl_shape_2d(in->dim[0], in->dim[0] ? pdl_shape_count(in) / in->dim[0] : 0);
    return PDL_OK;
}

enum { GRAIN = 1 << 15 }; /* elements worth a thread */

static void copy_range(void *arg, int64_t begin, int64_t end)
{
    const pdl_layer *l = arg;
    memcpy(l->out + begin, l->in[0] + begin, (size_t)(end - begin) * sizeof(float));
}

static void add_range(void *arg, int64_t begin, int64_t end)
{
    const pdl_layer *l = arg;
    const float *restrict dy = l->dout;
    float *restrict dx = l->din[0];
    for (int64_t i = begin; i < end; i++)
        dx[i] += dy[i];
}

/* in[0] is (N, C, H, W), out is (N, C*H*W): the same values in the same order (nothing to do
 * in place) */
static void flatten_forward(pdl_layer *l, const pdl_layer_ctx *ctx)
{
    if (l->out != l->in[0])
        pdl_parallel_for(ctx->pool, pdl_shape_count(&l->out_shape), GRAIN, copy_range, l);
}

/* dout is (N, C*H*W), din[0] is (N, C, H, W); in place din[0] is dout already */
static void flatten_backward(pdl_layer *l, const pdl_layer_ctx *ctx)
{
    if (l->din[0] && !l->in_place)
        pdl_parallel_for(ctx->pool, pdl_shape_count(&l->out_shape), GRAIN, add_range, l);
}

const pdl_layer_ops pdl_layer_flatten = {
    .type = "flatten",
    .min_inputs = 1,
    .max_inputs = 1,
    .opts_size = 0,
    .is_loss = false,
    .init = pdl_layer_init_none,
    .reshape = flatten_reshape,
    .forward = flatten_forward,
    .backward = flatten_backward,
    .destroy = NULL,
    .backward_reads_input = false,
    .backward_reads_output = false,
    .can_run_in_place = true,
};
