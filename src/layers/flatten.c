/* Flatten: (N, C, H, W) -> (N, C*H*W), a copy (the net may alias it away). Owns only the
 * shape rule; it has no options. */
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

/* in[0] is (N, C, H, W), out is (N, C*H*W): the same values in the same order */
static void flatten_forward(pdl_layer *l, const pdl_layer_ctx *ctx)
{
    (void)ctx;
    if (l->out != l->in[0])
        memcpy(l->out, l->in[0], (size_t)pdl_shape_count(&l->out_shape) * sizeof(float));
}

/* dout is (N, C*H*W), din[0] is (N, C, H, W) */
static void flatten_backward(pdl_layer *l, const pdl_layer_ctx *ctx)
{
    (void)ctx;
    int64_t count = pdl_shape_count(&l->out_shape);
    for (int64_t i = 0; l->din[0] && i < count; i++)
        l->din[0][i] += l->dout[i];
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
    .can_run_in_place = false,
};
