/* Checks shared by the layer tests: a layer run with a 3-thread pool must give the same bits as
 * without one (outputs, input gradients, parameter gradients and running statistics), and bad
 * options or shapes must fail with the expected message. Include after harness.h. */
#ifndef PDL_TEST_LAYER_CHECKS_H
#define PDL_TEST_LAYER_CHECKS_H

#include "harness.h"
#include "layer_harness.h"

#include <string.h>

/* Forward and backward with a 3-thread pool give the same bits as without one. */
static inline void check_threads(const pdl_layer_ops *ops, const char *options,
                                 const pdl_shape *shape)
{
    layer_harness *a = lh_create(ops, options, 1, shape, 5);
    layer_harness *b = lh_create(ops, options, 1, shape, 5);
    pdl_threadpool *pool = NULL;
    CHECK(a && b);
    CHECK_OK(pdl_threadpool_create(3, &pool));
    if (a && b && pool) {
        b->ctx.pool = pool;
        lh_forward(a);
        lh_forward(b);
        lh_backward(a);
        lh_backward(b);
        CHECK(memcmp(a->out, b->out, (size_t)lh_out_count(a) * sizeof(float)) == 0);
        CHECK(memcmp(a->din[0], b->din[0], (size_t)lh_in_count(a, 0) * sizeof(float)) == 0);
        for (int j = 0; j < a->layer.n_params; j++) {
            const pdl_param *pa = &a->layer.params[j], *pb = &b->layer.params[j];
            size_t bytes = (size_t)lh_param_count(a, j) * sizeof(float);
            CHECK(memcmp(pa->data, pb->data, bytes) == 0); /* running statistics */
            CHECK(!pa->grad || memcmp(pa->grad, pb->grad, bytes) == 0);
        }
    }
    pdl_threadpool_free(pool);
    lh_free(a);
    lh_free(b);
}

/* Building a layer of ops from options for input shape in must fail with a message containing
 * a and, when not NULL, b. */
static inline void expect_layer_error(const pdl_layer_ops *ops, const char *options, pdl_shape in,
                                      const char *a, const char *b)
{
    layer_harness *h = lh_create(ops, options, 1, &in, 1);
    CHECK(h == NULL);
    lh_free(h);
    const char *message = pdl_last_error();
    if (strstr(message, a) == NULL || (b && strstr(message, b) == NULL)) {
        fprintf(stderr, "  unexpected message for %s \"%s\": %s\n", ops->type, options, message);
        CHECK(false);
    }
}

#endif
