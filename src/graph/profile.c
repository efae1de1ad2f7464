/* Per-layer timing of a net's training step (pdl_net_time_layers) and the timing helpers that
 * `pdl bench` shares: the monotonic clock and median/min/max. Runs the layers the way net.c
 * does, through net.c's own pass helpers; owns no memory plan and no kernel. */
#include "graph/net_internal.h"
#include "pdl/bench.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

double pdl_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

pdl_timing_stats pdl_timing_stats_of(double *values, int n)
{
    PDL_ASSERT(values && n >= 1);
    qsort(values, (size_t)n, sizeof *values, compare_double);
    double median = n % 2 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
    return (pdl_timing_stats){.median = median, .min = values[0], .max = values[n - 1]};
}

int pdl_net_threads(const pdl_net *net) { return pdl_threadpool_threads(net->pool); }

/* The multiply-adds of l's backward by the convention of pdl_layer_timing: the forward's once
 * per gradient product the backward computes (weights, input). */
static int64_t backward_macs(const pdl_layer *l)
{
    int products = 0;
    for (int j = 0; j < l->n_params; j++)
        if (l->params[j].trainable) {
            products++;
            break;
        }
    for (int k = 0; k < l->n_inputs; k++)
        if (l->din[k]) {
            products++;
            break;
        }
    return l->macs * products;
}

/* times is (iterations, n_layers, 2): seconds of forward [0] and backward [1]. */
static void time_pass(pdl_net *net, double *times)
{
    const pdl_layer_ctx ctx = pdl_net_layer_ctx(net, true, true);
    for (int i = 0; i < net->n_layers; i++) {
        pdl_layer *l = &net->layers[i];
        double start = pdl_seconds();
        l->ops->forward(l, &ctx);
        times[2 * i] = pdl_seconds() - start;
    }
    for (int i = net->n_layers - 1; i >= 0; i--) {
        pdl_layer *l = &net->layers[i];
        pdl_net_zero_grads_at(net, i);
        times[2 * i + 1] = 0.0;
        if (!pdl_net_layer_needs_backward(l))
            continue;
        double start = pdl_seconds();
        l->ops->backward(l, &ctx);
        times[2 * i + 1] = pdl_seconds() - start;
    }
}

pdl_status pdl_net_time_layers(pdl_net *net, int iterations, pdl_layer_timing *out)
{
    PDL_ASSERT(net && out);
    if (iterations < 1)
        return pdl_error(PDL_ERR_INVALID, "%s: per-layer timing needs at least 1 iteration, "
                         "got %d", net->file, iterations);
    if (!net->batch)
        return pdl_error(PDL_ERR_INVALID, "%s: the net has no valid batch size", net->file);
    if (net->loss_layer < 0)
        return pdl_error(PDL_ERR_INVALID, "%s: per-layer timing runs a training step and needs "
                         "a loss layer; the net has none", net->file);
    const int layers = net->n_layers;
    const int64_t n = net->batch;
    float *x = calloc((size_t)(n * pdl_shape_count(&net->input)), sizeof *x); /* (N, C, H, W) */
    int32_t *labels = calloc((size_t)n, sizeof *labels);                     /* (N), all 0 */
    double *times = malloc((size_t)iterations * (size_t)layers * 2 * sizeof *times);
    double *column = malloc((size_t)iterations * sizeof *column);
    pdl_status st = PDL_OK;
    if (!x || !labels || !times || !column) {
        st = pdl_error(PDL_ERR_NOMEM, "%s: out of memory for per-layer timing", net->file);
        goto done;
    }
    /* The warm-up places the buffers (a first forward after set_batch does) and leaves the
     * input, the labels and every layer's saved state where the passes below expect them. */
    if ((st = pdl_net_forward(net, x, labels, true, net->step)) ||
        (st = pdl_net_backward(net)))
        goto done;
    for (int it = 0; it < iterations; it++)
        time_pass(net, times + (size_t)it * (size_t)layers * 2);
    for (int i = 0; i < layers; i++) {
        const pdl_layer *l = &net->layers[i];
        pdl_layer_timing *t = &out[i];
        memset(t, 0, sizeof *t);
        t->has_backward = pdl_net_layer_needs_backward(l);
        t->macs = l->macs;
        t->backward_macs = t->has_backward ? backward_macs(l) : 0;
        for (int pass = 0; pass < 2; pass++) {
            for (int it = 0; it < iterations; it++)
                column[it] = times[((size_t)it * (size_t)layers + (size_t)i) * 2 + (size_t)pass];
            double ms = 1e3 * pdl_timing_stats_of(column, iterations).median;
            *(pass ? &t->backward_ms : &t->forward_ms) = ms;
        }
    }
done:
    free(x);
    free(labels);
    free(times);
    free(column);
    return st;
}
