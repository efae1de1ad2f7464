/* Tests for the merging and reshaping layers concat, add and flatten: gradient checks, where
 * each input's values land, and shape errors that name the layer and the offending input. */
#include "gradcheck.h"
#include "harness.h"
#include "layer_checks.h"

#include <string.h>

static const pdl_shape parts[3] = {{4, {2, 1, 3, 3}}, {4, {2, 2, 3, 3}}, {4, {2, 3, 3, 3}}};
static const pdl_shape same[3] = {{4, {2, 3, 2, 2}}, {4, {2, 3, 2, 2}}, {4, {2, 3, 2, 2}}};

static void test_gradients(void)
{
    CHECK_GRADIENTS(pdl_layer_concat, "", 3, parts);
    CHECK_GRADIENTS(pdl_layer_concat, "", 1, parts);
    CHECK_GRADIENTS(pdl_layer_add, "", 3, same);
    CHECK_GRADIENTS(pdl_layer_add, "", 2, same);
    CHECK_GRADIENTS(pdl_layer_flatten, "", 1, &parts[2]);
}

/* out[n, c] of a (2, 6, 3, 3) concat comes from input i's channel c - offset_i. */
static void test_concat_layout(void)
{
    layer_harness *h = lh_create(&pdl_layer_concat, "", 3, parts, 2);
    CHECK(h != NULL);
    if (!h)
        return;
    const pdl_shape want = {4, {2, 6, 3, 3}};
    CHECK(pdl_shape_equal(&h->layer.out_shape, &want));
    lh_forward(h);
    const int input_of[6] = {0, 1, 1, 2, 2, 2}, channel_of[6] = {0, 0, 1, 0, 1, 2};
    for (int n = 0; n < 2; n++)
        for (int c = 0; c < 6; c++)
            for (int p = 0; p < 9; p++) {
                int i = input_of[c];
                float expected = h->in[i][(n * parts[i].dim[1] + channel_of[c]) * 9 + p];
                CHECK(h->out[(n * 6 + c) * 9 + p] == expected);
            }
    lh_free(h);
}

static void test_concat_2d(void)
{
    const pdl_shape rows[2] = {{2, {3, 4}}, {2, {3, 2}}};
    layer_harness *h = lh_create(&pdl_layer_concat, "", 2, rows, 2);
    CHECK(h != NULL);
    if (!h)
        return;
    CHECK(h->layer.out_shape.ndim == 2 && h->layer.out_shape.dim[1] == 6);
    lh_forward(h);
    for (int n = 0; n < 3; n++) {
        CHECK(h->out[n * 6 + 3] == h->in[0][n * 4 + 3]);
        CHECK(h->out[n * 6 + 4] == h->in[1][n * 2]);
    }
    lh_free(h);
}

static void test_add_values(void)
{
    layer_harness *h = lh_create(&pdl_layer_add, "", 3, same, 4);
    CHECK(h != NULL);
    if (!h)
        return;
    lh_forward(h);
    lh_backward(h);
    for (int64_t j = 0; j < lh_out_count(h); j++) {
        CHECK_CLOSE(h->out[j], (double)h->in[0][j] + h->in[1][j] + h->in[2][j], 1e-6, 0);
        for (int i = 0; i < 3; i++)
            CHECK(h->din[i][j] == h->dout[j]);
    }
    lh_free(h);
}

static void test_flatten(void)
{
    layer_harness *h = lh_create(&pdl_layer_flatten, "", 1, &parts[2], 4);
    CHECK(h != NULL);
    if (!h)
        return;
    const pdl_shape want = {2, {2, 27}};
    CHECK(pdl_shape_equal(&h->layer.out_shape, &want));
    lh_forward(h);
    CHECK(memcmp(h->out, h->in[0], 54 * sizeof(float)) == 0);
    lh_free(h);
}

static void test_shape_errors(void)
{
    const pdl_shape bad_concat[3] = {{4, {2, 1, 3, 3}}, {4, {2, 2, 3, 3}}, {4, {2, 3, 3, 4}}};
    CHECK(lh_create(&pdl_layer_concat, "", 3, bad_concat, 1) == NULL);
    CHECK(strstr(pdl_last_error(), "layer 'layer' (concat)") != NULL);
    CHECK(strstr(pdl_last_error(), "input 2") != NULL);
    CHECK(strstr(pdl_last_error(), "(2, 3, 3, 4)") != NULL);
    const pdl_shape bad_rank[2] = {{4, {2, 1, 3, 3}}, {2, {2, 9}}};
    CHECK(lh_create(&pdl_layer_concat, "", 2, bad_rank, 1) == NULL);
    CHECK(strstr(pdl_last_error(), "input 1") != NULL);
    const pdl_shape bad_add[3] = {{4, {2, 3, 2, 2}}, {4, {2, 4, 2, 2}}, {4, {2, 3, 2, 2}}};
    CHECK(lh_create(&pdl_layer_add, "", 3, bad_add, 1) == NULL);
    CHECK(strstr(pdl_last_error(), "layer 'layer' (add)") != NULL);
    CHECK(strstr(pdl_last_error(), "input 1") != NULL);
    CHECK(lh_create(&pdl_layer_flatten, "size=2", 1, parts, 1) == NULL);
    CHECK(strstr(pdl_last_error(), "size") != NULL);
}

/* Threaded over output ranges (shapes big enough for several ranges, with ranges that start
 * inside a sample's slice): the same bits with a pool. */
static void test_threads(void)
{
    const pdl_shape big[3] = {{4, {3, 5, 40, 41}}, {4, {3, 7, 40, 41}}, {4, {3, 2, 40, 41}}};
    const pdl_shape equal[3] = {{4, {3, 5, 40, 41}}, {4, {3, 5, 40, 41}}, {4, {3, 5, 40, 41}}};
    check_threads_inputs(&pdl_layer_concat, "", 3, big);
    check_threads_inputs(&pdl_layer_add, "", 3, equal);
    check_threads_inputs(&pdl_layer_flatten, "", 1, big);
}

/* Backward reads neither inputs nor output; add (out over in[0]) and flatten run in place. */
static void test_memory_flags(void)
{
    check_memory_flags(&pdl_layer_add, "", 2, same);
    check_memory_flags(&pdl_layer_add, "", 3, same);
    check_memory_flags(&pdl_layer_concat, "", 3, parts);
    check_memory_flags(&pdl_layer_flatten, "", 1, &parts[2]);
}

int main(void)
{
    RUN(test_gradients);
    RUN(test_concat_layout);
    RUN(test_concat_2d);
    RUN(test_add_values);
    RUN(test_flatten);
    RUN(test_shape_errors);
    RUN(test_threads);
    RUN(test_memory_flags);
    return harness_summary();
}
