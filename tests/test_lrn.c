/* Tests for cross-channel LRN: gradient checks for sizes 1, 3, 4 and 5 with weak (default) and
 * strong normalization, forward values against a plain evaluation of PyTorch's formula, the
 * window placement for even sizes, and option/shape errors. */
#include "gradcheck.h"
#include "harness.h"
#include "layer_checks.h"

#include <string.h>

static const pdl_shape small = {4, {2, 7, 3, 3}};

static void test_gradients(void)
{
    CHECK_GRADIENTS(pdl_layer_lrn, "size=3", 1, &small);
    CHECK_GRADIENTS(pdl_layer_lrn, "", 1, &small);
    CHECK_GRADIENTS(pdl_layer_lrn, "size=3 alpha=0.9 beta=0.75 k=1", 1, &small);
    CHECK_GRADIENTS(pdl_layer_lrn, "size=5 alpha=2 beta=0.6 k=2", 1, &small);
    CHECK_GRADIENTS(pdl_layer_lrn, "size=4 alpha=1.5 beta=1.2 k=1.5", 1, &small);
    CHECK_GRADIENTS(pdl_layer_lrn, "size=1 alpha=1 beta=0.5 k=1", 1, &small);
}

/* b = a / (k + alpha / size * sum_{j = c - size/2}^{c + (size-1)/2} a_j^2)^beta, in double. */
static void check_forward(const char *options, int size, double alpha, double beta, double k)
{
    layer_harness *h = lh_create(&pdl_layer_lrn, options, 1, &small, 8);
    CHECK(h != NULL);
    if (!h)
        return;
    lh_forward(h);
    const int64_t channels = small.dim[1], plane = small.dim[2] * small.dim[3];
    for (int64_t n = 0; n < small.dim[0]; n++)
        for (int64_t c = 0; c < channels; c++)
            for (int64_t p = 0; p < plane; p++) {
                double sum = 0;
                for (int64_t j = c - size / 2; j <= c + (size - 1) / 2; j++)
                    if (j >= 0 && j < channels) {
                        double a = h->in[0][(n * channels + j) * plane + p];
                        sum += a * a;
                    }
                int64_t at = (n * channels + c) * plane + p;
                CHECK_CLOSE(h->out[at], h->in[0][at] / pow(k + alpha / size * sum, beta), 1e-6,
                            1e-5);
            }
    lh_free(h);
}

static void test_forward_values(void)
{
    check_forward("", 5, 1e-4, 0.75, 1.0);
    check_forward("size=3 alpha=0.9 beta=0.75 k=1", 3, 0.9, 0.75, 1.0);
    check_forward("size=4 alpha=1.5 beta=1.2 k=1.5", 4, 1.5, 1.2, 1.5);
}

/* Channels 1, 2, 3, 4 at one pixel, alpha = beta = k = 1, so a / b is the scale s itself.
 * For size 2 the window of channel c is {c-1, c}; for size 4 it is {c-2, ..., c+1}
 * (PyTorch pads size/2 channels before and (size-1)/2 after). */
static void test_window_placement(void)
{
    const pdl_shape column = {4, {1, 4, 1, 1}};
    const struct {
        const char *options;
        double scale[4];
    } cases[] = {
        {"size=2 alpha=1 beta=1 k=1", {1 + 1 / 2.0, 1 + 5 / 2.0, 1 + 13 / 2.0, 1 + 25 / 2.0}},
        {"size=3 alpha=1 beta=1 k=1", {1 + 5 / 3.0, 1 + 14 / 3.0, 1 + 29 / 3.0, 1 + 25 / 3.0}},
        {"size=4 alpha=1 beta=1 k=1", {1 + 5 / 4.0, 1 + 14 / 4.0, 1 + 30 / 4.0, 1 + 29 / 4.0}},
    };
    for (int t = 0; t < 3; t++) {
        layer_harness *h = lh_create(&pdl_layer_lrn, cases[t].options, 1, &column, 1);
        CHECK(h != NULL);
        if (!h)
            continue;
        for (int c = 0; c < 4; c++)
            h->in[0][c] = (float)(c + 1);
        lh_forward(h);
        for (int c = 0; c < 4; c++)
            CHECK_CLOSE(h->in[0][c] / h->out[c], cases[t].scale[c], 1e-5, 1e-6);
        lh_free(h);
    }
}

/* Eval gives the training output without saved memory (the net gives it to training only). */
static void test_eval_without_saved(void)
{
    layer_harness *h = lh_create(&pdl_layer_lrn, "size=3 alpha=1 beta=0.75 k=1", 1, &small, 3);
    CHECK(h != NULL);
    if (!h)
        return;
    lh_forward(h);
    float trained[2 * 7 * 3 * 3];
    memcpy(trained, h->out, sizeof trained);
    memset(h->out, 0, sizeof trained);
    free(h->layer.saved);
    h->layer.saved = NULL;
    h->ctx.training = false;
    lh_forward(h);
    CHECK(memcmp(trained, h->out, sizeof trained) == 0);
    lh_free(h);
}

static void test_errors(void)
{
    CHECK(lh_create(&pdl_layer_lrn, "size=0", 1, &small, 1) == NULL);
    CHECK(strstr(pdl_last_error(), "key 'size'") != NULL);
    CHECK(lh_create(&pdl_layer_lrn, "k=0", 1, &small, 1) == NULL);
    CHECK(strstr(pdl_last_error(), "key 'k'") != NULL);
    CHECK(lh_create(&pdl_layer_lrn, "alpha=-1", 1, &small, 1) == NULL);
    CHECK(strstr(pdl_last_error(), "key 'alpha'") != NULL);
    const pdl_shape flat = {1, {6}};
    CHECK(lh_create(&pdl_layer_lrn, "", 1, &flat, 1) == NULL);
    CHECK(strstr(pdl_last_error(), "layer 'layer' (lrn)") != NULL);
}

static void test_threads(void)
{
    const pdl_shape big = {4, {2, 24, 32, 32}};
    check_threads(&pdl_layer_lrn, "size=5 alpha=1 beta=0.75 k=2", &big);
}

/* Backward reads the input and the output (declared), so LRN stays out of place. */
static void test_memory_flags(void)
{
    check_memory_flags(&pdl_layer_lrn, "size=5 alpha=1 beta=0.75 k=2", 1, &small);
}

int main(void)
{
    RUN(test_gradients);
    RUN(test_forward_values);
    RUN(test_window_placement);
    RUN(test_eval_without_saved);
    RUN(test_errors);
    RUN(test_threads);
    RUN(test_memory_flags);
    return harness_summary();
}
