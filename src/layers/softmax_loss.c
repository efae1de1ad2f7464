/* Softmax + cross-entropy with PyTorch's label smoothing: out = probabilities, loss = batch mean
 * of -sum_k target_k log p_k, target = (1 - eps) onehot + eps / K. Labels arrive validated by the
 * data source, so one outside [0, K) is a programmer error (PDL_ASSERT). */
#include "layers/layer.h"

#include <math.h>

typedef struct softmax_loss_opts {
    double smoothing; /* label_smoothing eps, in [0, 1) */
} softmax_loss_opts;

static pdl_status softmax_loss_init(pdl_layer *l, pdl_cfg_section *sec)
{
    softmax_loss_opts *o = l->opts;
    pdl_status st = pdl_cfg_float(sec, "label_smoothing", 0.0, 0.0, 1.0, &o->smoothing);
    if (st == PDL_OK && o->smoothing >= 1.0)
        st = pdl_cfg_error(sec, "label_smoothing", PDL_ERR_PARSE, "must be below 1 (got %g)",
                           o->smoothing);
    return st;
}

static pdl_status softmax_loss_reshape(pdl_layer *l)
{
    const pdl_shape *in = &l->in_shape[0]; // (N, K) or (N, K, 1, 1)
    bool fits = in->ndim >= 2 && in->dim[1] >= 1;
    for (int i = 2; fits && i < in->ndim; i++)
        fits = in->dim[i] == 1;
    if (!fits) {
        char buf[64];
        return pdl_layer_error(l, PDL_ERR_SHAPE,
                               "input %s must be (N, K) or (N, K, 1, 1) class scores; put an fc "
                               "layer or global pooling before the loss",
                               pdl_shape_format(in, buf, sizeof buf));
    }
    l->out_shape = pdl_shape_2d(in->dim[0], in->dim[1]);
    return PDL_OK;
}

/* in[0] is (N, K) logits, out is (N, K) probabilities; labels (N) when present. */
static void softmax_loss_forward(pdl_layer *l, const pdl_layer_ctx *ctx)
{
    const softmax_loss_opts *o = l->opts;
    int64_t batch = l->out_shape.dim[0], classes = l->out_shape.dim[1];
    double total = 0.0;
    for (int64_t n = 0; n < batch; n++) {
        const float *x = l->in[0] + n * classes;
        float *p = l->out + n * classes;
        float top = x[0];
        for (int64_t k = 1; k < classes; k++)
            top = x[k] > top ? x[k] : top;
        double sum = 0.0, sum_shifted = 0.0;
        for (int64_t k = 0; k < classes; k++) {
            double shifted = (double)x[k] - top;
            sum += exp(shifted);
            sum_shifted += shifted;
        }
        double log_sum = log(sum);
        for (int64_t k = 0; k < classes; k++)
            p[k] = (float)exp((double)x[k] - top - log_sum);
        if (!ctx->labels)
            continue;
        int32_t label = ctx->labels[n];
        PDL_ASSERT(label >= 0 && label < classes);
        /* log p_k = shifted_k - log_sum; sum_k log p_k = sum_shifted - K * log_sum */
        double log_p_label = (double)x[label] - top - log_sum;
        double mean_log_p = sum_shifted / (double)classes - log_sum;
        total -= (1.0 - o->smoothing) * log_p_label + o->smoothing * mean_log_p;
    }
    l->loss = ctx->labels && batch > 0 ? (float)(total / (double)batch) : NAN;
}

/* din[0] is (N, K): adds (p - target) / N. Needs the labels of the forward. */
static void softmax_loss_backward(pdl_layer *l, const pdl_layer_ctx *ctx)
{
    const softmax_loss_opts *o = l->opts;
    PDL_ASSERT(ctx->labels != NULL);
    if (!l->din[0])
        return;
    int64_t batch = l->out_shape.dim[0], classes = l->out_shape.dim[1];
    float inv_batch = 1.0f / (float)batch;
    float off = (float)(o->smoothing / (double)classes), on = (float)(1.0 - o->smoothing) + off;
    for (int64_t n = 0; n < batch; n++) {
        const float *p = l->out + n * classes;
        float *dx = l->din[0] + n * classes;
        for (int64_t k = 0; k < classes; k++)
            dx[k] += (p[k] - (k == ctx->labels[n] ? on : off)) * inv_batch;
    }
}

const pdl_layer_ops pdl_layer_softmax_loss = {
    .type = "softmax_loss",
    .min_inputs = 1,
    .max_inputs = 1,
    .opts_size = sizeof(softmax_loss_opts),
    .is_loss = true,
    .init = softmax_loss_init,
    .reshape = softmax_loss_reshape,
    .forward = softmax_loss_forward,
    .backward = softmax_loss_backward,
    .destroy = NULL,
    .backward_reads_input = false,
    .backward_reads_output = true,
    .can_run_in_place = false,
};
