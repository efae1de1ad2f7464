/* Builds one layer standalone, outside any net: parses its options, reshapes it for given input
 * shapes and allocates inputs, outputs, their gradients, parameters, workspace and saved state.
 * Used by the gradient checks and the PyTorch fixture tests. Header-only, for tests. */
#ifndef PDL_TEST_LAYER_HARNESS_H
#define PDL_TEST_LAYER_HARNESS_H

#include "core/rng.h"
#include "graph/cfg.h"
#include "layers/layer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct layer_harness {
    pdl_layer layer;
    pdl_cfg *cfg;
    float *in[PDL_MAX_INPUTS];   /* in_shape[i] */
    float *din[PDL_MAX_INPUTS];  /* in_shape[i] */
    float *out;                  /* out_shape */
    float *dout;                 /* out_shape; NULL for loss layers */
    int32_t *labels;             /* (N) */
    pdl_layer_ctx ctx;
} layer_harness;

static inline float *lh_alloc(int64_t count)
{
    return (float *)calloc((size_t)(count > 0 ? count : 1), sizeof(float));
}

static inline int64_t lh_in_count(const layer_harness *h, int i)
{
    return pdl_shape_count(&h->layer.in_shape[i]);
}
static inline int64_t lh_out_count(const layer_harness *h)
{
    return pdl_shape_count(&h->layer.out_shape);
}
static inline int64_t lh_param_count(const layer_harness *h, int j)
{
    return pdl_shape_count(&h->layer.params[j].shape);
}

/* Fills x (n) with uniform values in [lo, hi) from (seed, stream). */
static inline void lh_fill_uniform(float *x, int64_t n, uint64_t seed, uint64_t stream, float lo,
                                   float hi)
{
    for (int64_t i = 0; i < n; i++)
        x[i] = lo + (hi - lo) * pdl_rng_uniform(seed, stream, (uint64_t)i);
}

static inline void lh_free(layer_harness *h)
{
    if (!h)
        return;
    if (h->layer.ops && h->layer.ops->destroy)
        h->layer.ops->destroy(&h->layer);
    for (int i = 0; i < PDL_MAX_INPUTS; i++) {
        free(h->in[i]);
        free(h->din[i]);
    }
    for (int j = 0; j < h->layer.n_params; j++) {
        free(h->layer.params[j].data);
        free(h->layer.params[j].grad);
    }
    free(h->out);
    free(h->dout);
    free(h->labels);
    free(h->layer.workspace);
    free(h->layer.saved);
    free(h->layer.opts);
    pdl_cfg_free(h->cfg);
    free(h);
}

/* options: "key=value key=value" (spaces separate entries). Inputs, parameters (uniform in
 * [-1, 1)), labels (in [0, out classes)) and dout are filled from seed. NULL on error, with
 * pdl_last_error() set. */
static inline layer_harness *lh_create(const pdl_layer_ops *ops, const char *options, int n_inputs,
                                       const pdl_shape *in_shapes, uint64_t seed)
{
    layer_harness *h = (layer_harness *)calloc(1, sizeof *h);
    char text[2048];
    int used = snprintf(text, sizeof text, "[%s]\n", ops->type);
    for (const char *p = options; *p && used < (int)sizeof text - 2; p++)
        text[used++] = *p == ' ' ? '\n' : *p;
    text[used] = '\0';
    if (!h || pdl_cfg_parse(text, strlen(text), "harness", &h->cfg) != PDL_OK)
        goto fail;
    pdl_layer *l = &h->layer;
    l->ops = ops;
    snprintf(l->name, sizeof l->name, "layer");
    l->file = "harness";
    l->line = 1;
    l->opts = calloc(1, ops->opts_size ? ops->opts_size : 1);
    if (ops->init(l, &h->cfg->sections[0]) != PDL_OK ||
        pdl_cfg_check_unused(&h->cfg->sections[0]) != PDL_OK)
        goto fail;
    l->n_inputs = n_inputs;
    for (int i = 0; i < n_inputs; i++) {
        l->inputs[i] = i - 1;
        l->in_shape[i] = in_shapes[i];
    }
    pdl_layer_reset_geometry(l);
    if (ops->reshape(l) != PDL_OK)
        goto fail;
    for (int i = 0; i < n_inputs; i++) {
        h->in[i] = lh_alloc(lh_in_count(h, i));
        h->din[i] = lh_alloc(lh_in_count(h, i));
        lh_fill_uniform(h->in[i], lh_in_count(h, i), seed, 100 + (uint64_t)i, -1.0f, 1.0f);
        l->in[i] = h->in[i];
        l->din[i] = h->din[i];
    }
    h->out = lh_alloc(lh_out_count(h));
    l->out = h->out;
    if (!ops->is_loss) {
        h->dout = lh_alloc(lh_out_count(h));
        lh_fill_uniform(h->dout, lh_out_count(h), seed, 200, -1.0f, 1.0f);
        l->dout = h->dout;
    }
    for (int j = 0; j < l->n_params; j++) {
        pdl_param *p = &l->params[j];
        p->data = lh_alloc(lh_param_count(h, j));
        lh_fill_uniform(p->data, lh_param_count(h, j), seed, 300 + (uint64_t)j, -1.0f, 1.0f);
        if (p->trainable)
            p->grad = lh_alloc(lh_param_count(h, j));
    }
    l->workspace = calloc(1, l->workspace_bytes + 64);
    l->saved = calloc(1, l->saved_bytes + 64);
    int64_t n = l->in_shape[0].dim[0];
    int64_t classes = l->out_shape.ndim > 1 ? l->out_shape.dim[1] : 1;
    h->labels = (int32_t *)calloc((size_t)n, sizeof(int32_t));
    for (int64_t i = 0; i < n; i++)
        h->labels[i] = (int32_t)pdl_rng_below(seed, 400, (uint64_t)i, (uint64_t)classes);
    h->ctx.training = true;
    h->ctx.seed = seed;
    h->ctx.step = 7;
    h->ctx.labels = h->labels;
    return h;
fail:
    fprintf(stderr, "lh_create(%s, \"%s\"): %s\n", ops->type, options, pdl_last_error());
    lh_free(h);
    return NULL;
}

static inline void lh_forward(layer_harness *h) { h->layer.ops->forward(&h->layer, &h->ctx); }

/* Zeroes input and parameter gradients, then runs backward once. */
static inline void lh_backward(layer_harness *h)
{
    for (int i = 0; i < h->layer.n_inputs; i++)
        memset(h->din[i], 0, (size_t)lh_in_count(h, i) * sizeof(float));
    for (int j = 0; j < h->layer.n_params; j++)
        if (h->layer.params[j].grad)
            memset(h->layer.params[j].grad, 0, (size_t)lh_param_count(h, j) * sizeof(float));
    h->layer.ops->backward(&h->layer, &h->ctx);
}

#endif
