/* Tests of the fc layer: forward against a double-precision loop, gradient checks for (N, D)
 * and (N, C, H, W) inputs with and without bias, shapes, parameters, MACs, batch re-shaping and
 * errors. */
#include "gradcheck.h"
#include "harness.h"
#include "layer_checks.h"

#include <string.h>

static void test_forward_matches_loop(void)
{
    pdl_shape in = pdl_shape_4d(3, 2, 3, 5); /* read as (3, 30) */
    layer_harness *h = lh_create(&pdl_layer_fc, "output=7", 1, &in, 11);
    CHECK(h != NULL);
    if (!h)
        return;
    lh_forward(h);
    const float *w = h->layer.params[0].data, *b = h->layer.params[1].data;
    for (int64_t n = 0; n < 3; n++)
        for (int64_t j = 0; j < 7; j++) {
            double sum = b[j];
            for (int64_t i = 0; i < 30; i++)
                sum += (double)h->in[0][n * 30 + i] * (double)w[j * 30 + i];
            CHECK_CLOSE(h->out[n * 7 + j], sum, 1e-5, 1e-5);
        }
    lh_free(h);
}

static void test_gradients(void)
{
    pdl_shape flat = pdl_shape_2d(3, 7), image = pdl_shape_4d(2, 3, 2, 2);
    CHECK_GRADIENTS(pdl_layer_fc, "output=5", 1, &flat);
    CHECK_GRADIENTS(pdl_layer_fc, "output=3 bias=0", 1, &flat);
    CHECK_GRADIENTS(pdl_layer_fc, "output=4", 1, &image);
    CHECK_GRADIENTS(pdl_layer_fc, "output=1 bias=0", 1, &image);
}

static void test_shapes_and_params(void)
{
    pdl_shape in = pdl_shape_4d(4, 3, 5, 5);
    layer_harness *h = lh_create(&pdl_layer_fc, "output=10", 1, &in, 1);
    CHECK(h != NULL);
    if (!h)
        return;
    pdl_layer *l = &h->layer;
    pdl_shape out = pdl_shape_2d(4, 10), w = pdl_shape_2d(10, 75);
    CHECK(pdl_shape_equal(&l->out_shape, &out));
    CHECK(l->n_params == 2);
    CHECK(strcmp(l->params[0].name, "weight") == 0 && pdl_shape_equal(&l->params[0].shape, &w));
    CHECK(l->params[0].init == PDL_INIT_HE_NORMAL && l->params[0].fan_in == 75);
    CHECK(strcmp(l->params[1].name, "bias") == 0 && l->params[1].shape.dim[0] == 10);
    CHECK(l->params[1].init == PDL_INIT_ZERO);
    CHECK(l->macs == (int64_t)4 * 75 * 10);

    /* A new batch size re-declares the same parameters; a new input width is refused. */
    l->in_shape[0] = pdl_shape_4d(9, 3, 5, 5);
    CHECK_OK(l->ops->reshape(l));
    CHECK(l->out_shape.dim[0] == 9 && l->macs == (int64_t)9 * 75 * 10 && l->n_params == 2);
    l->in_shape[0] = pdl_shape_2d(9, 74);
    CHECK(l->ops->reshape(l) == PDL_ERR_SHAPE);
    CHECK(strstr(pdl_last_error(), "weight") != NULL);
    lh_free(h);

    pdl_shape flat = pdl_shape_2d(2, 6);
    h = lh_create(&pdl_layer_fc, "output=3 bias=0", 1, &flat, 1);
    CHECK(h != NULL);
    if (h) {
        CHECK(h->layer.n_params == 1 && h->layer.macs == 2 * 6 * 3);
        lh_free(h);
    }
}

static void test_errors(void)
{
    pdl_shape in = pdl_shape_2d(2, 6);
    fprintf(stderr, "(the following lh_create failures are expected)\n");
    expect_layer_error(&pdl_layer_fc, "bias=1", in, "output", "missing");
    expect_layer_error(&pdl_layer_fc, "output=0", in, "output", NULL);
    expect_layer_error(&pdl_layer_fc, "output=3 bias=2", in, "bias", NULL);
    expect_layer_error(&pdl_layer_fc, "output=3 filters=2", in, "filters", "unknown");
    int64_t dims[3] = {2, 3, 4};
    expect_layer_error(&pdl_layer_fc, "output=3", pdl_shape_make(3, dims), "layer 'layer' (fc)",
                       "(N, D)");
}

int main(void)
{
    RUN(test_forward_matches_loop);
    RUN(test_gradients);
    RUN(test_shapes_and_params);
    RUN(test_errors);
    return harness_summary();
}
