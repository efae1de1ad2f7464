/* Elementwise sum of 2..8 inputs of identical shape (residual connections). Owns the shape
 * check; it has no options and no parameters. */
#include "layers/layer.h"

#include <string.h>

static pdl_status add_reshape(pdl_layer *l)
{
    char want[64], got[64];
    for (int i = 1; i < l->n_inputs; i++)
        if (!pdl_shape_equal(&l->in_shape[i], &l->in_shape[0]))
            return pdl_layer_error(l, PDL_ERR_SHAPE,
                                   "input %d has shape %s, but input 0 has %s; add needs "
                                   "identical shapes",
                                   i, pdl_shape_format(&l->in_shape[i], got, sizeof got),
                                   pdl_shape_format(&l->in_shape[0], want, sizeof want));
    l->out_shape = l->in_shape[0];
    return PDL_OK;
}

/* in[i] and out are (any shape, all equal) */
static void add_forward(pdl_layer *l, const pdl_layer_ctx *ctx)
{
    (void)ctx;
    int64_t count = pdl_shape_count(&l->out_shape);
    if (l->out != l->in[0])
        memcpy(l->out, l->in[0], (size_t)count * sizeof(float));
    for (int i = 1; i < l->n_inputs; i++)
        for (int64_t j = 0; j < count; j++)
            l->out[j] += l->in[i][j];
}

/* dout and din[i] are like out: each input receives dout */
static void add_backward(pdl_layer *l, const pdl_layer_ctx *ctx)
{
    (void)ctx;
    int64_t count = pdl_shape_count(&l->out_shape);
    for (int i = 0; i < l->n_inputs; i++)
        for (int64_t j = 0; l->din[i] && j < count; j++)
            l->din[i][j] += l->dout[j];
}

const pdl_layer_ops pdl_layer_add = {
    .type = "add",
    .min_inputs = 2,
    .max_inputs = PDL_MAX_INPUTS,
    .opts_size = 0,
    .is_loss = false,
    .init = pdl_layer_init_none,
    .reshape = add_reshape,
    .forward = add_forward,
    .backward = add_backward,
    .destroy = NULL,
    .backward_reads_input = false,
    .backward_reads_output = false,
    .can_run_in_place = false,
};
