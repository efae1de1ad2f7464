/* The net's private state, shared by its files: net_build.c (model text -> layers in
 * topological order), memory_plan.c (liveness, in-place layers, arena offsets), net.c (buffers
 * placed from the plan, forward/backward, parameters, named tensors), analysis.c (layer info,
 * receptive fields, memory totals) and profile.c (per-layer timing). Not part of the public API. */
#ifndef PDL_GRAPH_NET_INTERNAL_H
#define PDL_GRAPH_NET_INTERNAL_H

#include "graph/cfg.h"
#include "layers/layer.h"
#include "pdl/net.h"

/* One named tensor: params[param] of layers[layer]. */
typedef struct pdl_net_tensor_ref {
    char *name; /* "<layer name>.<param name>" */
    int layer, param;
} pdl_net_tensor_ref;

/* Every buffer of a memory plan starts PDL_NET_ALIGN-byte aligned inside one arena. */
#define PDL_NET_ALIGN 64
#define PDL_NET_NO_BUFFER ((size_t)-1)

typedef enum pdl_net_buffer_kind {
    PDL_NET_BUFFER_INPUT,      /* the net's copy of the input batch, (N, C, H, W) */
    PDL_NET_BUFFER_LABELS,     /* the net's copy of the labels, (N) */
    PDL_NET_BUFFER_INPUT_GRAD, /* d loss / d input when requested, (N, C, H, W) */
    PDL_NET_BUFFER_WORKSPACE,  /* the scratch shared by all layers */
    PDL_NET_BUFFER_OUTPUT,     /* a layer's output (and of the in-place layers on it) */
    PDL_NET_BUFFER_GRADIENT,   /* the gradient of such an output */
    PDL_NET_BUFFER_SAVED,      /* a layer's state kept from forward to backward */
} pdl_net_buffer_kind;

/* One buffer of a plan: live over the steps [first, last] of the plan's timeline (see
 * memory_plan.c), at offset in the arena. */
typedef struct pdl_net_buffer {
    pdl_net_buffer_kind kind;
    int layer;     /* the owning layer; -1 for the net-wide kinds */
    size_t bytes;  /* rounded up to PDL_NET_ALIGN */
    int first, last;
    size_t offset;
} pdl_net_buffer;

/* Where a layer's buffers live in the arena (PDL_NET_NO_BUFFER when it has none) and what
 * the plan decided for it. */
typedef struct pdl_net_offsets {
    size_t out, grad, saved;
    bool in_place; /* out == in[0], dout == din[0] (pdl_layer.in_place) */
    int zero_at;   /* the output gradient is zeroed just before this layer's backward; -1 when
                    * there is no gradient or an in-place consumer overwrites it */
} pdl_net_offsets;

/* A memory plan (pdl_net_plan_memory); release with pdl_net_plan_free. */
typedef struct pdl_net_plan {
    bool training;
    int steps;             /* of the timeline: 2 * n_layers in training, else n_layers */
    size_t arena_bytes;    /* the one allocation every buffer lives in */
    pdl_net_offsets *layers; /* n_layers entries */
    int n_buffers;
    pdl_net_buffer *buffers;
    /* Indices in buffers[] of the net-wide buffers; -1 when absent. */
    int input_buffer, labels_buffer, input_grad_buffer, workspace_buffer;
} pdl_net_plan;

struct pdl_net {
    char *file;            /* model file name, for messages */
    char *text;            /* model text */
    pdl_cfg *cfg;          /* kept while the net lives: layers may keep option strings */
    const char *name;      /* [net] name (owned by cfg) */
    pdl_shape input;       /* one sample: (C, H, W) */
    int classes;
    int n_layers;
    pdl_layer *layers;     /* topological order; layers[i].index == i */
    int loss_layer;        /* index of the loss layer (always the last), or -1 */
    pdl_threadpool *pool;
    uint64_t seed;         /* of pdl_net_init_params; stochastic layers use it too */

    int64_t batch;         /* 0 until a set_batch succeeds */
    /* Flat parameter storage, allocated by the first set_batch and never moved after. */
    float *params, *grads, *buffers;     /* 64-byte aligned views into the *_block below */
    void *params_block, *grads_block, *buffers_block;
    int64_t n_params, n_buffers;
    int n_tensors;
    pdl_net_tensor_ref *tensors; /* trainable parameters in layer order, then buffers */

    /* Activation memory of the current batch (see pdl_net_plan_memory), placed by the first
     * forward after a set_batch so that analysing a net never allocates its activations: an
     * inference plan for an inference forward, a training plan (which serves both) for a
     * training forward. */
    bool arena_stale;
    bool arena_training;   /* the placed plan is a training plan */
    bool plan_naive;       /* plan without reuse (memory_plan.c; PDL_PLAN=naive) */
    void *arena_block;
    float *input_copy;     /* (N, C, H, W) */
    int32_t *labels_copy;  /* (N) */
    bool want_input_grad;  /* plan and compute the gradient of the input batch */
    float *input_grad;     /* (N, C, H, W) when want_input_grad, else NULL */
    float **out_grad;      /* per layer: gradient of its output, NULL when not needed */
    /* Gradients to zero before each backward: layers zero_layers[zero_start[i] ..
     * zero_start[i + 1]) before layer i's (n_layers + 1 and n_layers entries). */
    int *zero_start, *zero_layers;
    float loss;
    uint64_t step;         /* of the last forward */
    bool backward_ready;   /* the last forward was a training forward with labels, and no
                            * backward ran since */

    /* Called after each layer's backward (see pdl_net_set_backward_hook); NULL: none. */
    void (*backward_hook)(void *user, int layer);
    void *backward_hook_user;

    /* Receptive field of each layer's output, in input pixels (computed by set_batch). */
    int *rf;               /* 4 per layer: rf_h, rf_w, jump_h, jump_w */
};

/* The one memory plan behind both the allocator and the memory figures of the analysis
 * (memory_plan.c: liveness, in-place layers, offsets): training plans outputs, output
 * gradients, saved state and workspace; inference only outputs and workspace. */
pdl_status pdl_net_plan_memory(const pdl_net *net, bool training, pdl_net_plan *plan);
void pdl_net_plan_free(pdl_net_plan *plan);
/* Fills net->rf from the layers' rf_kernel/rf_stride along the graph (analysis.c). */
void pdl_net_compute_rf(pdl_net *net);
/* Builds the net's layers from the parsed model (net_build.c): everything of the net except
 * buffers, which pdl_net_set_batch plans. */
pdl_status pdl_net_build(pdl_net *net);

/* The pieces of a forward/backward pass, for code that runs the layers itself (profile.c):
 * the context net.c hands every layer (labels: the net's copy of the last labels, or NULL);
 * whether backward calls layer l (an input needs a gradient or it has trainable parameters);
 * zeroing the gradients that become live at layer's backward (each is zeroed just before the
 * first backward that adds into it; the input gradient before the first backward of a pass),
 * to be called right before that backward, whether or not the layer needs it. */
pdl_layer_ctx pdl_net_layer_ctx(const pdl_net *net, bool training, bool labels);
bool pdl_net_layer_needs_backward(const pdl_layer *l);
void pdl_net_zero_grads_at(pdl_net *net, int layer);

/* Internal access for other parts of the library (checkpoints, trainer, tests). */
pdl_layer *pdl_net_layer(pdl_net *net, int index);
/* The seed stochastic layers see (set by pdl_net_init_params; settable for runs that load
 * weights instead of initializing them). */
void pdl_net_set_seed(pdl_net *net, uint64_t seed);
uint64_t pdl_net_seed(const pdl_net *net);
/* Asks backward to also compute d loss / d input (for gradient checks and input saliency);
 * re-plans the buffers at the current batch. pdl_net_input_grad is (N, C, H, W), or NULL when
 * not requested. */
pdl_status pdl_net_request_input_grad(pdl_net *net, bool on);
const float *pdl_net_input_grad(const pdl_net *net);

/* Calls hook(user, i) right after layer i's backward, layers in reverse order: the gradients
 * of layer i's parameters are final then, so a reduction of them may start while the earlier
 * layers are still in backward (src/dist). hook NULL removes it. */
void pdl_net_set_backward_hook(pdl_net *net, void (*hook)(void *user, int layer), void *user);
/* Replaces the net's thread pool by one of threads threads (0: PDL_NUM_THREADS, else all
 * cores), e.g. one per replica when several replicas share the cores. */
pdl_status pdl_net_set_threads(pdl_net *net, int threads);

#endif
