/* The net's private state, shared by its three files: net_build.c (model text -> layers in
 * topological order), net.c (buffers, memory plan, forward/backward, parameters, named tensors)
 * and analysis.c (layer info, receptive fields, memory totals). Not part of the public API. */
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

/* Byte sizes of one memory plan; every buffer starts 64-byte aligned inside one arena. */
typedef struct pdl_net_plan {
    size_t input_bytes;      /* the net's copies of the input batch and labels, and the input
                              * gradient when requested (pdl_net_request_input_grad) */
    size_t activation_bytes; /* layer outputs */
    size_t gradient_bytes;   /* gradients of layer outputs (training only) */
    size_t saved_bytes;      /* state kept from forward to backward (training only) */
    size_t workspace_bytes;  /* the shared scratch: the largest any layer asks for */
    size_t arena_bytes;      /* everything above, alignment included */
    /* Offsets in the arena (the input copy is at 0); PDL_NET_NO_BUFFER when absent. */
    size_t labels_offset, input_grad_offset, workspace_offset;
} pdl_net_plan;

/* Where a layer's buffers live in the arena; PDL_NET_NO_BUFFER when it has none. */
typedef struct pdl_net_offsets {
    size_t out, grad, saved;
} pdl_net_offsets;
#define PDL_NET_NO_BUFFER ((size_t)-1)

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
     * forward after a set_batch so that analysing a net never allocates its activations. */
    bool arena_stale;
    void *arena_block;
    float *input_copy;     /* (N, C, H, W) */
    int32_t *labels_copy;  /* (N) */
    bool want_input_grad;  /* plan and compute the gradient of the input batch */
    float *input_grad;     /* (N, C, H, W) when want_input_grad, else NULL */
    float **out_grad;      /* per layer: gradient of its output, NULL when not needed */
    float loss;
    uint64_t step;         /* of the last forward */
    bool backward_ready;   /* the last forward was a training forward with labels */

    /* Called after each layer's backward (see pdl_net_set_backward_hook); NULL: none. */
    void (*backward_hook)(void *user, int layer);
    void *backward_hook_user;

    /* Receptive field of each layer's output, in input pixels (computed by set_batch). */
    int *rf;               /* 4 per layer: rf_h, rf_w, jump_h, jump_w */
};

/* The one memory plan behind both the allocator and the memory figures of the analysis:
 * training plans outputs, output gradients, saved state and workspace; inference only outputs
 * and workspace. offsets (n_layers entries) receives where each layer's buffers go, or NULL. */
void pdl_net_plan_memory(const pdl_net *net, bool training, pdl_net_plan *plan,
                         pdl_net_offsets *offsets);
/* Fills net->rf from the layers' rf_kernel/rf_stride along the graph (analysis.c). */
void pdl_net_compute_rf(pdl_net *net);
/* Builds the net's layers from the parsed model (net_build.c): everything of the net except
 * buffers, which pdl_net_set_batch plans. */
pdl_status pdl_net_build(pdl_net *net);

/* The pieces of a forward/backward pass, for code that runs the layers itself (profile.c):
 * the context net.c hands every layer (labels: the net's copy of the last labels, or NULL);
 * whether backward calls layer l (an input needs a gradient or it has trainable parameters);
 * zeroing every activation gradient and the input gradient, where each backward starts. */
pdl_layer_ctx pdl_net_layer_ctx(const pdl_net *net, bool training, bool labels);
bool pdl_net_layer_needs_backward(const pdl_layer *l);
void pdl_net_clear_activation_grads(pdl_net *net);

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
