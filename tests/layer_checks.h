/* Checks shared by the layer tests: a layer run with a 3-thread pool must give the same bits as
 * without one (outputs, input gradients, parameter gradients and running statistics), and bad
 * options or shapes must fail with the expected message. Include after harness.h. */
#ifndef PDL_TEST_LAYER_CHECKS_H
#define PDL_TEST_LAYER_CHECKS_H

#include "harness.h"
#include "layer_harness.h"

#include <math.h>
#include <stdbool.h>
#include <string.h>

/* Forward and backward of a layer with n_inputs inputs of the given shapes on a 3-thread pool
 * give the same bits as without one (the loss too). */
static inline void check_threads_inputs(const pdl_layer_ops *ops, const char *options,
                                        int n_inputs, const pdl_shape *shapes)
{
    layer_harness *a = lh_create(ops, options, n_inputs, shapes, 5);
    layer_harness *b = lh_create(ops, options, n_inputs, shapes, 5);
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
        CHECK(memcmp(&a->layer.loss, &b->layer.loss, sizeof a->layer.loss) == 0);
        for (int i = 0; i < n_inputs; i++)
            CHECK(memcmp(a->din[i], b->din[i], (size_t)lh_in_count(a, i) * sizeof(float)) == 0);
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

/* check_threads_inputs for a layer with one input. */
static inline void check_threads(const pdl_layer_ops *ops, const char *options,
                                 const pdl_shape *shape)
{
    check_threads_inputs(ops, options, 1, shape);
}

/* a and b (n) hold the same values: -0 equals +0 and NaN equals NaN. */
static inline bool same_values(const float *a, const float *b, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        if (!(a[i] == b[i] || (isnan(a[i]) && isnan(b[i]))))
            return false;
    return true;
}

static inline void fill_nan(float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        x[i] = NAN;
}

/* Input and parameter gradients and parameters of a and b (same layer and shapes) agree. */
static inline void check_same_gradients(const layer_harness *a, const layer_harness *b,
                                        const float *const din_b[])
{
    for (int i = 0; i < a->layer.n_inputs; i++)
        CHECK(same_values(a->din[i], din_b[i], lh_in_count(a, i)));
    for (int j = 0; j < a->layer.n_params; j++) {
        const pdl_param *pa = &a->layer.params[j], *pb = &b->layer.params[j];
        CHECK(same_values(pa->data, pb->data, lh_param_count(a, j))); /* running statistics */
        CHECK(!pa->grad || same_values(pa->grad, pb->grad, lh_param_count(a, j)));
    }
}

/* The memory-planning flags of ops (layer.h) hold for a layer built from options:
 * - backward gives the same gradients when the inputs (unless backward_reads_input) and the
 *   output (unless backward_reads_output) are overwritten with NaN between forward and backward;
 * - with can_run_in_place, a run with out == in[0] and din[0] == dout (in_place set) gives the
 *   outputs of a normal run in training and in eval, and backward leaves in din[0] the gradient
 *   a normal run adds into a zeroed din[0]. Its input is gone by then, so backward may not read
 *   it. */
static inline void check_memory_flags(const pdl_layer_ops *ops, const char *options, int n_inputs,
                                      const pdl_shape *shapes)
{
    layer_harness *ref = lh_create(ops, options, n_inputs, shapes, 9);
    layer_harness *poisoned = lh_create(ops, options, n_inputs, shapes, 9);
    CHECK(ref && poisoned);
    if (!ref || !poisoned)
        goto done;
    lh_forward(ref);
    lh_backward(ref);
    lh_forward(poisoned);
    for (int i = 0; i < n_inputs && !ops->backward_reads_input; i++)
        fill_nan(poisoned->in[i], lh_in_count(poisoned, i));
    if (!ops->backward_reads_output)
        fill_nan(poisoned->out, lh_out_count(poisoned));
    lh_backward(poisoned);
    check_same_gradients(ref, poisoned, (const float *const *)poisoned->din);
    if (!ops->can_run_in_place)
        goto done;
    CHECK(!ops->backward_reads_input);
    for (int training = 1; training >= 0; training--) {
        layer_harness *normal = lh_create(ops, options, n_inputs, shapes, 9);
        layer_harness *inplace = lh_create(ops, options, n_inputs, shapes, 9);
        CHECK(normal && inplace);
        if (normal && inplace) {
            normal->ctx.training = inplace->ctx.training = training;
            inplace->layer.in_place = true;
            inplace->layer.out = inplace->in[0];
            inplace->layer.din[0] = inplace->dout;
            lh_forward(normal);
            lh_forward(inplace);
            CHECK(same_values(normal->out, inplace->in[0], lh_out_count(normal)));
            if (training) {
                lh_backward(normal);
                lh_backward(inplace);
                check_same_gradients(normal, inplace, (const float *const *)inplace->layer.din);
            }
        }
        lh_free(normal);
        lh_free(inplace);
    }
done:
    lh_free(ref);
    lh_free(poisoned);
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
