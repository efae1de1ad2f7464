/* Tests for batchnorm: gradient checks in training mode (4-D and 2-D, affine on and off), the
 * normalization against statistics computed here, the running-stat update, eval mode with
 * running stats, numerical care with a large offset, and shape/option errors. */
#include "gradcheck.h"
#include "harness.h"
#include "layer_checks.h"

#include <string.h>

static const pdl_shape shape4 = {4, {4, 3, 3, 3}};
static const pdl_shape shape2 = {2, {8, 5}};

static void test_gradients(void)
{
    CHECK_GRADIENTS(pdl_layer_batchnorm, "", 1, &shape4);
    CHECK_GRADIENTS(pdl_layer_batchnorm, "affine=0", 1, &shape4);
    CHECK_GRADIENTS(pdl_layer_batchnorm, "", 1, &shape2);
    CHECK_GRADIENTS(pdl_layer_batchnorm, "affine=0 eps=0.001", 1, &shape2);
}

static pdl_param *param(layer_harness *h, const char *name)
{
    for (int j = 0; j < h->layer.n_params; j++)
        if (strcmp(h->layer.params[j].name, name) == 0)
            return &h->layer.params[j];
    return NULL;
}

static void test_params(void)
{
    layer_harness *h = lh_create(&pdl_layer_batchnorm, "", 1, &shape4, 1);
    CHECK(h != NULL);
    if (!h)
        return;
    const char *names[] = {"weight", "bias", "running_mean", "running_var"};
    const pdl_param_init inits[] = {PDL_INIT_ONE, PDL_INIT_ZERO, PDL_INIT_ZERO, PDL_INIT_ONE};
    CHECK(h->layer.n_params == 4);
    for (int j = 0; j < 4 && j < h->layer.n_params; j++) {
        CHECK(strcmp(h->layer.params[j].name, names[j]) == 0);
        CHECK(h->layer.params[j].trainable == (j < 2));
        CHECK(h->layer.params[j].init == inits[j]);
        CHECK(h->layer.params[j].shape.ndim == 1 && h->layer.params[j].shape.dim[0] == 3);
    }
    lh_free(h);
    h = lh_create(&pdl_layer_batchnorm, "affine=0", 1, &shape2, 1);
    CHECK(h != NULL && h->layer.n_params == 2 && param(h, "weight") == NULL);
    const pdl_param *var = h ? param(h, "running_var") : NULL;
    CHECK(var != NULL && var->shape.dim[0] == 5);
    lh_free(h);
}

/* Mean and biased variance of channel c of x (N, C, inner), computed plainly in double. */
static void stats(const float *x, const pdl_shape *s, int64_t c, double *mean, double *var)
{
    int64_t inner = pdl_shape_count(s) / (s->dim[0] * s->dim[1]), m = s->dim[0] * inner;
    double sum = 0, sq = 0;
    for (int64_t n = 0; n < s->dim[0]; n++)
        for (int64_t i = 0; i < inner; i++)
            sum += x[(n * s->dim[1] + c) * inner + i];
    *mean = sum / (double)m;
    for (int64_t n = 0; n < s->dim[0]; n++)
        for (int64_t i = 0; i < inner; i++) {
            double d = x[(n * s->dim[1] + c) * inner + i] - *mean;
            sq += d * d;
        }
    *var = sq / (double)m;
}

/* Training forward: y = (x - batch mean) / sqrt(batch var + eps) * w + b, and the running
 * stats move by momentum toward the batch mean and the unbiased batch variance. */
static void check_training(const pdl_shape *shape)
{
    layer_harness *h = lh_create(&pdl_layer_batchnorm, "momentum=0.3 eps=0.01", 1, shape, 9);
    CHECK(h != NULL);
    if (!h)
        return;
    int64_t channels = shape->dim[1], inner = pdl_shape_count(shape) / (shape->dim[0] * channels);
    int64_t m = shape->dim[0] * inner;
    float *rm = param(h, "running_mean")->data, *rv = param(h, "running_var")->data;
    float *w = param(h, "weight")->data, *b = param(h, "bias")->data;
    float rm0[8], rv0[8];
    for (int64_t c = 0; c < channels; c++) {
        rv[c] = 0.5f + (float)c;
        rm0[c] = rm[c];
        rv0[c] = rv[c];
    }
    lh_forward(h);
    for (int64_t c = 0; c < channels; c++) {
        double mean, var;
        stats(h->in[0], shape, c, &mean, &var);
        for (int64_t n = 0; n < shape->dim[0]; n++)
            for (int64_t i = 0; i < inner; i++) {
                int64_t at = (n * channels + c) * inner + i;
                CHECK_CLOSE(h->out[at], (h->in[0][at] - mean) / sqrt(var + 0.01) * w[c] + b[c],
                            1e-5, 1e-5);
            }
        CHECK_CLOSE(rm[c], 0.7 * rm0[c] + 0.3 * mean, 1e-6, 1e-6);
        CHECK_CLOSE(rv[c], 0.7 * rv0[c] + 0.3 * var * (double)m / (double)(m - 1), 1e-6, 1e-6);
    }
    lh_free(h);
}

static void test_training_forward(void)
{
    check_training(&shape4);
    check_training(&shape2);
}

/* Eval: running stats, not the batch, and they stay unchanged; works for a batch of 1 and
 * without saved memory (the net gives saved memory to training only). */
static void test_eval_uses_running_stats(void)
{
    const pdl_shape one = {4, {1, 3, 2, 2}};
    layer_harness *h = lh_create(&pdl_layer_batchnorm, "", 1, &one, 4);
    CHECK(h != NULL);
    if (!h)
        return;
    float *rm = param(h, "running_mean")->data, *rv = param(h, "running_var")->data;
    float *w = param(h, "weight")->data, *b = param(h, "bias")->data;
    for (int c = 0; c < 3; c++) {
        rm[c] = 0.25f * (float)c - 0.1f;
        rv[c] = 0.5f + 2.0f * (float)c;
    }
    h->ctx.training = false;
    free(h->layer.saved);
    h->layer.saved = NULL;
    lh_forward(h);
    for (int c = 0; c < 3; c++) {
        for (int i = 0; i < 4; i++) {
            int at = c * 4 + i;
            CHECK_CLOSE(h->out[at], (h->in[0][at] - rm[c]) / sqrt(rv[c] + 1e-5) * w[c] + b[c],
                        1e-5, 1e-5);
        }
        CHECK(rm[c] == 0.25f * (float)c - 0.1f && rv[c] == 0.5f + 2.0f * (float)c);
    }
    lh_free(h);
}

/* A large common offset with a small spread: the normalized output still has variance
 * var / (var + eps) per channel (a one-pass E[x^2] - E[x]^2 in float loses it). */
static void test_large_offset(void)
{
    const pdl_shape shape = {4, {16, 2, 8, 8}};
    layer_harness *h = lh_create(&pdl_layer_batchnorm, "affine=0", 1, &shape, 11);
    CHECK(h != NULL);
    if (!h)
        return;
    for (int64_t i = 0; i < lh_in_count(h, 0); i++)
        h->in[0][i] = 300.0f + 0.05f * h->in[0][i];
    lh_forward(h);
    for (int64_t c = 0; c < 2; c++) {
        double in_mean, in_var, out_mean, out_var;
        stats(h->in[0], &shape, c, &in_mean, &in_var);
        stats(h->out, &shape, c, &out_mean, &out_var);
        CHECK_CLOSE(out_mean, 0.0, 1e-3, 0);
        CHECK_CLOSE(out_var, in_var / (in_var + 1e-5), 2e-3, 0);
    }
    lh_free(h);
}

static void test_errors(void)
{
    const pdl_shape flat = {1, {7}};
    CHECK(lh_create(&pdl_layer_batchnorm, "", 1, &flat, 1) == NULL);
    CHECK(strstr(pdl_last_error(), "layer 'layer' (batchnorm)") != NULL);
    CHECK(strstr(pdl_last_error(), "(7)") != NULL);
    CHECK(lh_create(&pdl_layer_batchnorm, "momentum=1.5", 1, &shape4, 1) == NULL);
    CHECK(strstr(pdl_last_error(), "momentum") != NULL);
    CHECK(lh_create(&pdl_layer_batchnorm, "affine=maybe", 1, &shape4, 1) == NULL);
    CHECK(strstr(pdl_last_error(), "affine") != NULL);
}

/* A second reshape with another batch keeps the parameters; another channel count fails. */
static void test_reshape(void)
{
    layer_harness *h = lh_create(&pdl_layer_batchnorm, "", 1, &shape4, 1);
    CHECK(h != NULL);
    if (!h)
        return;
    h->layer.in_shape[0].dim[0] = 9;
    CHECK_OK(h->layer.ops->reshape(&h->layer));
    CHECK(h->layer.n_params == 4 && h->layer.out_shape.dim[0] == 9);
    h->layer.in_shape[0].dim[1] = 4;
    CHECK(h->layer.ops->reshape(&h->layer) == PDL_ERR_SHAPE);
    CHECK(strstr(pdl_last_error(), "weight") != NULL);
    lh_free(h);
}

/* (4, 24, 16, 16): 24 channels of 1024 values, split over the pool's threads. */
static void test_threads(void)
{
    const pdl_shape big = {4, {4, 24, 16, 16}};
    check_threads(&pdl_layer_batchnorm, "", &big);
}

/* Backward reads the input (for xhat), not the output. Not in place: recovering xhat from the
 * output needs gamma != 0, and keeping xhat costs what in place would save. */
static void test_memory_flags(void)
{
    check_memory_flags(&pdl_layer_batchnorm, "", 1, &shape4);
    check_memory_flags(&pdl_layer_batchnorm, "affine=0", 1, &shape2);
}

int main(void)
{
    RUN(test_gradients);
    RUN(test_params);
    RUN(test_training_forward);
    RUN(test_eval_uses_running_stats);
    RUN(test_large_offset);
    RUN(test_errors);
    RUN(test_reshape);
    RUN(test_threads);
    RUN(test_memory_flags);
    return harness_summary();
}
