/* Tests for dropout: gradient checks in training mode, the kept fraction and the 1/(1-p)
 * scale, masks as a pure function of (seed, step, layer name, element), eval identity, p = 0
 * and option errors. */
#include "gradcheck.h"
#include "harness.h"
#include "layer_checks.h"

#include <string.h>

static const pdl_shape small = {4, {2, 3, 4, 5}};
static const pdl_shape large = {2, {50, 2000}};

static void test_gradients(void)
{
    CHECK_GRADIENTS(pdl_layer_dropout, "p=0.3", 1, &small);
    CHECK_GRADIENTS(pdl_layer_dropout, "p=0", 1, &small);
}

/* About 1 - p of the elements survive, each scaled by exactly 1 / (1 - p); the rest are 0.
 * Backward passes dout through the same mask and scale. */
static void test_fraction_and_scale(void)
{
    layer_harness *h = lh_create(&pdl_layer_dropout, "p=0.3", 1, &large, 5);
    CHECK(h != NULL);
    if (!h)
        return;
    lh_forward(h);
    lh_backward(h);
    int64_t count = lh_out_count(h), kept = 0;
    for (int64_t i = 0; i < count; i++) {
        if (h->out[i] != 0.0f) {
            kept++;
            CHECK_CLOSE(h->out[i], h->in[0][i] / 0.7, 1e-6, 1e-6);
            CHECK_CLOSE(h->din[0][i], h->dout[i] / 0.7, 1e-6, 1e-6);
        } else {
            CHECK(h->din[0][i] == 0.0f);
        }
    }
    /* binomial(1e5, 0.7): standard deviation 0.0014 of the fraction */
    CHECK_CLOSE((double)kept / (double)count, 0.7, 0.01, 0);
    lh_free(h);
}

/* The mask of one forward as a 0/1 byte string (from the outputs: inputs are never 0). */
static void mask_of(const char *name, uint64_t seed, uint64_t step, unsigned char *mask)
{
    layer_harness *h = lh_create(&pdl_layer_dropout, "p=0.5", 1, &small, 3);
    CHECK(h != NULL);
    if (!h)
        return;
    snprintf(h->layer.name, sizeof h->layer.name, "%s", name);
    h->ctx.seed = seed;
    h->ctx.step = step;
    for (int64_t i = 0; i < lh_in_count(h, 0); i++)
        h->in[0][i] = 1.0f + (float)i;
    lh_forward(h);
    for (int64_t i = 0; i < lh_out_count(h); i++)
        mask[i] = h->out[i] != 0.0f;
    lh_free(h);
}

static int64_t differences(const unsigned char *a, const unsigned char *b, int64_t n)
{
    int64_t d = 0;
    for (int64_t i = 0; i < n; i++)
        d += a[i] != b[i];
    return d;
}

static void test_mask_determinism(void)
{
    enum { COUNT = 2 * 3 * 4 * 5 };
    unsigned char a[COUNT], b[COUNT], c[COUNT], d[COUNT], e[COUNT];
    mask_of("drop1", 11, 100, a);
    mask_of("drop1", 11, 100, b);
    mask_of("drop1", 11, 101, c);
    mask_of("drop2", 11, 100, d);
    mask_of("drop1", 12, 100, e);
    CHECK(differences(a, b, COUNT) == 0);
    /* independent masks with p = 0.5 differ in about half of the 120 places */
    CHECK(differences(a, c, COUNT) > 30);
    CHECK(differences(a, d, COUNT) > 30);
    CHECK(differences(a, e, COUNT) > 30);
    /* the documented formula: kept when uniform(seed, stream_of(name) ^ step, i) >= p */
    for (int64_t i = 0; i < COUNT; i++)
        CHECK(a[i] == (pdl_rng_uniform(11, pdl_rng_stream_of("drop1") ^ 100, (uint64_t)i) >= 0.5f));
}

static void test_eval_and_p0(void)
{
    layer_harness *h = lh_create(&pdl_layer_dropout, "", 1, &small, 2);
    CHECK(h != NULL);
    if (h) {
        h->ctx.training = false;
        free(h->layer.saved); /* the net gives saved memory to training only */
        h->layer.saved = NULL;
        lh_forward(h);
        CHECK(memcmp(h->out, h->in[0], (size_t)lh_out_count(h) * sizeof(float)) == 0);
        lh_free(h);
    }
    h = lh_create(&pdl_layer_dropout, "p=0", 1, &small, 2);
    CHECK(h != NULL);
    if (h) {
        lh_forward(h);
        CHECK(memcmp(h->out, h->in[0], (size_t)lh_out_count(h) * sizeof(float)) == 0);
        lh_free(h);
    }
}

static void test_option_errors(void)
{
    CHECK(lh_create(&pdl_layer_dropout, "p=1", 1, &small, 1) == NULL);
    CHECK(strstr(pdl_last_error(), "key 'p'") != NULL);
    CHECK(lh_create(&pdl_layer_dropout, "p=-0.1", 1, &small, 1) == NULL);
    CHECK(strstr(pdl_last_error(), "key 'p'") != NULL);
}

static void test_threads(void)
{
    const pdl_shape big = {4, {4, 24, 16, 16}};
    check_threads(&pdl_layer_dropout, "p=0.4", &big);
}

/* Backward reads the saved mask only; dropout runs in place, in training and in eval. */
static void test_memory_flags(void)
{
    check_memory_flags(&pdl_layer_dropout, "p=0.4", 1, &small);
}

int main(void)
{
    RUN(test_gradients);
    RUN(test_fraction_and_scale);
    RUN(test_mask_determinism);
    RUN(test_eval_and_p0);
    RUN(test_option_errors);
    RUN(test_threads);
    RUN(test_memory_flags);
    return harness_summary();
}
