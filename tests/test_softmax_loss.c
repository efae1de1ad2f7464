/* Tests for softmax_loss: gradient checks with and without label smoothing, probabilities that
 * sum to 1 and survive huge logits, the loss against an explicit target vector, log K for
 * uniform logits, the backward formula, NaN loss without labels, shape and option errors. */
#include "gradcheck.h"
#include "harness.h"
#include "layer_checks.h"

#include <string.h>

static const pdl_shape logits = {2, {4, 6}};
static const pdl_shape logits4 = {4, {3, 5, 1, 1}};

static void test_gradients(void)
{
    CHECK_GRADIENTS(pdl_layer_softmax_loss, "", 1, &logits);
    CHECK_GRADIENTS(pdl_layer_softmax_loss, "label_smoothing=0.1", 1, &logits);
    CHECK_GRADIENTS(pdl_layer_softmax_loss, "label_smoothing=0.5", 1, &logits4);
}

/* loss = mean_n -sum_k target_k log p_k, target = (1 - eps) onehot + eps / K, in double from
 * the logits; backward adds (p - target) / N. */
static void check_loss(const char *options, double eps, const pdl_shape *shape)
{
    layer_harness *h = lh_create(&pdl_layer_softmax_loss, options, 1, shape, 6);
    CHECK(h != NULL);
    if (!h)
        return;
    const pdl_shape want = {2, {shape->dim[0], shape->dim[1]}};
    CHECK(pdl_shape_equal(&h->layer.out_shape, &want));
    for (int64_t i = 0; i < lh_in_count(h, 0); i++)
        h->in[0][i] *= 4.0f;
    lh_forward(h);
    lh_backward(h);
    int64_t n_batch = shape->dim[0], k_classes = shape->dim[1];
    double total = 0;
    for (int64_t n = 0; n < n_batch; n++) {
        const float *x = h->in[0] + n * k_classes;
        double z = 0, psum = 0;
        for (int64_t k = 0; k < k_classes; k++)
            z += exp(x[k]);
        for (int64_t k = 0; k < k_classes; k++) {
            double p = exp(x[k]) / z;
            double target = (k == h->labels[n] ? 1.0 - eps : 0.0) + eps / (double)k_classes;
            total -= target * log(p);
            psum += h->out[n * k_classes + k];
            CHECK_CLOSE(h->out[n * k_classes + k], p, 1e-6, 1e-5);
            CHECK_CLOSE(h->din[0][n * k_classes + k], (p - target) / (double)n_batch, 1e-6, 1e-5);
        }
        CHECK_CLOSE(psum, 1.0, 1e-6, 0);
    }
    CHECK_CLOSE(h->layer.loss, total / (double)n_batch, 1e-6, 1e-5);
    lh_free(h);
}

static void test_loss_values(void)
{
    check_loss("", 0.0, &logits);
    check_loss("label_smoothing=0.2", 0.2, &logits);
    check_loss("label_smoothing=0.1", 0.1, &logits4);
}

/* Logits near +-1000 do not overflow: only differences matter. */
static void test_large_logits(void)
{
    const pdl_shape one = {2, {2, 3}};
    layer_harness *h = lh_create(&pdl_layer_softmax_loss, "", 1, &one, 1);
    CHECK(h != NULL);
    if (!h)
        return;
    const float x[6] = {1000, 999, 998, -1000, -1001, -1002};
    memcpy(h->in[0], x, sizeof x);
    h->labels[0] = 0;
    h->labels[1] = 2;
    lh_forward(h);
    double z = 1 + exp(-1) + exp(-2);
    for (int n = 0; n < 2; n++)
        for (int k = 0; k < 3; k++)
            CHECK_CLOSE(h->out[n * 3 + k], exp(-k) / z, 1e-6, 1e-6);
    CHECK_CLOSE(h->layer.loss, 0.5 * (log(z) + (2 + log(z))), 1e-5, 1e-6);
    lh_free(h);
}

/* Equal logits: p = 1/K and the loss is log K, with or without smoothing. */
static void test_uniform_logits(void)
{
    const char *options[2] = {"", "label_smoothing=0.3"};
    for (int t = 0; t < 2; t++) {
        layer_harness *h = lh_create(&pdl_layer_softmax_loss, options[t], 1, &logits, 3);
        CHECK(h != NULL);
        if (!h)
            continue;
        for (int64_t i = 0; i < lh_in_count(h, 0); i++)
            h->in[0][i] = 2.5f;
        lh_forward(h);
        CHECK_CLOSE(h->layer.loss, log(6.0), 1e-6, 1e-6);
        CHECK_CLOSE(h->out[5], 1.0 / 6.0, 1e-7, 1e-6);
        lh_free(h);
    }
}

static void test_without_labels(void)
{
    layer_harness *h = lh_create(&pdl_layer_softmax_loss, "", 1, &logits, 3);
    CHECK(h != NULL);
    if (!h)
        return;
    h->ctx.labels = NULL;
    h->ctx.training = false;
    lh_forward(h);
    CHECK(isnan(h->layer.loss));
    double sum = 0;
    for (int k = 0; k < 6; k++)
        sum += h->out[6 + k];
    CHECK_CLOSE(sum, 1.0, 1e-6, 0);
    lh_free(h);
}

static void test_errors(void)
{
    const pdl_shape spatial = {4, {2, 5, 2, 2}};
    CHECK(lh_create(&pdl_layer_softmax_loss, "", 1, &spatial, 1) == NULL);
    CHECK(strstr(pdl_last_error(), "layer 'layer' (softmax_loss)") != NULL);
    CHECK(strstr(pdl_last_error(), "(2, 5, 2, 2)") != NULL);
    CHECK(lh_create(&pdl_layer_softmax_loss, "label_smoothing=1", 1, &logits, 1) == NULL);
    CHECK(strstr(pdl_last_error(), "label_smoothing") != NULL);
}

/* Rows split over threads, the loss summed in row order: the same bits with a pool; backward
 * reads the probabilities (the output) only. */
static void test_threads_and_flags(void)
{
    const pdl_shape wide = {2, {37, 1000}};
    check_threads(&pdl_layer_softmax_loss, "label_smoothing=0.1", &wide);
    check_memory_flags(&pdl_layer_softmax_loss, "", 1, &wide);
}

int main(void)
{
    RUN(test_gradients);
    RUN(test_loss_values);
    RUN(test_large_logits);
    RUN(test_uniform_logits);
    RUN(test_without_labels);
    RUN(test_errors);
    RUN(test_threads_and_flags);
    return harness_summary();
}
