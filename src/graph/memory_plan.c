/* The memory planner: from the net's graph, shapes and layer flags, which buffers a training
 * step or an inference needs, when each is live, which layers run in place and where each
 * buffer goes in one arena. Allocates only the plan itself; net.c applies it (place_buffers)
 * and zeroes each output gradient at the step the plan gives. Runs no layer.
 *
 * Timeline. Training: step i is layer i's forward (i = 0 .. L-1), step 2L-1-i its backward
 * (layers in reverse order). Inference: the L forward steps. A buffer is live over the closed
 * range [first, last] of steps; two buffers live at a common step never share a byte.
 *
 * Rules (an inference plan has no gradients, no saved state and no backward reads):
 * - Net-wide buffers, live over the whole timeline: the input copy and the labels (no layer
 *   runs in place on the input copy, so it stays what the caller passed: profile.c reruns
 *   forward passes from it), the input gradient when requested (zeroed before the first
 *   backward of a pass), and the workspace: one buffer of the largest size any layer asks
 *   for, shared (a layer uses it within one call only).
 * - Which gradients exist: layer X's output gradient exists iff X is not the loss and X's
 *   backward computes something, i.e. X has a trainable parameter or an input whose gradient
 *   exists (the net input's exists when requested). A consumer of an output without gradient
 *   gets din NULL; a layer with nothing to compute skips backward.
 * - In place: layer Y runs in place on in[0], the output of layer X, when Y's
 *   ops->can_run_in_place; X is a layer (never the input copy); Y is the only consumer of that
 *   output (one input edge in the whole net: add(X, X) has two); both outputs have the same
 *   size; and in training, X's backward does not read X's output (ops->backward_reads_output,
 *   or backward_reads_input when X itself runs in place: its input is its output then), and
 *   X's output gradient exists iff Y's does. Y then shares X's output buffer and its gradient
 *   (out == in[0], dout == din[0]; Y's other inputs, if any, are separate buffers and their
 *   gradients are added into as usual); a chain W <- X <- Y shares one of each, owned by W.
 * - An output buffer (of a chain) is live from W's forward to the latest of, over every member
 *   M: the forward of each consumer of M's output; the backward of each such consumer that
 *   runs backward and has ops->backward_reads_input; M's backward when it runs and has
 *   ops->backward_reads_output; the end of the timeline when M is the last layer (the net's
 *   output, pdl_net_output, stays valid after backward).
 * - An output gradient (of a chain) is live from the backward of the highest-index consumer of
 *   the top member's output, the first to add into it (it is zeroed just before that
 *   backward), or the top member's own backward when nothing consumes it, to W's backward, its
 *   last reader. The in-place members overwrite it instead of adding, so it is zeroed once.
 * - Saved state of layer i: from its forward to its backward (to its forward when it skips
 *   backward).
 * A second pdl_net_backward after one forward would read activations and saved state that
 * gradients reuse: net.c allows one backward per training forward.
 *
 * The naive plan (net->plan_naive, from PDL_PLAN=naive in the environment): the same buffers,
 * each live over the whole timeline and none in place, i.e. no reuse: a reference for tests
 * and a way to rule the planner out when a result looks wrong.
 *
 * Placement: buffers by decreasing size (then first step, then creation order), each in the
 * smallest gap that fits between the already placed buffers that share a step with it, else
 * above all of them. Deterministic: the same net, batch and mode give the same plan. The most
 * bytes live at one step is a lower bound of any arena; on the zoo the arena is within 1% of it.
 * A training plan also serves inference forwards (its ranges contain the inference ones). */
#include "graph/net_internal.h"

#include <stdlib.h>
#include <string.h>

static size_t align_up(size_t n)
{
    return (n + PDL_NET_ALIGN - 1) / PDL_NET_ALIGN * PDL_NET_ALIGN;
}

static size_t output_bytes(const pdl_layer *l)
{
    return align_up((size_t)pdl_shape_count(&l->out_shape) * sizeof(float));
}

static int max_int(int a, int b) { return a > b ? a : b; }

/* What the rules need to know of one layer. */
typedef struct layer_facts {
    int consumers;      /* input edges in the net that read this layer's output */
    int last_consumer;  /* the highest-index one, -1 when none */
    bool runs_backward; /* training: backward computes something */
    bool has_grad;      /* training: the output gradient exists */
    bool in_place;
    bool has_in_place_consumer;
    int root;           /* the layer whose output buffer (and gradient) this one shares */
    int out_buffer, grad_buffer, saved_buffer; /* indices in plan->buffers (roots), or -1 */
} layer_facts;

static bool has_trainable(const pdl_layer *l)
{
    for (int j = 0; j < l->n_params; j++)
        if (l->params[j].trainable)
            return true;
    return false;
}

static void find_gradients(const pdl_net *net, layer_facts *f)
{
    for (int i = 0; i < net->n_layers; i++) {
        const pdl_layer *l = &net->layers[i];
        bool computes = has_trainable(l);
        for (int k = 0; k < l->n_inputs; k++)
            computes |= l->inputs[k] < 0 ? net->want_input_grad : f[l->inputs[k]].has_grad;
        f[i].runs_backward = computes;
        f[i].has_grad = computes && !l->ops->is_loss;
    }
}

static bool may_run_in_place(const pdl_net *net, bool training, const layer_facts *f, int y)
{
    const pdl_layer *l = &net->layers[y];
    int x = l->inputs[0];
    if (!l->ops->can_run_in_place || x < 0 || f[x].consumers != 1 ||
        pdl_shape_count(&net->layers[x].out_shape) != pdl_shape_count(&l->out_shape))
        return false;
    if (!training)
        return true;
    const pdl_layer_ops *xops = net->layers[x].ops;
    bool x_reads_output =
        xops->backward_reads_output || (f[x].in_place && xops->backward_reads_input);
    return !(f[x].runs_backward && x_reads_output) && f[x].has_grad == f[y].has_grad;
}

/* Appends a buffer live over [first, last]; returns its index. */
static int add_buffer(pdl_net_plan *plan, pdl_net_buffer_kind kind, int layer, size_t bytes,
                      int first, int last)
{
    plan->buffers[plan->n_buffers] = (pdl_net_buffer){.kind = kind, .layer = layer,
                                                      .bytes = align_up(bytes), .first = first,
                                                      .last = last, .offset = 0};
    return plan->n_buffers++;
}

/* The buffers of the plan with their live ranges, following the rules above. */
static void collect_buffers(const pdl_net *net, bool training, layer_facts *f, pdl_net_plan *plan)
{
    const int n = net->n_layers, end = plan->steps - 1;
    const pdl_shape input = pdl_shape_4d(net->batch, net->input.dim[0], net->input.dim[1],
                                         net->input.dim[2]);
    const size_t input_bytes = (size_t)pdl_shape_count(&input) * sizeof(float);
    size_t workspace = 0;
    plan->input_buffer = add_buffer(plan, PDL_NET_BUFFER_INPUT, -1, input_bytes, 0, end);
    plan->labels_buffer = add_buffer(plan, PDL_NET_BUFFER_LABELS, -1,
                                     (size_t)net->batch * sizeof(int32_t), 0, end);
    plan->input_grad_buffer = training && net->want_input_grad
                                  ? add_buffer(plan, PDL_NET_BUFFER_INPUT_GRAD, -1, input_bytes, 0,
                                               end)
                                  : -1;
    for (int i = 0; i < n; i++)
        if (net->layers[i].workspace_bytes > workspace)
            workspace = net->layers[i].workspace_bytes;
    plan->workspace_buffer =
        workspace ? add_buffer(plan, PDL_NET_BUFFER_WORKSPACE, -1, workspace, 0, end) : -1;

    for (int i = 0; i < n; i++) {
        f[i].out_buffer = f[i].grad_buffer = f[i].saved_buffer = -1;
        if (f[i].in_place)
            continue;
        f[i].out_buffer = add_buffer(plan, PDL_NET_BUFFER_OUTPUT, i, output_bytes(&net->layers[i]),
                                     i, i);
        if (f[i].has_grad)
            f[i].grad_buffer = add_buffer(plan, PDL_NET_BUFFER_GRADIENT, i,
                                          output_bytes(&net->layers[i]), 2 * n - 1 - i,
                                          2 * n - 1 - i);
    }
    for (int c = 0; c < n; c++) {
        const pdl_layer *l = &net->layers[c];
        const int backward = 2 * n - 1 - c;
        pdl_net_buffer *own = &plan->buffers[f[f[c].root].out_buffer];
        for (int k = 0; k < l->n_inputs; k++) {
            if (l->inputs[k] < 0)
                continue;
            pdl_net_buffer *in = &plan->buffers[f[f[l->inputs[k]].root].out_buffer];
            in->last = max_int(in->last, c);
            if (training && f[c].runs_backward && l->ops->backward_reads_input)
                in->last = max_int(in->last, backward);
        }
        if (training && f[c].runs_backward && l->ops->backward_reads_output)
            own->last = max_int(own->last, backward);
        if (c == n - 1)
            own->last = end;
        if (f[c].has_grad && !f[c].has_in_place_consumer) {
            int writer = f[c].consumers ? f[c].last_consumer : c;
            plan->buffers[f[f[c].root].grad_buffer].first = 2 * n - 1 - writer;
            plan->layers[c].zero_at = writer;
        }
        if (training && l->saved_bytes)
            f[c].saved_buffer = add_buffer(plan, PDL_NET_BUFFER_SAVED, c, l->saved_bytes, c,
                                           f[c].runs_backward ? backward : c);
    }
}

typedef struct order_key {
    size_t bytes;
    int first, index;
} order_key;

static int compare_keys(const void *pa, const void *pb)
{
    const order_key *a = pa, *b = pb;
    if (a->bytes != b->bytes)
        return a->bytes > b->bytes ? -1 : 1;
    if (a->first != b->first)
        return a->first < b->first ? -1 : 1;
    return (a->index > b->index) - (a->index < b->index);
}

static bool live_together(const pdl_net_buffer *a, const pdl_net_buffer *b)
{
    return a->first <= b->last && b->first <= a->last;
}

/* Places every buffer (see the header); returns the arena size. keys and placed are scratch
 * of n_buffers entries. */
static size_t assign_offsets(pdl_net_plan *plan, order_key *keys, int *placed)
{
    pdl_net_buffer *b = plan->buffers;
    const int count = plan->n_buffers;
    size_t arena = 0;
    int n_placed = 0; /* placed[] holds buffer indices by increasing offset */
    for (int i = 0; i < count; i++)
        keys[i] = (order_key){.bytes = b[i].bytes, .first = b[i].first, .index = i};
    qsort(keys, (size_t)count, sizeof *keys, compare_keys);
    for (int i = 0; i < count; i++) {
        pdl_net_buffer *buf = &b[keys[i].index];
        size_t top = 0, best = 0, best_gap = (size_t)-1;
        bool found = false;
        for (int p = 0; p < n_placed && buf->bytes; p++) {
            const pdl_net_buffer *other = &b[placed[p]];
            if (!live_together(buf, other))
                continue;
            if (other->offset >= top + buf->bytes && other->offset - top < best_gap) {
                best = top;
                best_gap = other->offset - top;
                found = true;
            }
            if (other->offset + other->bytes > top)
                top = other->offset + other->bytes;
        }
        buf->offset = found ? best : top;
        if (buf->offset + buf->bytes > arena)
            arena = buf->offset + buf->bytes;
        int at = n_placed++;
        while (at > 0 && b[placed[at - 1]].offset > buf->offset) {
            placed[at] = placed[at - 1];
            at--;
        }
        placed[at] = keys[i].index;
    }
    return arena;
}

static size_t offset_of(const pdl_net_plan *plan, int buffer)
{
    return buffer < 0 ? PDL_NET_NO_BUFFER : plan->buffers[buffer].offset;
}

pdl_status pdl_net_plan_memory(const pdl_net *net, bool training, pdl_net_plan *plan)
{
    const int n = net->n_layers;
    const int capacity = 4 + 3 * n;
    memset(plan, 0, sizeof *plan);
    plan->training = training;
    plan->steps = training ? 2 * n : n;
    layer_facts *f = calloc((size_t)n, sizeof *f);
    order_key *keys = calloc((size_t)capacity, sizeof *keys);
    int *placed = calloc((size_t)capacity, sizeof *placed);
    plan->layers = calloc((size_t)n, sizeof *plan->layers);
    plan->buffers = calloc((size_t)capacity, sizeof *plan->buffers);
    pdl_status st = PDL_OK;
    if (!f || !keys || !placed || !plan->layers || !plan->buffers) {
        st = pdl_error(PDL_ERR_NOMEM, "%s: out of memory planning the activation memory",
                       net->file);
        pdl_net_plan_free(plan);
        goto done;
    }
    for (int i = 0; i < n; i++) {
        f[i].last_consumer = -1;
        f[i].root = i;
        plan->layers[i].zero_at = -1;
    }
    for (int c = 0; c < n; c++)
        for (int k = 0; k < net->layers[c].n_inputs; k++) {
            int from = net->layers[c].inputs[k];
            if (from >= 0) {
                f[from].consumers++;
                f[from].last_consumer = c;
            }
        }
    if (training)
        find_gradients(net, f);
    for (int y = 0; y < n && !net->plan_naive; y++)
        if (may_run_in_place(net, training, f, y)) {
            int x = net->layers[y].inputs[0];
            f[y].in_place = true;
            f[y].root = f[x].root;
            f[x].has_in_place_consumer = true;
        }
    collect_buffers(net, training, f, plan);
    for (int b = 0; b < plan->n_buffers && net->plan_naive; b++) {
        plan->buffers[b].first = 0;
        plan->buffers[b].last = plan->steps - 1;
    }
    plan->arena_bytes = assign_offsets(plan, keys, placed);
    for (int i = 0; i < n; i++) {
        const layer_facts *root = &f[f[i].root];
        pdl_net_offsets *o = &plan->layers[i];
        o->out = offset_of(plan, root->out_buffer);
        o->grad = offset_of(plan, root->grad_buffer);
        o->saved = offset_of(plan, f[i].saved_buffer);
        o->in_place = f[i].in_place;
    }
done:
    free(f);
    free(keys);
    free(placed);
    return st;
}

void pdl_net_plan_free(pdl_net_plan *plan)
{
    free(plan->layers);
    free(plan->buffers);
    plan->layers = NULL;
    plan->buffers = NULL;
    plan->n_buffers = 0;
}
