/* Gradient check for one layer: analytic backward against central differences of the scalar
 * L = sum(out * dout) (or the layer's loss for loss layers), accumulated in double. Points where
 * the two-step estimates disagree (a kink: ReLU at 0, a max-pool tie) are skipped and counted. */
#ifndef PDL_TEST_GRADCHECK_H
#define PDL_TEST_GRADCHECK_H

#include "layer_harness.h"

#include <math.h>

typedef struct gradcheck_result {
    int checked, failed, skipped;
    double max_error; /* max |analytic - numeric| / (1 + |numeric|) */
} gradcheck_result;

static inline double gc_objective(layer_harness *h)
{
    lh_forward(h);
    if (h->layer.ops->is_loss)
        return (double)h->layer.loss;
    double sum = 0.0;
    for (int64_t i = 0; i < lh_out_count(h); i++)
        sum += (double)h->out[i] * (double)h->dout[i];
    return sum;
}

static inline double gc_numeric(layer_harness *h, float *x, int64_t j, double eps)
{
    float saved = x[j];
    x[j] = (float)(saved + eps);
    double plus = gc_objective(h);
    x[j] = (float)(saved - eps);
    double minus = gc_objective(h);
    x[j] = saved;
    return (plus - minus) / (2.0 * eps);
}

/* Checks up to max_points coordinates of x (n values; analytic gradient in grad, a copy). */
static inline void gc_tensor(layer_harness *h, const char *what, float *x, const float *grad,
                             int64_t n, int max_points, double eps, double tol,
                             gradcheck_result *r)
{
    int64_t step = n > max_points ? n / max_points : 1;
    for (int64_t j = 0; j < n; j += step) {
        double numeric = gc_numeric(h, x, j, eps);
        double half = gc_numeric(h, x, j, eps / 2);
        if (fabs(numeric - half) > tol * (1.0 + fabs(half))) {
            r->skipped++;
            continue;
        }
        double error = fabs((double)grad[j] - numeric) / (1.0 + fabs(numeric));
        r->checked++;
        if (error > r->max_error)
            r->max_error = error;
        if (error > tol) {
            r->failed++;
            if (r->failed <= 5)
                fprintf(stderr, "  gradcheck %s %s[%lld]: analytic %.6g numeric %.6g\n",
                        h->layer.ops->type, what, (long long)j, grad[j], numeric);
        }
    }
}

/* Runs the check over every input and trainable parameter. eps 1e-2 and tol 1e-2 suit fp32
 * layers with inputs in [-1, 1). */
static inline gradcheck_result gradcheck(layer_harness *h, int max_points, double eps, double tol)
{
    gradcheck_result r = {0};
    lh_forward(h);
    lh_backward(h);
    pdl_layer *l = &h->layer;
    for (int i = 0; i < l->n_inputs; i++) {
        int64_t n = lh_in_count(h, i);
        float *analytic = lh_alloc(n);
        memcpy(analytic, h->din[i], (size_t)n * sizeof(float));
        char what[32];
        snprintf(what, sizeof what, "input%d", i);
        gc_tensor(h, what, h->in[i], analytic, n, max_points, eps, tol, &r);
        free(analytic);
    }
    for (int j = 0; j < l->n_params; j++) {
        if (!l->params[j].trainable)
            continue;
        int64_t n = lh_param_count(h, j);
        float *analytic = lh_alloc(n);
        memcpy(analytic, l->params[j].grad, (size_t)n * sizeof(float));
        gc_tensor(h, l->params[j].name, l->params[j].data, analytic, n, max_points, eps, tol, &r);
        free(analytic);
    }
    return r;
}

/* CHECKs that a layer built from options passes the gradient check with no failures and
 * at least some points checked. */
#define CHECK_GRADIENTS(ops, options, n_inputs, shapes)                                           \
    do {                                                                                          \
        layer_harness *gc_h_ = lh_create(&(ops), (options), (n_inputs), (shapes), 42);            \
        CHECK(gc_h_ != NULL);                                                                     \
        if (gc_h_) {                                                                              \
            gradcheck_result gc_r_ = gradcheck(gc_h_, 60, 1e-2, 1e-2);                            \
            printf("gradcheck %-14s %-40s checked %4d skipped %3d max error %.2e\n",             \
                   (ops).type, (options), gc_r_.checked, gc_r_.skipped, gc_r_.max_error);         \
            CHECK(gc_r_.failed == 0);                                                             \
            CHECK(gc_r_.checked > gc_r_.skipped);                                                 \
            lh_free(gc_h_);                                                                       \
        }                                                                                         \
    } while (0)

#endif
