/* Tests for the elementwise activations relu, leaky_relu, sigmoid and tanh: gradient checks,
 * forward values against the textbook formulas in double, stability and option errors. */
#include "gradcheck.h"
#include "harness.h"
#include "layer_checks.h"

#include <string.h>

static const pdl_shape shape4 = {4, {2, 3, 4, 5}};
static const pdl_shape shape2 = {2, {3, 7}};

static void test_gradients(void)
{
    CHECK_GRADIENTS(pdl_layer_relu, "", 1, &shape4);
    CHECK_GRADIENTS(pdl_layer_leaky_relu, "", 1, &shape4);
    CHECK_GRADIENTS(pdl_layer_leaky_relu, "slope=0.2", 1, &shape2);
    CHECK_GRADIENTS(pdl_layer_leaky_relu, "slope=-0.5", 1, &shape4);
    CHECK_GRADIENTS(pdl_layer_sigmoid, "", 1, &shape4);
    CHECK_GRADIENTS(pdl_layer_tanh, "", 1, &shape2);
}

/* Runs a layer forward on x (count values of shape2's size) and compares with f in double. */
static void check_forward(const pdl_layer_ops *ops, const char *options, double slope,
                          double (*f)(double x, double slope))
{
    layer_harness *h = lh_create(ops, options, 1, &shape2, 3);
    CHECK(h != NULL);
    if (!h)
        return;
    for (int64_t i = 0; i < lh_in_count(h, 0); i++)
        h->in[0][i] = (float)(i - 10) * 0.37f;
    lh_forward(h);
    CHECK(pdl_shape_equal(&h->layer.out_shape, &shape2));
    for (int64_t i = 0; i < lh_out_count(h); i++)
        CHECK_CLOSE(h->out[i], f(h->in[0][i], slope), 1e-6, 1e-6);
    lh_free(h);
}

static double relu_ref(double x, double slope) { (void)slope; return x > 0 ? x : 0.0; }
static double leaky_ref(double x, double slope) { return x > 0 ? x : slope * x; }
static double sigmoid_ref(double x, double slope) { (void)slope; return 1.0 / (1.0 + exp(-x)); }
static double tanh_ref(double x, double slope) { (void)slope; return tanh(x); }

static void test_forward_values(void)
{
    check_forward(&pdl_layer_relu, "", 0.0, relu_ref);
    check_forward(&pdl_layer_leaky_relu, "", 0.01, leaky_ref);
    check_forward(&pdl_layer_leaky_relu, "slope=0.3", 0.3, leaky_ref);
    check_forward(&pdl_layer_sigmoid, "", 0.0, sigmoid_ref);
    check_forward(&pdl_layer_tanh, "", 0.0, tanh_ref);
}

/* Backward adds dout * f'(x): relu passes dout where x > 0 only, to the existing din. */
static void test_backward_accumulates(void)
{
    layer_harness *h = lh_create(&pdl_layer_relu, "", 1, &shape2, 5);
    CHECK(h != NULL);
    if (!h)
        return;
    lh_forward(h);
    for (int64_t i = 0; i < lh_in_count(h, 0); i++)
        h->din[0][i] = 1.0f;
    h->layer.ops->backward(&h->layer, &h->ctx);
    for (int64_t i = 0; i < lh_in_count(h, 0); i++)
        CHECK_CLOSE(h->din[0][i], 1.0 + (h->in[0][i] > 0 ? h->dout[i] : 0.0), 1e-7, 0);
    lh_free(h);
}

/* sigmoid and tanh (vectorized exp, a polynomial for small |tanh| arguments) against libm in
 * double, densely over [-20, 20] and on tiny arguments, to a few float roundings. */
static void test_dense_accuracy(void)
{
    const pdl_shape line = {2, {1, 40001}};
    const pdl_layer_ops *ops[] = {&pdl_layer_sigmoid, &pdl_layer_tanh};
    for (int k = 0; k < 2; k++) {
        layer_harness *h = lh_create(ops[k], "", 1, &line, 1);
        CHECK(h != NULL);
        if (!h)
            continue;
        for (int64_t i = 0; i < 40001; i++)
            h->in[0][i] = i < 40 ? ldexpf(1.0f, -(int)i) * (i % 2 ? -1.0f : 1.0f)
                                 : -20.0f + (float)i * 1e-3f;
        lh_forward(h);
        for (int64_t i = 0; i < 40001; i++) {
            double x = h->in[0][i];
            CHECK_CLOSE(h->out[i], k == 0 ? 1.0 / (1.0 + exp(-x)) : tanh(x), 1e-30, 3e-7);
        }
        lh_free(h);
    }
}

static void test_extremes(void)
{
    const pdl_layer_ops *ops[] = {&pdl_layer_sigmoid, &pdl_layer_tanh, &pdl_layer_relu};
    for (int k = 0; k < 3; k++) {
        layer_harness *h = lh_create(ops[k], "", 1, &shape2, 1);
        CHECK(h != NULL);
        if (!h)
            continue;
        h->in[0][0] = 1000.0f;
        h->in[0][1] = -1000.0f;
        h->in[0][2] = NAN;
        lh_forward(h);
        CHECK(isfinite(h->out[0]) && isfinite(h->out[1]));
        CHECK(isnan(h->out[2])); /* a diverged input stays visible */
        if (ops[k] != &pdl_layer_relu) {
            CHECK_CLOSE(h->out[0], 1.0, 1e-7, 0);
            CHECK_CLOSE(h->out[1], ops[k] == &pdl_layer_sigmoid ? 0.0 : -1.0, 1e-7, 0);
        }
        lh_free(h);
    }
}

static void test_option_errors(void)
{
    layer_harness *h = lh_create(&pdl_layer_leaky_relu, "slope=abc", 1, &shape2, 1);
    CHECK(h == NULL);
    CHECK(strstr(pdl_last_error(), "slope") != NULL);
    h = lh_create(&pdl_layer_relu, "slope=0.1", 1, &shape2, 1); /* relu has no slope */
    CHECK(h == NULL);
    CHECK(strstr(pdl_last_error(), "slope") != NULL);
}

static void test_threads(void)
{
    const pdl_shape big = {4, {4, 24, 16, 16}};
    check_threads(&pdl_layer_leaky_relu, "slope=0.1", &big);
    check_threads(&pdl_layer_sigmoid, "", &big);
}

/* Backward reads the output only, so every activation runs in place; leaky_relu with a negative
 * slope (y > 0 for either sign of x) keeps a sign mask for it. */
static void test_memory_flags(void)
{
    check_memory_flags(&pdl_layer_relu, "", 1, &shape4);
    check_memory_flags(&pdl_layer_leaky_relu, "", 1, &shape4);
    check_memory_flags(&pdl_layer_leaky_relu, "slope=0", 1, &shape2);
    check_memory_flags(&pdl_layer_leaky_relu, "slope=-0.5", 1, &shape4);
    check_memory_flags(&pdl_layer_sigmoid, "", 1, &shape4);
    check_memory_flags(&pdl_layer_tanh, "", 1, &shape2);
}

int main(void)
{
    RUN(test_gradients);
    RUN(test_forward_values);
    RUN(test_backward_accumulates);
    RUN(test_dense_accuracy);
    RUN(test_extremes);
    RUN(test_option_errors);
    RUN(test_threads);
    RUN(test_memory_flags);
    return harness_summary();
}
