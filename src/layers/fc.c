/* The "fc" layer: fully connected, y = x W^T + b over GEMM. An (N, C, H, W) input is read as
 * (N, C*H*W). Owns its options and shapes; the GEMM lives in src/backend/cpu/gemm.c and the
 * activation (`act`) in the net builder. */
#include "layers/layer.h"

#include "backend/cpu/gemm.h"

enum { OUTPUT_MAX = 1 << 24 };

typedef struct fc_opts {
    int64_t output;
    bool bias;
    int64_t batch, inputs; /* from the last reshape: x is (batch, inputs) */
} fc_opts;

static pdl_status fc_init(pdl_layer *l, pdl_cfg_section *sec)
{
    fc_opts *o = (fc_opts *)l->opts;
    pdl_status status;
    if (!pdl_cfg_find(sec, "output"))
        return pdl_cfg_error(sec, NULL, PDL_ERR_PARSE, "missing required key 'output'");
    if ((status = pdl_cfg_int(sec, "output", 1, 1, OUTPUT_MAX, &o->output)) != PDL_OK ||
        (status = pdl_cfg_bool(sec, "bias", true, &o->bias)) != PDL_OK)
        return status;
    return PDL_OK;
}

static pdl_status fc_reshape(pdl_layer *l)
{
    fc_opts *o = (fc_opts *)l->opts;
    const pdl_shape *in = &l->in_shape[0];
    if (in->ndim != 2 && in->ndim != 4) {
        char text[64];
        return pdl_layer_error(l, PDL_ERR_SHAPE, "input must be (N, D) or (N, C, H, W), got %s",
                               pdl_shape_format(in, text, sizeof text));
    }
    o->batch = in->dim[0];
    o->inputs = pdl_shape_count(in) / (o->batch > 0 ? o->batch : 1);
    l->out_shape = pdl_shape_2d(o->batch, o->output);
    pdl_shape wshape = pdl_shape_2d(o->output, o->inputs);
    if (!pdl_layer_declare_param(l, "weight", wshape, true, PDL_INIT_HE_NORMAL, o->inputs,
                                 o->output))
        return PDL_ERR_SHAPE;
    if (o->bias && !pdl_layer_declare_param(l, "bias", pdl_shape_make(1, &o->output), true,
                                            PDL_INIT_ZERO, o->inputs, o->output))
        return PDL_ERR_SHAPE;
    l->macs = o->batch * o->inputs * o->output;
    return PDL_OK;
}

static void fc_forward(pdl_layer *l, const pdl_layer_ctx *ctx)
{
    const fc_opts *o = (const fc_opts *)l->opts;
    const float *w = l->params[0].data; // w is (out, in)
    // y (N, out) = x (N, in) * w^T (in, out) + bias (out)
    pdl_cpu_gemm(ctx->pool, false, true, o->batch, o->output, o->inputs, 1.0f, l->in[0],
                 o->inputs, w, o->inputs, 0.0f, l->out, o->output);
    if (o->bias) {
        const float *bias = l->params[1].data;
        for (int64_t n = 0; n < o->batch; n++)
            for (int64_t j = 0; j < o->output; j++)
                l->out[n * o->output + j] += bias[j];
    }
}

static void fc_backward(pdl_layer *l, const pdl_layer_ctx *ctx)
{
    const fc_opts *o = (const fc_opts *)l->opts;
    const float *dy = l->dout; // dy is (N, out)
    // dw (out, in) += dy^T (out, N) * x (N, in): each element sums the batch in order
    pdl_cpu_gemm(ctx->pool, true, false, o->output, o->inputs, o->batch, 1.0f, dy, o->output,
                 l->in[0], o->inputs, 1.0f, l->params[0].grad, o->inputs);
    if (o->bias) {
        float *dbias = l->params[1].grad; // dbias is (out)
        for (int64_t j = 0; j < o->output; j++) {
            double sum = 0.0;
            for (int64_t n = 0; n < o->batch; n++)
                sum += dy[n * o->output + j];
            dbias[j] += (float)sum;
        }
    }
    // dx (N, in) += dy (N, out) * w (out, in)
    if (l->din[0])
        pdl_cpu_gemm(ctx->pool, false, false, o->batch, o->inputs, o->output, 1.0f, dy,
                     o->output, l->params[0].data, o->inputs, 1.0f, l->din[0], o->inputs);
}

const pdl_layer_ops pdl_layer_fc = {
    .type = "fc",
    .min_inputs = 1,
    .max_inputs = 1,
    .opts_size = sizeof(fc_opts),
    .init = fc_init,
    .reshape = fc_reshape,
    .forward = fc_forward,
    .backward = fc_backward,
    .backward_reads_input = true,
    .backward_reads_output = false,
    .can_run_in_place = false,
};
