/* The layer interface: a vtable per layer type (layers.def lists them) and the state the net
 * hands each layer. A layer never allocates its buffers: reshape declares sizes, the net plans
 * and assigns memory. Shapes include the batch dimension: (N, C, H, W) or (N, D). */
#ifndef PDL_LAYERS_LAYER_H
#define PDL_LAYERS_LAYER_H

#include "core/error.h"
#include "core/threadpool.h"
#include "graph/cfg.h"
#include "pdl/tensor.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PDL_MAX_INPUTS 8
#define PDL_MAX_PARAMS 4
#define PDL_NAME_MAX 96

typedef enum pdl_param_init {
    PDL_INIT_ZERO = 0,
    PDL_INIT_ONE,
    PDL_INIT_HE_NORMAL,     /* N(0, 2 / fan_in): weights followed by ReLU */
    PDL_INIT_XAVIER_UNIFORM,/* U(+-sqrt(6 / (fan_in + fan_out))) */
} pdl_param_init;

typedef struct pdl_param {
    char name[24];       /* "weight", "bias", "running_mean", "running_var" */
    pdl_shape shape;     /* e.g. conv weight (K, C/groups, R, S), PyTorch's layout */
    bool trainable;      /* false: a buffer (no gradient, not touched by the optimizer) */
    pdl_param_init init;
    int64_t fan_in, fan_out;
    float *data;         /* assigned by the net: a view into its flat buffers */
    float *grad;         /* assigned by the net; NULL when !trainable */
} pdl_param;

/* What forward/backward may need beyond the layer's own buffers. */
typedef struct pdl_layer_ctx {
    bool training;          /* batch statistics, dropout, save what backward needs */
    uint64_t seed;          /* the run's seed, for stochastic layers */
    uint64_t step;          /* training iteration: the counter of stochastic layers */
    const int32_t *labels;  /* (N) class labels for loss layers; NULL when none */
    pdl_threadpool *pool;   /* may be NULL (single-threaded) */
} pdl_layer_ctx;

typedef struct pdl_layer pdl_layer;

typedef struct pdl_layer_ops {
    const char *type;       /* model-file keyword: "conv" */
    int min_inputs, max_inputs;
    size_t opts_size;       /* private options struct, zero-allocated by the net into l->opts */
    bool is_loss;           /* computes l->loss from ctx->labels; backward ignores dout */
    /* Memory planning: what backward reads besides dout, params and its saved memory. The
     * planner keeps in[] (or out) intact until this layer's backward has run, and may reuse
     * them otherwise. */
    bool backward_reads_input, backward_reads_output;
    /* The layer is correct with out == in[0] and dout == din[0] (see pdl_layer.in_place). */
    bool can_run_in_place;
    /* Reads and validates options from sec with the pdl_cfg_* getters (the net then reports
     * keys nobody asked for). Must not look at shapes. */
    pdl_status (*init)(pdl_layer *l, pdl_cfg_section *sec);
    /* From in_shape[] (batch included) sets out_shape, declares params (pdl_layer_declare_param),
     * and whatever differs from pdl_layer_reset_geometry's defaults (workspace_bytes,
     * saved_bytes, macs, the receptive-field geometry). Called again when the batch changes.
     * Errors name the layer and file:line (pdl_layer_error). */
    pdl_status (*reshape)(pdl_layer *l);
    /* out = f(in). Reads in[], params, writes out (and saved when training). */
    void (*forward)(pdl_layer *l, const pdl_layer_ctx *ctx);
    /* ADDS d loss / d in[i] into din[i] (when din[i] != NULL) and d loss / d param into
     * params[j].grad, from dout (NULL for a loss layer). Only called after a training forward. */
    void (*backward)(pdl_layer *l, const pdl_layer_ctx *ctx);
    /* Frees what init allocated besides opts (may be NULL). */
    void (*destroy)(pdl_layer *l);
} pdl_layer_ops;

struct pdl_layer {
    const pdl_layer_ops *ops;
    char name[PDL_NAME_MAX];
    const char *file;       /* model file name, for messages */
    int line;               /* line of the layer's [section] */
    int index;              /* position in the net's topological order */
    void *opts;

    int n_inputs;
    int inputs[PDL_MAX_INPUTS];         /* producer layer index; -1 = the net's data input */
    pdl_shape in_shape[PDL_MAX_INPUTS];
    pdl_shape out_shape;

    const float *in[PDL_MAX_INPUTS];    /* activations, assigned by the net */
    float *out;
    float *din[PDL_MAX_INPUTS];         /* gradient buffers of the inputs (accumulate), or NULL */
    const float *dout;                  /* gradient of out; NULL for a loss layer */
    /* Set by the net for a layer with can_run_in_place when it is the only consumer of in[0]:
     * out == in[0] (forward overwrites its input) and din[0] == dout (backward overwrites the
     * output gradient with the input gradient instead of adding). */
    bool in_place;

    int n_params;
    pdl_param params[PDL_MAX_PARAMS];

    size_t workspace_bytes; /* scratch valid during one forward or backward call, shared */
    void *workspace;
    size_t saved_bytes;     /* private memory kept from forward to backward */
    void *saved;

    int64_t macs;           /* multiply-adds of one forward pass at the current batch */
    const char *algo;       /* kernel chosen by reshape ("gemm", "winograd", ...); NULL: none */
    int rf_kernel_h, rf_kernel_w;   /* effective kernel extent (dilation included); 1 if none */
    int rf_stride_h, rf_stride_w;   /* 1 if none */
    float loss;             /* loss layers: mean loss of the last forward with labels */
};

/* Declares (or re-declares with the same shape, on a batch change) parameter name of l.
 * Keeps data/grad pointers across re-declarations. Returns the param, or NULL after setting an
 * error when a re-declaration changes the shape or PDL_MAX_PARAMS is exceeded. */
pdl_param *pdl_layer_declare_param(pdl_layer *l, const char *name, pdl_shape shape,
                                   bool trainable, pdl_param_init init, int64_t fan_in,
                                   int64_t fan_out);
/* What reshape starts from: no workspace, no saved state, no MACs, a 1x1 stride-1 footprint. */
void pdl_layer_reset_geometry(pdl_layer *l);
/* init for layer types without options. */
pdl_status pdl_layer_init_none(pdl_layer *l, pdl_cfg_section *sec);
/* Sets "file:line: layer 'name' (type): <message>" and returns code. */
pdl_status pdl_layer_error(const pdl_layer *l, pdl_status code, const char *fmt, ...)
    PDL_PRINTF(3, 4);
/* The ops for a model-file keyword, or NULL. */
const pdl_layer_ops *pdl_layer_ops_find(const char *type);

#define X(id, ops) extern const pdl_layer_ops ops;
#include "layers/layers.def"
#undef X

#endif
