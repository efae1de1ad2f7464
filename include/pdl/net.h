/* A network built from a model file: layers in topological order, shapes inferred for a batch,
 * all trainable parameters in one flat buffer, their gradients in a second, non-trainable state
 * (batch-norm running statistics) in a third. Forward, backward and per-layer analysis. */
#ifndef PDL_NET_H
#define PDL_NET_H

#include "pdl/status.h"
#include "pdl/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pdl_net pdl_net;

/* Parses the model file at path and builds the net for batch size 1 (see pdl_net_set_batch).
 * Parameters are allocated but not initialized (call pdl_net_init_params or load weights).
 * On error *out is NULL and pdl_last_error() names file, line and key. Caller frees the net. */
pdl_status pdl_net_load(const char *path, pdl_net **out);
/* The same from model text; filename is only used in error messages. */
pdl_status pdl_net_from_text(const char *text, const char *filename, pdl_net **out);
void pdl_net_free(pdl_net *net);

/* Infers every layer's shapes for batch n and (re)plans activation/gradient buffers.
 * Parameters keep their values. */
pdl_status pdl_net_set_batch(pdl_net *net, int64_t n);
int64_t pdl_net_batch(const pdl_net *net);

/* Input shape of one sample (C, H, W) and the number of classes of the [net] section. */
pdl_shape pdl_net_input_shape(const pdl_net *net);
int pdl_net_classes(const pdl_net *net);
/* The model file text the net was built from (owned by the net). */
const char *pdl_net_source_text(const pdl_net *net);
/* The model file name given at load (owned by the net). */
const char *pdl_net_source_name(const pdl_net *net);

/* Initializes parameters from seed (He-normal weights, zero biases, BN gamma 1 / beta 0,
 * running mean 0 / var 1). The same seed gives the same bits. */
pdl_status pdl_net_init_params(pdl_net *net, uint64_t seed);

/* x is (N, C, H, W) with N == pdl_net_batch(); labels is (N) class indices in [0, classes) or
 * NULL (then the loss is not computed). training selects batch statistics, dropout and keeps
 * what backward needs. step is the training iteration, the counter of stochastic layers
 * (dropout masks are a function of (seed, step, layer, element)). */
pdl_status pdl_net_forward(pdl_net *net, const float *x, const int32_t *labels, bool training,
                           uint64_t step);
/* Backpropagates the mean loss of the last training forward, once per forward (a second call
 * without a new forward returns PDL_ERR_INVALID: the memory plan reuses what backward read).
 * Parameter gradients are ADDED to the gradient buffer (call pdl_net_zero_grad first; leaving it
 * lets gradients accumulate over several forward/backward pairs). */
pdl_status pdl_net_backward(pdl_net *net);
void pdl_net_zero_grad(pdl_net *net);

/* Mean loss over the batch of the last forward with labels (NaN when none). */
float pdl_net_loss(const pdl_net *net);
/* Output of the last forward: (N, classes) class probabilities when the net ends in a
 * softmax loss, else the last layer's output. Owned by the net, valid until the next call. */
const float *pdl_net_output(const pdl_net *net);
pdl_shape pdl_net_output_shape(const pdl_net *net);
/* True when the net ends in a softmax loss, so that its output is class probabilities (else
 * it is the last layer's raw output, e.g. logits). */
bool pdl_net_outputs_probabilities(const pdl_net *net);

/* The flat trainable parameter buffer and its gradient buffer (same length). Owned by the net. */
float *pdl_net_params(pdl_net *net);
float *pdl_net_grads(pdl_net *net);
int64_t pdl_net_param_count(const pdl_net *net);
/* The flat non-trainable state buffer (running statistics). */
float *pdl_net_buffers(pdl_net *net);
int64_t pdl_net_buffer_count(const pdl_net *net);

/* Named tensors (parameters then buffers), PyTorch-style names: "conv1.weight",
 * "bn1.running_mean". data points into the net's buffers. */
typedef struct pdl_named_tensor {
    const char *name; /* owned by the net */
    pdl_shape shape;
    float *data;
    float *grad;      /* NULL for buffers */
    bool trainable;
} pdl_named_tensor;
int pdl_net_tensor_count(const pdl_net *net);
pdl_status pdl_net_tensor(pdl_net *net, int index, pdl_named_tensor *out);
/* Index of the tensor called name, or -1. */
int pdl_net_find_tensor(const pdl_net *net, const char *name);

/* Per-layer analysis for the current batch. */
typedef struct pdl_layer_info {
    const char *name;       /* owned by the net */
    const char *type;       /* "conv", "maxpool", ... */
    int line;               /* line of the layer's section in the model file */
    pdl_shape out_shape;    /* including the batch dimension */
    int64_t params;         /* trainable parameters */
    int64_t macs;           /* multiply-adds of one forward pass at the current batch */
    const char *algo;       /* conv: the kernel in use ("gemm", "1x1-gemm", "winograd", "direct",
                             * "reference"); NULL for other layers. Static string. */
    int64_t activation_bytes; /* bytes of this layer's output */
    int rf_h, rf_w;         /* receptive field of one output element, in input pixels */
    int jump_h, jump_w;     /* distance in input pixels between adjacent outputs */
    int n_inputs;
    const char *inputs[8];  /* producer layer names; "data" for the net input */
} pdl_layer_info;
int pdl_net_layer_count(const pdl_net *net);
pdl_status pdl_net_layer_info(const pdl_net *net, int index, pdl_layer_info *out);

/* A process-wide convolution algorithm for conv layers reshaped from now on (pdl_net_load,
 * pdl_net_set_batch): "auto", "gemm", "winograd", "direct" or "reference" replaces each conv
 * layer's `algo` key wherever that algorithm applies to the layer (elsewhere the layer keeps
 * its key, `auto` by default); NULL clears it. Any other name: PDL_ERR_INVALID naming the
 * known ones. Set it before building nets, not while another thread builds one. */
pdl_status pdl_conv_algo_override(const char *name);

/* Bytes a training step needs at the current batch: parameters, gradients, optimizer state
 * (optimizer_floats_per_param extra floats per parameter: 1 for momentum SGD, 2 for Adam),
 * activations, activation gradients, saved state and workspace. */
int64_t pdl_net_training_bytes(const pdl_net *net, int optimizer_floats_per_param);
/* Bytes an inference forward needs at the current batch. Both return -1 when planning itself
 * runs out of memory. */
int64_t pdl_net_inference_bytes(const pdl_net *net);

/* Top-k accuracy helper: how many of the n rows of scores (n, classes) have their label
 * among the k highest scores. */
int64_t pdl_topk_correct(const float *scores, const int32_t *labels, int64_t n, int classes, int k);

#ifdef __cplusplus
}
#endif
#endif
