/* Evaluation: runs the net in inference mode over every sample of a source (read ahead by the
 * loader, without augmentation) and gathers loss, top-1/top-k accuracy, the confusion matrix
 * and per-class accuracy. Owns no training and no printing; the top-k rule is in metrics.c. */
#include "core/error.h"
#include "pdl/loader.h"
#include "train/train_internal.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define EVAL_PREFETCH 2 /* batches read ahead: evaluation batches are large */

/* Index of the highest score, ties to the lower index, NaN below every number (0 if all NaN). */
static int argmax(const float *row, int classes)
{
    int best = 0;
    for (int c = 1; c < classes; c++)
        if (isnan(row[best]) ? !isnan(row[c]) : row[c] > row[best])
            best = c;
    return best;
}

pdl_status pdl_train_check_source(const pdl_net *net, const pdl_data_source *src)
{
    char have[64], want[64];
    pdl_shape input = pdl_net_input_shape(net);
    if (!pdl_shape_equal(&src->sample, &input))
        return pdl_error(PDL_ERR_SHAPE, "'%s': samples are %s but the model takes %s", src->name,
                         pdl_shape_format(&src->sample, have, sizeof have),
                         pdl_shape_format(&input, want, sizeof want));
    if (src->classes < 1)
        return pdl_error(PDL_ERR_INVALID, "'%s' has no labels", src->name);
    if (src->classes > pdl_net_classes(net))
        return pdl_error(PDL_ERR_INVALID, "'%s' has labels up to %d but the model has %d classes",
                         src->name, src->classes - 1, pdl_net_classes(net));
    if (src->count < 1)
        return pdl_error(PDL_ERR_INVALID, "'%s' has no samples", src->name);
    return PDL_OK;
}

pdl_status pdl_evaluate(pdl_net *net, pdl_data_source *src, int64_t batch, int k,
                        pdl_eval_result *out)
{
    memset(out, 0, sizeof *out);
    pdl_loader *loader = NULL;
    int classes = pdl_net_classes(net);
    if (batch < 1 || k < 1)
        return pdl_error(PDL_ERR_INVALID, "evaluate: batch (%lld) and k (%d) must be >= 1",
                         (long long)batch, k);
    pdl_status status = pdl_train_check_source(net, src);
    if (status != PDL_OK)
        return status;
    int64_t n = batch < src->count ? batch : src->count;
    status = pdl_net_set_batch(net, n);
    if (status != PDL_OK)
        return status;
    pdl_shape out_shape = pdl_net_output_shape(net);
    if (pdl_shape_count(&out_shape) != n * classes) {
        char buf[64];
        return pdl_error(PDL_ERR_SHAPE, "evaluate: the net's output %s is not (%lld, %d) scores",
                         pdl_shape_format(&out_shape, buf, sizeof buf), (long long)n, classes);
    }
    out->confusion = calloc((size_t)classes * (size_t)classes, sizeof *out->confusion);
    out->class_accuracy = calloc((size_t)classes, sizeof *out->class_accuracy);
    if (!out->confusion || !out->class_accuracy) {
        status = pdl_error(PDL_ERR_NOMEM, "evaluate '%s': out of memory", src->name);
        goto fail;
    }
    pdl_loader_options lo = {.batch = n, .prefetch = EVAL_PREFETCH};
    if ((status = pdl_loader_create(src, &lo, &loader)) != PDL_OK)
        goto fail;
    bool has_loss = pdl_net_outputs_probabilities(net);
    double loss = 0;
    int64_t top1 = 0, topk = 0;
    for (;;) {
        pdl_batch b;
        if ((status = pdl_loader_next(loader, &b)) != PDL_OK)
            goto fail;
        if (!b.x)
            break;
        /* The loader pads a short last batch with zeros; in inference mode samples are
         * independent and only the first b.n rows are counted. */
        status = pdl_net_forward(net, b.x, NULL, false, 0);
        if (status != PDL_OK)
            goto fail;
        const float *scores = pdl_net_output(net); // (n, classes)
        top1 += pdl_topk_correct(scores, b.labels, b.n, classes, 1);
        topk += pdl_topk_correct(scores, b.labels, b.n, classes, k);
        for (int64_t i = 0; i < b.n; i++) {
            const float *row = scores + i * classes;
            out->confusion[(int64_t)b.labels[i] * classes + argmax(row, classes)]++;
            loss -= log(fmax((double)row[b.labels[i]], (double)FLT_MIN));
        }
    }
    for (int c = 0; c < classes; c++) {
        int64_t total = 0;
        for (int p = 0; p < classes; p++)
            total += out->confusion[(int64_t)c * classes + p];
        out->class_accuracy[c] =
            total ? (double)out->confusion[(int64_t)c * classes + c] / (double)total : NAN;
    }
    out->count = src->count;
    out->loss = has_loss ? loss / (double)src->count : NAN;
    out->top1 = (double)top1 / (double)src->count;
    out->topk = (double)topk / (double)src->count;
    out->k = k < classes ? k : classes;
    out->classes = classes;
    pdl_loader_free(loader);
    return PDL_OK;
fail:
    pdl_loader_free(loader);
    pdl_eval_result_free(out);
    return status;
}

void pdl_eval_result_free(pdl_eval_result *result)
{
    free(result->confusion);
    free(result->class_accuracy);
    result->confusion = NULL;
    result->class_accuracy = NULL;
}
