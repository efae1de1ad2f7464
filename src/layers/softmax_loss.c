/* Softmax + cross-entropy with PyTorch's label smoothing: out = probabilities, loss = batch mean
 * of -sum_k target_k log p_k, target = (1 - eps) onehot + eps / K. Labels arrive validated by the
 * data source, so one outside [0, K) is a programmer error (PDL_ASSERT). Rows are split over
 * threads; the batch loss adds the rows' losses in row order. */
#include "layers/layer.h"
#include "layers/vecmath.h"

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
    l->workspace_bytes = (size_t)in->dim[0] * sizeof(double); /* the loss of each row */
    return PDL_OK;
}

enum { GRAIN = 1 << 14 }; /* values worth a thread */

typedef struct softmax_job {
    const pdl_layer *l;
    const pdl_layer_ctx *ctx;
    int64_t classes;
    double *row_loss; /* (N) in the workspace: summed in row order after the parallel part */
} softmax_job;

static int64_t row_grain(int64_t classes)
{
    return classes >= GRAIN ? 1 : GRAIN / (classes > 0 ? classes : 1);
}

/* Rows [begin, end): p = exp(x - max) / sum, the exps vectorized, the sum in double (in order);
 * with labels also the row's loss. */
static void forward_rows(void *arg, int64_t begin, int64_t end)
{
    const softmax_job *job = arg;
    const softmax_loss_opts *o = job->l->opts;
    int64_t classes = job->classes;
    for (int64_t n = begin; n < end; n++) {
        const float *x = job->l->in[0] + n * classes;
        float *p = job->l->out + n * classes;
        float top = x[0];
        for (int64_t k = 1; k < classes; k++)
            top = x[k] > top ? x[k] : top;
        double sum = 0.0, sum_shifted = 0.0;
        for (int64_t b = 0; b < classes; b += VEC_CHUNK) {
            int64_t m = classes - b < VEC_CHUNK ? classes - b : VEC_CHUNK;
            float e[VEC_CHUNK];
            for (int64_t k = 0; k < m; k++)
                e[k] = x[b + k] - top;
            for (int64_t k = 0; k < m; k++)
                sum_shifted += e[k];
            vec_exp(e, m);
            for (int64_t k = 0; k < m; k++) {
                sum += e[k];
                p[b + k] = e[k];
            }
        }
        float inv_sum = (float)(1.0 / sum);
        for (int64_t k = 0; k < classes; k++)
            p[k] *= inv_sum;
        if (!job->ctx->labels)
            continue;
        int32_t label = job->ctx->labels[n];
        PDL_ASSERT(label >= 0 && label < classes);
        /* log p_k = shifted_k - log_sum; sum_k log p_k = sum_shifted - K * log_sum */
        double log_sum = log(sum);
        double log_p_label = (double)x[label] - top - log_sum;
        double mean_log_p = sum_shifted / (double)classes - log_sum;
        job->row_loss[n] = -((1.0 - o->smoothing) * log_p_label + o->smoothing * mean_log_p);
    }
}

/* in[0] is (N, K) logits, out is (N, K) probabilities; labels (N) when present. */
static void softmax_loss_forward(pdl_layer *l, const pdl_layer_ctx *ctx)
{
    int64_t batch = l->out_shape.dim[0], classes = l->out_shape.dim[1];
    softmax_job job = {l, ctx, classes, l->workspace};
    pdl_parallel_for(ctx->pool, batch, row_grain(classes), forward_rows, &job);
    double total = 0.0;
    for (int64_t n = 0; ctx->labels && n < batch; n++)
        total += job.row_loss[n];
    l->loss = ctx->labels && batch > 0 ? (float)(total / (double)batch) : NAN;
}

/* Rows [begin, end) of din[0] (N, K): adds (p - target) / N. */
static void backward_rows(void *arg, int64_t begin, int64_t end)
{
    const softmax_job *job = arg;
    const softmax_loss_opts *o = job->l->opts;
    int64_t batch = job->l->out_shape.dim[0], classes = job->classes;
    float inv_batch = 1.0f / (float)batch;
    float off = (float)(o->smoothing / (double)classes), on = (float)(1.0 - o->smoothing) + off;
    for (int64_t n = begin; n < end; n++) {
        const float *restrict p = job->l->out + n * classes;
        float *restrict dx = job->l->din[0] + n * classes;
        int64_t label = job->ctx->labels[n];
        for (int64_t k = 0; k < classes; k++)
            dx[k] += (p[k] - (k == label ? on : off)) * inv_batch;
    }
}

/* din[0] is (N, K). Needs the labels of the forward. */
static void softmax_loss_backward(pdl_layer *l, const pdl_layer_ctx *ctx)
{
    PDL_ASSERT(ctx->labels != NULL);
    if (!l->din[0])
        return;
    softmax_job job = {l, ctx, l->out_shape.dim[1], NULL};
    pdl_parallel_for(ctx->pool, l->out_shape.dim[0], row_grain(job.classes), backward_rows, &job);
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
