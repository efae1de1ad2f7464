/* The net at run time: creation and freeing, placing the buffers of the memory plan, forward
 * and backward, parameter initialization and the named tensors. Model parsing lives in
 * net_build.c, the memory plan in memory_plan.c, per-layer analysis in analysis.c, top-k
 * accuracy elsewhere. */
#include "graph/net_internal.h"

#include "core/rng.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Zeroed memory aligned to PDL_NET_ALIGN; *block receives what to free. calloc maps large
 * blocks lazily, so parameters of a big model cost nothing until they are written. */
static void *aligned_zalloc(size_t bytes, void **block)
{
    *block = calloc(1, bytes + PDL_NET_ALIGN);
    if (!*block)
        return NULL;
    return (void *)(((uintptr_t)*block + PDL_NET_ALIGN - 1) / PDL_NET_ALIGN * PDL_NET_ALIGN);
}

/* Refuses an allocation larger than the memory limit: PDL_MAX_MEMORY_MB from the environment,
 * else the machine's physical memory. A model file can ask for any size; it gets an error that
 * says how much, not an out-of-memory kill. */
static pdl_status check_memory_limit(const pdl_net *net, double bytes, const char *what)
{
    double limit = (double)sysconf(_SC_PHYS_PAGES) * (double)sysconf(_SC_PAGESIZE);
    const char *env = getenv("PDL_MAX_MEMORY_MB");
    if (env && atof(env) > 0)
        limit = atof(env) * 1048576.0;
    if (bytes <= limit)
        return PDL_OK;
    return pdl_error(PDL_ERR_NOMEM, "%s: %s need %.1f MiB, more than the memory limit of %.0f MiB "
                     "(physical memory, or PDL_MAX_MEMORY_MB)", net->file, what, bytes / 1048576.0,
                     limit / 1048576.0);
}

static size_t float_bytes(const pdl_shape *shape)
{
    return (size_t)pdl_shape_count(shape) * sizeof(float);
}

/* ---- creation ------------------------------------------------------------------------- */

static char *dup_string(const char *s)
{
    size_t n = strlen(s) + 1;
    char *copy = malloc(n);
    return copy ? memcpy(copy, s, n) : NULL;
}

pdl_status pdl_net_from_text(const char *text, const char *filename, pdl_net **out)
{
    PDL_ASSERT(text && out);
    pdl_status st;
    pdl_net *net = calloc(1, sizeof *net);
    *out = NULL;
    if (!net || !(net->file = dup_string(filename ? filename : "<model>")) ||
        !(net->text = dup_string(text))) {
        st = pdl_error(PDL_ERR_NOMEM, "%s: out of memory", filename ? filename : "<model>");
        goto fail;
    }
    net->loss = NAN;
    const char *plan = getenv("PDL_PLAN");
    net->plan_naive = plan && !strcmp(plan, "naive");
    if ((st = pdl_cfg_parse(text, strlen(text), net->file, &net->cfg)) ||
        (st = pdl_net_build(net)))
        goto fail;
    net->out_grad = calloc((size_t)net->n_layers, sizeof *net->out_grad);
    net->rf = calloc(4 * (size_t)net->n_layers, sizeof *net->rf);
    net->zero_start = calloc((size_t)net->n_layers + 1, sizeof *net->zero_start);
    net->zero_layers = calloc((size_t)net->n_layers, sizeof *net->zero_layers);
    if (!net->out_grad || !net->rf || !net->zero_start || !net->zero_layers) {
        st = pdl_error(PDL_ERR_NOMEM, "%s: out of memory", net->file);
        goto fail;
    }
    if ((st = pdl_threadpool_create(0, &net->pool)) || (st = pdl_net_set_batch(net, 1)))
        goto fail;
    *out = net;
    return PDL_OK;
fail:
    pdl_net_free(net);
    return st;
}

pdl_status pdl_net_load(const char *path, pdl_net **out)
{
    PDL_ASSERT(path && out);
    *out = NULL;
    pdl_status st = PDL_OK;
    char *text = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return pdl_error_errno("cannot open model file", path);
    size_t len = 0, cap = 4096;
    text = malloc(cap);
    for (size_t got = 1; text && got > 0;) {
        if (len + 1 == cap) {
            char *grown = realloc(text, cap *= 2);
            if (!grown) {
                free(text);
                text = NULL;
                break;
            }
            text = grown;
        }
        got = fread(text + len, 1, cap - 1 - len, f);
        len += got;
    }
    if (!text) {
        st = pdl_error(PDL_ERR_NOMEM, "%s: out of memory reading the model file", path);
        goto done;
    }
    if (ferror(f)) {
        st = pdl_error_errno("cannot read model file", path);
        goto done;
    }
    text[len] = '\0';
    if (strlen(text) != len) {
        st = pdl_error(PDL_ERR_PARSE, "%s: not a text file (it contains a NUL byte)", path);
        goto done;
    }
    st = pdl_net_from_text(text, path, out);
done:
    free(text);
    fclose(f);
    return st;
}

void pdl_net_free(pdl_net *net)
{
    if (!net)
        return;
    for (int i = 0; i < net->n_layers; i++) {
        pdl_layer *l = &net->layers[i];
        if (l->ops->destroy)
            l->ops->destroy(l);
        free(l->opts);
    }
    for (int t = 0; t < net->n_tensors; t++)
        free(net->tensors[t].name);
    free(net->tensors);
    free(net->layers);
    free(net->params_block);
    free(net->grads_block);
    free(net->buffers_block);
    free(net->arena_block);
    free(net->out_grad);
    free(net->zero_start);
    free(net->zero_layers);
    free(net->rf);
    pdl_threadpool_free(net->pool);
    pdl_cfg_free(net->cfg);
    free(net->file);
    free(net->text);
    free(net);
}

/* ---- memory plan and buffers ------------------------------------------------------------ */

/* The flat parameter, gradient and buffer storage and the named-tensor table, made once by
 * the first successful set_batch (parameters are declared by reshape). */
static pdl_status allocate_params(pdl_net *net)
{
    int64_t n_params = 0, n_buffers = 0;
    int n_tensors = 0;
    for (int i = 0; i < net->n_layers; i++)
        for (int j = 0; j < net->layers[i].n_params; j++) {
            const pdl_param *p = &net->layers[i].params[j];
            *(p->trainable ? &n_params : &n_buffers) += pdl_shape_count(&p->shape);
            n_tensors++;
        }
    pdl_status st = check_memory_limit(net, (2.0 * (double)n_params + (double)n_buffers) * 4.0,
                                       "parameters and their gradients");
    if (st)
        return st;
    net->params = aligned_zalloc((size_t)n_params * sizeof(float), &net->params_block);
    net->grads = aligned_zalloc((size_t)n_params * sizeof(float), &net->grads_block);
    net->buffers = aligned_zalloc((size_t)n_buffers * sizeof(float), &net->buffers_block);
    net->tensors = calloc((size_t)n_tensors + 1, sizeof *net->tensors);
    if (!net->params || !net->grads || !net->buffers || !net->tensors)
        return pdl_error(PDL_ERR_NOMEM, "%s: out of memory for %lld parameters", net->file,
                         (long long)(n_params + n_buffers));
    net->n_params = n_params;
    net->n_buffers = n_buffers;
    int64_t param_at = 0, buffer_at = 0;
    for (int pass = 0; pass < 2; pass++) /* trainable parameters first, then buffers */
        for (int i = 0; i < net->n_layers; i++)
            for (int j = 0; j < net->layers[i].n_params; j++) {
                pdl_layer *l = &net->layers[i];
                pdl_param *p = &l->params[j];
                if (p->trainable != (pass == 0))
                    continue;
                size_t len = strlen(l->name) + strlen(p->name) + 2;
                pdl_net_tensor_ref *t = &net->tensors[net->n_tensors];
                if (!(t->name = malloc(len)))
                    return pdl_error(PDL_ERR_NOMEM, "%s: out of memory", net->file);
                snprintf(t->name, len, "%s.%s", l->name, p->name);
                t->layer = i;
                t->param = j;
                net->n_tensors++;
                if (p->trainable) {
                    p->data = net->params + param_at;
                    p->grad = net->grads + param_at;
                    param_at += pdl_shape_count(&p->shape);
                } else {
                    p->data = net->buffers + buffer_at;
                    p->grad = NULL;
                    buffer_at += pdl_shape_count(&p->shape);
                }
            }
    return PDL_OK;
}

/* On a batch change the layers re-declare the same parameters (pdl_layer_declare_param keeps
 * their views); a parameter that appears only now has no storage. */
static pdl_status check_params(const pdl_net *net)
{
    int n_tensors = 0;
    for (int i = 0; i < net->n_layers; i++)
        for (int j = 0; j < net->layers[i].n_params; j++, n_tensors++)
            if (!net->layers[i].params[j].data)
                return pdl_layer_error(&net->layers[i], PDL_ERR_INVALID,
                                       "parameter '%s' declared only after a batch change",
                                       net->layers[i].params[j].name);
    PDL_ASSERT(n_tensors == net->n_tensors);
    return PDL_OK;
}

/* The last layer must produce one score per class when it is a loss or looks like scores:
 * (N, K) or (N, K, 1, 1). Feature-map outputs (a net analysed without a head) pass. */
static pdl_status check_output(const pdl_net *net)
{
    const pdl_layer *last = &net->layers[net->n_layers - 1];
    const pdl_shape *s = &last->out_shape;
    bool scores = last->ops->is_loss || s->ndim == 2 ||
                  (s->ndim == 4 && s->dim[2] == 1 && s->dim[3] == 1);
    if (scores && s->dim[1] != net->classes)
        return pdl_layer_error(last, PDL_ERR_SHAPE,
                               "the net ends with %lld outputs per sample but [net] classes = %d",
                               (long long)s->dim[1], net->classes);
    return PDL_OK;
}

static float *arena_at(char *base, size_t offset)
{
    return offset == PDL_NET_NO_BUFFER ? NULL : (float *)(base + offset);
}

/* Replaces the activation arena with one planned for the current shapes (a training plan or
 * an inference plan), points every layer at its buffers and lists the gradients to zero before
 * each backward. */
static pdl_status place_buffers(pdl_net *net, bool training)
{
    pdl_net_plan plan;
    void *block = NULL;
    char *base = NULL;
    pdl_status st = pdl_net_plan_memory(net, training, &plan);
    if (st)
        return st;
    char what[64];
    snprintf(what, sizeof what, "activations at batch %lld", (long long)net->batch);
    if ((st = check_memory_limit(net, (double)plan.arena_bytes, what)))
        goto done;
    if (!(base = aligned_zalloc(plan.arena_bytes, &block))) {
        st = pdl_error(PDL_ERR_NOMEM, "%s: out of memory for activations at batch %lld",
                       net->file, (long long)net->batch);
        goto done;
    }
    free(net->arena_block);
    net->arena_block = block;
    net->arena_training = training;
    net->input_copy = (float *)(base + plan.buffers[plan.input_buffer].offset);
    net->labels_copy = (int32_t *)(base + plan.buffers[plan.labels_buffer].offset);
    net->input_grad = plan.input_grad_buffer < 0
                          ? NULL
                          : (float *)(base + plan.buffers[plan.input_grad_buffer].offset);
    void *workspace = plan.workspace_buffer < 0 ? NULL
                                                : base + plan.buffers[plan.workspace_buffer].offset;
    for (int i = 0; i < net->n_layers; i++) {
        pdl_layer *l = &net->layers[i];
        const pdl_net_offsets *o = &plan.layers[i];
        l->out = arena_at(base, o->out);
        net->out_grad[i] = arena_at(base, o->grad);
        l->dout = net->out_grad[i];
        l->saved = arena_at(base, o->saved);
        l->workspace = workspace;
        l->in_place = o->in_place;
    }
    for (int i = 0; i < net->n_layers; i++) {
        pdl_layer *l = &net->layers[i];
        for (int k = 0; k < l->n_inputs; k++) {
            int from = l->inputs[k];
            l->in[k] = from < 0 ? net->input_copy : net->layers[from].out;
            l->din[k] = from < 0 ? net->input_grad : net->out_grad[from];
        }
    }
    /* zero_layers grouped by the layer whose backward each gradient waits for */
    int at = 0;
    for (int i = 0; i < net->n_layers; i++) {
        net->zero_start[i] = at;
        for (int g = 0; g < net->n_layers; g++)
            if (plan.layers[g].zero_at == i)
                net->zero_layers[at++] = g;
    }
    net->zero_start[net->n_layers] = at;
done:
    pdl_net_plan_free(&plan);
    return st;
}

pdl_status pdl_net_set_batch(pdl_net *net, int64_t n)
{
    pdl_status st;
    if (n < 1)
        return pdl_error(PDL_ERR_INVALID, "%s: batch size %lld is not positive", net->file,
                         (long long)n);
    net->batch = 0;
    net->backward_ready = false;
    const pdl_shape input = pdl_shape_4d(n, net->input.dim[0], net->input.dim[1],
                                         net->input.dim[2]);
    for (int i = 0; i < net->n_layers; i++) {
        pdl_layer *l = &net->layers[i];
        for (int k = 0; k < l->n_inputs; k++)
            l->in_shape[k] = l->inputs[k] < 0 ? input : net->layers[l->inputs[k]].out_shape;
        pdl_layer_reset_geometry(l);
        if ((st = l->ops->reshape(l)))
            return st;
    }
    if ((st = check_output(net)) ||
        (st = net->params_block ? check_params(net) : allocate_params(net)))
        return st;
    net->batch = n;
    net->arena_stale = true;
    pdl_net_compute_rf(net);
    return PDL_OK;
}

pdl_status pdl_net_request_input_grad(pdl_net *net, bool on)
{
    net->want_input_grad = on;
    return pdl_net_set_batch(net, net->batch ? net->batch : 1);
}

const float *pdl_net_input_grad(const pdl_net *net) { return net->input_grad; }

/* ---- forward and backward --------------------------------------------------------------- */

pdl_layer_ctx pdl_net_layer_ctx(const pdl_net *net, bool training, bool labels)
{
    return (pdl_layer_ctx){.training = training,
                           .seed = net->seed,
                           .step = net->step,
                           .labels = labels ? net->labels_copy : NULL,
                           .pool = net->pool};
}

pdl_status pdl_net_forward(pdl_net *net, const float *x, const int32_t *labels, bool training,
                           uint64_t step)
{
    if (!net->batch)
        return pdl_error(PDL_ERR_INVALID, "%s: the net has no valid batch size (the last "
                         "pdl_net_set_batch failed)", net->file);
    PDL_ASSERT(x);
    net->backward_ready = false;
    if (net->arena_stale || (training && !net->arena_training)) {
        pdl_status st = place_buffers(net, training);
        if (st)
            return st;
        net->arena_stale = false;
    }
    net->loss = NAN;
    const int64_t n = net->batch;
    if (labels)
        for (int64_t i = 0; i < n; i++)
            if (labels[i] < 0 || labels[i] >= net->classes)
                return pdl_error(PDL_ERR_INVALID, "%s: label %d of sample %lld is outside [0, %d)",
                                 net->file, (int)labels[i], (long long)i, net->classes);
    memcpy(net->input_copy, x, (size_t)(n * pdl_shape_count(&net->input)) * sizeof(float));
    if (labels)
        memcpy(net->labels_copy, labels, (size_t)n * sizeof *labels);
    net->step = step;
    const pdl_layer_ctx ctx = pdl_net_layer_ctx(net, training, labels != NULL);
    for (int i = 0; i < net->n_layers; i++)
        net->layers[i].ops->forward(&net->layers[i], &ctx);
    if (labels && net->loss_layer >= 0) {
        net->loss = net->layers[net->loss_layer].loss;
        net->backward_ready = training;
    }
    return PDL_OK;
}

/* A layer whose inputs need no gradient and that has no trainable parameter can skip backward. */
bool pdl_net_layer_needs_backward(const pdl_layer *l)
{
    for (int k = 0; k < l->n_inputs; k++)
        if (l->din[k])
            return true;
    for (int j = 0; j < l->n_params; j++)
        if (l->params[j].trainable)
            return true;
    return false;
}

void pdl_net_zero_grads_at(pdl_net *net, int layer)
{
    for (int z = net->zero_start[layer]; z < net->zero_start[layer + 1]; z++) {
        int g = net->zero_layers[z];
        memset(net->out_grad[g], 0, float_bytes(&net->layers[g].out_shape));
    }
    if (layer == net->n_layers - 1 && net->input_grad)
        memset(net->input_grad, 0,
               (size_t)(net->batch * pdl_shape_count(&net->input)) * sizeof(float));
}

pdl_status pdl_net_backward(pdl_net *net)
{
    if (net->loss_layer < 0)
        return pdl_error(PDL_ERR_INVALID, "%s: backward needs a loss layer; the net has none",
                         net->file);
    if (!net->backward_ready)
        return pdl_error(PDL_ERR_INVALID,
                         "%s: backward needs a training forward with labels just before it "
                         "(one backward per forward: the memory plan reuses what backward read)",
                         net->file);
    net->backward_ready = false;
    const pdl_layer_ctx ctx = pdl_net_layer_ctx(net, true, true);
    for (int i = net->n_layers - 1; i >= 0; i--) {
        pdl_net_zero_grads_at(net, i);
        if (pdl_net_layer_needs_backward(&net->layers[i]))
            net->layers[i].ops->backward(&net->layers[i], &ctx);
        if (net->backward_hook)
            net->backward_hook(net->backward_hook_user, i);
    }
    return PDL_OK;
}

void pdl_net_set_backward_hook(pdl_net *net, void (*hook)(void *user, int layer), void *user)
{
    net->backward_hook = hook;
    net->backward_hook_user = user;
}

pdl_status pdl_net_set_threads(pdl_net *net, int threads)
{
    pdl_threadpool *pool;
    pdl_status status = pdl_threadpool_create(threads, &pool);
    if (status != PDL_OK)
        return status;
    pdl_threadpool_free(net->pool);
    net->pool = pool;
    return PDL_OK;
}

void pdl_net_zero_grad(pdl_net *net)
{
    memset(net->grads, 0, (size_t)net->n_params * sizeof(float));
}

/* ---- parameter initialization ------------------------------------------------------------ */

typedef struct init_job {
    float *data;
    pdl_param_init init;
    uint64_t seed, stream;
    double scale; /* normal: standard deviation; uniform: half-width */
} init_job;

static void init_range(void *arg, int64_t begin, int64_t end)
{
    const init_job *job = arg;
    for (int64_t i = begin; i < end; i++) {
        uint64_t index = (uint64_t)i;
        switch (job->init) {
        case PDL_INIT_ZERO: job->data[i] = 0.0f; break;
        case PDL_INIT_ONE: job->data[i] = 1.0f; break;
        case PDL_INIT_HE_NORMAL:
            job->data[i] = (float)(job->scale * pdl_rng_normal(job->seed, job->stream, index));
            break;
        case PDL_INIT_XAVIER_UNIFORM:
            job->data[i] = (float)(job->scale *
                                   (2.0 * pdl_rng_uniform(job->seed, job->stream, index) - 1.0));
            break;
        }
    }
}

pdl_status pdl_net_init_params(pdl_net *net, uint64_t seed)
{
    net->seed = seed;
    for (int t = 0; t < net->n_tensors; t++) {
        const pdl_net_tensor_ref *nt = &net->tensors[t];
        const pdl_param *p = &net->layers[nt->layer].params[nt->param];
        double fan_in = p->fan_in > 0 ? (double)p->fan_in : 1.0;
        double fan_out = p->fan_out > 0 ? (double)p->fan_out : 1.0;
        /* The stream comes from the full tensor name: adding a layer changes no other init. */
        init_job job = {.data = p->data, .init = p->init, .seed = seed,
                        .stream = pdl_rng_stream_of(nt->name)};
        if (p->init == PDL_INIT_HE_NORMAL)
            job.scale = sqrt(2.0 / fan_in);
        else if (p->init == PDL_INIT_XAVIER_UNIFORM)
            job.scale = sqrt(6.0 / (fan_in + fan_out));
        pdl_parallel_for(net->pool, pdl_shape_count(&p->shape), 1 << 14, init_range, &job);
    }
    return PDL_OK;
}

/* ---- accessors ---------------------------------------------------------------------------- */

int64_t pdl_net_batch(const pdl_net *net) { return net->batch; }
pdl_shape pdl_net_input_shape(const pdl_net *net) { return net->input; }
int pdl_net_classes(const pdl_net *net) { return net->classes; }
const char *pdl_net_source_text(const pdl_net *net) { return net->text; }
const char *pdl_net_source_name(const pdl_net *net) { return net->file; }
float pdl_net_loss(const pdl_net *net) { return net->loss; }

const float *pdl_net_output(const pdl_net *net)
{
    return net->layers[net->n_layers - 1].out;
}

bool pdl_net_outputs_probabilities(const pdl_net *net)
{
    return net->loss_layer >= 0 && net->layers[net->loss_layer].ops == &pdl_layer_softmax_loss;
}

pdl_shape pdl_net_output_shape(const pdl_net *net)
{
    return net->layers[net->n_layers - 1].out_shape;
}

float *pdl_net_params(pdl_net *net) { return net->params; }
float *pdl_net_grads(pdl_net *net) { return net->grads; }
int64_t pdl_net_param_count(const pdl_net *net) { return net->n_params; }
float *pdl_net_buffers(pdl_net *net) { return net->buffers; }
int64_t pdl_net_buffer_count(const pdl_net *net) { return net->n_buffers; }
int pdl_net_tensor_count(const pdl_net *net) { return net->n_tensors; }

pdl_status pdl_net_tensor(pdl_net *net, int index, pdl_named_tensor *out)
{
    if (index < 0 || index >= net->n_tensors)
        return pdl_error(PDL_ERR_INVALID, "%s: tensor index %d is outside [0, %d)", net->file,
                         index, net->n_tensors);
    const pdl_net_tensor_ref *t = &net->tensors[index];
    const pdl_param *p = &net->layers[t->layer].params[t->param];
    *out = (pdl_named_tensor){.name = t->name, .shape = p->shape, .data = p->data,
                              .grad = p->grad, .trainable = p->trainable};
    return PDL_OK;
}

int pdl_net_find_tensor(const pdl_net *net, const char *name)
{
    for (int t = 0; t < net->n_tensors; t++)
        if (!strcmp(net->tensors[t].name, name))
            return t;
    return -1;
}

pdl_layer *pdl_net_layer(pdl_net *net, int index)
{
    PDL_ASSERT(index >= 0 && index < net->n_layers);
    return &net->layers[index];
}

void pdl_net_set_seed(pdl_net *net, uint64_t seed) { net->seed = seed; }
uint64_t pdl_net_seed(const pdl_net *net) { return net->seed; }
