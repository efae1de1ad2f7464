/* Per-layer analysis of a net at its current batch: parameters, multiply-adds, activation
 * memory, receptive field and jump, and the memory a training step or an inference needs (from
 * the same plan the allocator uses, net.c). Computes nothing a forward pass needs.
 *
 * Receptive field (rf) and jump, per axis, in input pixels: the net input has rf 1, jump 1. A
 * layer with kernel extent k and stride s over an input (rf_in, jump_in) gives
 * rf = rf_in + (k - 1) * jump_in and jump = jump_in * s. A layer with several inputs (concat,
 * add) starts from the largest rf and jump among them. A layer that turns a feature map into a
 * vector (fc, flatten) sees the whole map: it counts as a kernel and stride the size of its
 * input, so its rf covers the input's whole extent (which can exceed the image: padding). */
#include "graph/net_internal.h"

#include <string.h>

static int max_int(int a, int b) { return a > b ? a : b; }

void pdl_net_compute_rf(pdl_net *net)
{
    for (int i = 0; i < net->n_layers; i++) {
        const pdl_layer *l = &net->layers[i];
        int rf_h = 1, rf_w = 1, jump_h = 1, jump_w = 1;
        for (int k = 0; k < l->n_inputs; k++) {
            if (l->inputs[k] < 0)
                continue;
            const int *from = &net->rf[4 * l->inputs[k]];
            rf_h = max_int(rf_h, from[0]);
            rf_w = max_int(rf_w, from[1]);
            jump_h = max_int(jump_h, from[2]);
            jump_w = max_int(jump_w, from[3]);
        }
        int kernel_h = max_int(l->rf_kernel_h, 1), kernel_w = max_int(l->rf_kernel_w, 1);
        int stride_h = max_int(l->rf_stride_h, 1), stride_w = max_int(l->rf_stride_w, 1);
        if (l->out_shape.ndim == 2 && l->in_shape[0].ndim == 4) {
            kernel_h = stride_h = (int)l->in_shape[0].dim[2];
            kernel_w = stride_w = (int)l->in_shape[0].dim[3];
        }
        int *rf = &net->rf[4 * i];
        rf[0] = rf_h + (kernel_h - 1) * jump_h;
        rf[1] = rf_w + (kernel_w - 1) * jump_w;
        rf[2] = jump_h * stride_h;
        rf[3] = jump_w * stride_w;
    }
}

int pdl_net_layer_count(const pdl_net *net) { return net->n_layers; }

pdl_status pdl_net_layer_info(const pdl_net *net, int index, pdl_layer_info *out)
{
    if (index < 0 || index >= net->n_layers)
        return pdl_error(PDL_ERR_INVALID, "%s: layer index %d is outside [0, %d)", net->file,
                         index, net->n_layers);
    const pdl_layer *l = &net->layers[index];
    memset(out, 0, sizeof *out);
    out->name = l->name;
    out->type = l->ops->type;
    out->line = l->line;
    out->out_shape = l->out_shape;
    for (int j = 0; j < l->n_params; j++)
        if (l->params[j].trainable)
            out->params += pdl_shape_count(&l->params[j].shape);
    out->macs = l->macs;
    out->algo = l->algo;
    out->activation_bytes = pdl_shape_count(&l->out_shape) * (int64_t)sizeof(float);
    const int *rf = &net->rf[4 * index];
    out->rf_h = rf[0];
    out->rf_w = rf[1];
    out->jump_h = rf[2];
    out->jump_w = rf[3];
    out->n_inputs = l->n_inputs;
    for (int k = 0; k < l->n_inputs; k++)
        out->inputs[k] = l->inputs[k] < 0 ? "data" : net->layers[l->inputs[k]].name;
    return PDL_OK;
}

/* The arena of the training or inference plan at the current batch; -1 when planning failed
 * (out of memory: pdl_last_error says). */
static int64_t arena_bytes(const pdl_net *net, bool training)
{
    pdl_net_plan plan;
    if (pdl_net_plan_memory(net, training, &plan) != PDL_OK)
        return -1;
    int64_t bytes = (int64_t)plan.arena_bytes;
    pdl_net_plan_free(&plan);
    return bytes;
}

int64_t pdl_net_training_bytes(const pdl_net *net, int optimizer_floats_per_param)
{
    int64_t arena = arena_bytes(net, true);
    int64_t floats = net->n_params * (2 + optimizer_floats_per_param) + net->n_buffers;
    return arena < 0 ? -1 : floats * (int64_t)sizeof(float) + arena;
}

int64_t pdl_net_inference_bytes(const pdl_net *net)
{
    int64_t arena = arena_bytes(net, false);
    return arena < 0 ? -1 : (net->n_params + net->n_buffers) * (int64_t)sizeof(float) + arena;
}
