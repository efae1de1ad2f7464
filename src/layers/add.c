/* Elementwise sum of 2..8 inputs of identical shape (residual connections), threaded over
 * element ranges and in-place capable (out over in[0]). Owns the shape check; it has no options
 * and no parameters. */
#include "layers/layer.h"

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

enum { GRAIN = 1 << 14, CHUNK = 2048 }; /* elements worth a thread; elements kept in L1 */

/* Elements [begin, end), CHUNK at a time so that out stays in cache over the inputs:
 * out = in[0] + in[1] + ... in input order. out may be in[0] (in place). */
static void forward_range(void *arg, int64_t begin, int64_t end)
{
    const pdl_layer *l = arg;
    for (int64_t b = begin; b < end; b += CHUNK) {
        int64_t m = end - b < CHUNK ? end - b : CHUNK;
        float *y = l->out + b;
        const float *x0 = l->in[0] + b, *x1 = l->in[1] + b;
        for (int64_t j = 0; j < m; j++)
            y[j] = x0[j] + x1[j];
        for (int i = 2; i < l->n_inputs; i++) {
            const float *restrict xi = l->in[i] + b;
            for (int64_t j = 0; j < m; j++)
                y[j] += xi[j];
        }
    }
}

/* Elements [begin, end): each input gradient receives dout. In place din[0] is dout already. */
static void backward_range(void *arg, int64_t begin, int64_t end)
{
    const pdl_layer *l = arg;
    for (int64_t b = begin; b < end; b += CHUNK) {
        int64_t m = end - b < CHUNK ? end - b : CHUNK;
        const float *dy = l->dout + b;
        for (int i = l->in_place ? 1 : 0; i < l->n_inputs; i++) {
            float *dx = l->din[i] ? l->din[i] + b : NULL;
            for (int64_t j = 0; dx && j < m; j++)
                dx[j] += dy[j];
        }
    }
}

/* in[i] and out are (any shape, all equal) */
static void add_forward(pdl_layer *l, const pdl_layer_ctx *ctx)
{
    pdl_parallel_for(ctx->pool, pdl_shape_count(&l->out_shape), GRAIN, forward_range, l);
}

/* dout and din[i] are like out */
static void add_backward(pdl_layer *l, const pdl_layer_ctx *ctx)
{
    pdl_parallel_for(ctx->pool, pdl_shape_count(&l->out_shape), GRAIN, backward_range, l);
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
    .can_run_in_place = true,
};
