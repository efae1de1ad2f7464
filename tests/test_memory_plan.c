/* Tests of the memory planner (src/graph/memory_plan.c) and of net.c running its plans: buffers
 * live at a common step never overlap and whatever a forward or backward reads is live then;
 * in-place layers follow the rules; results are bit-identical to the naive plan (no reuse) for
 * truthful combinations of the layers' planner flags; gradients through branchy nets match
 * finite differences; a training step calls no allocator; planned memory drops. */
#include "graph/net_internal.h"
#include "harness.h"
#include "pdl/pdl.h"

#include "core/rng.h"

#include <errno.h>
#include <stdatomic.h>
#include <string.h>

/* ---- counting allocator calls --------------------------------------------------------------- */

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif

#ifndef UNDER_ASAN
/* The executable's definitions win over glibc's for every caller in the process (the library
 * and its thread pool included); they count while counting is on and forward to glibc. */
extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t size);
extern void *__libc_memalign(size_t alignment, size_t size);
extern void __libc_free(void *p);
static atomic_bool counting;
static atomic_long allocator_calls;

static void count_call(void)
{
    if (atomic_load(&counting))
        atomic_fetch_add(&allocator_calls, 1);
}

void *malloc(size_t size)
{
    count_call();
    return __libc_malloc(size);
}

void *calloc(size_t n, size_t size)
{
    count_call();
    return __libc_calloc(n, size);
}

void *realloc(void *p, size_t size)
{
    count_call();
    return __libc_realloc(p, size);
}

void free(void *p)
{
    if (p)
        count_call();
    __libc_free(p);
}

void *aligned_alloc(size_t alignment, size_t size)
{
    count_call();
    return __libc_memalign(alignment, size);
}

int posix_memalign(void **out, size_t alignment, size_t size)
{
    count_call();
    if (alignment < sizeof(void *) || (alignment & (alignment - 1)))
        return EINVAL;
    *out = __libc_memalign(alignment, size);
    return *out ? 0 : ENOMEM;
}
#endif

/* ---- test nets ------------------------------------------------------------------------------ */

/* Residual-style: an add of two branches, in-place chains (avgpool <- dropout <- dropout), a
 * fan-out (relu1), an activation on an add. */
static const char *const resnet_like =
    "[net]\ninput = 3x6x6\nclasses = 4\n"
    "[avgpool]\nname = pool0\nsize = 3\nstride = 1\npad = 1\n"
    "[dropout]\nname = drop0\np = 0.25\n"
    "[dropout]\nname = drop0b\np = 0.25\n"
    "[conv]\nname = conv1\nfilters = 4\nsize = 3\npad = 1\nbias = 0\n"
    "[batchnorm]\nname = bn1\n"
    "[relu]\nname = relu1\n"
    "[conv]\nname = conv2\nfilters = 4\nsize = 3\npad = 1\n"
    "[tanh]\nname = tanh2\n"
    "[add]\nname = sum\ninputs = relu1, tanh2\n"
    "[relu]\nname = relu3\n"
    "[dropout]\nname = drop3\np = 0.25\n"
    "[avgpool]\nname = gap\nglobal = 1\n"
    "[flatten]\nname = flat\n"
    "[fc]\nname = fc\noutput = 5\n"
    "[sigmoid]\nname = sig\n"
    "[fc]\nname = fc2\noutput = 4\n"
    "[softmax_loss]\nname = loss\n";

/* Inception-style: a four-way fan-out of an lrn into a concat of five activations, two of
 * them on one pooling (neither may overwrite it), and of the input, which also feeds a
 * batchnorm on a layer without gradient. */
static const char *const googlenet_like =
    "[net]\ninput = 3x6x6\nclasses = 3\n"
    "[avgpool]\nname = pre\nsize = 3\nstride = 1\npad = 1\n"
    "[batchnorm]\nname = pre_bn\n"
    "[conv]\nname = stem\nfilters = 4\nsize = 3\npad = 1\n"
    "[relu]\nname = stem_relu\n"
    "[lrn]\nname = norm\nsize = 3\n"
    "[avgpool]\nname = b4p\ninputs = norm\nsize = 3\nstride = 1\npad = 1\n"
    "[relu]\nname = b4_relu\n"
    "[sigmoid]\nname = b4_sig\ninputs = b4p\n"
    "[conv]\nname = b1\ninputs = norm\nfilters = 2\nsize = 1\n"
    "[relu]\nname = b1_relu\n"
    "[conv]\nname = b2a\ninputs = norm\nfilters = 3\nsize = 1\n"
    "[sigmoid]\nname = b2a_sig\n"
    "[conv]\nname = b2\nfilters = 2\nsize = 3\npad = 1\n"
    "[relu]\nname = b2_relu\n"
    "[maxpool]\nname = b3p\ninputs = norm\nsize = 3\nstride = 1\npad = 1\n"
    "[conv]\nname = b3\nfilters = 2\nsize = 1\n"
    "[leaky_relu]\nname = b3_leaky\n"
    "[avgpool]\nname = b5p\ninputs = data\nsize = 3\nstride = 1\npad = 1\n"
    "[concat]\nname = cat\ninputs = b1_relu, b2_relu, b3_leaky, b4_relu, b4_sig, b5p\n"
    "[dropout]\nname = cat_drop\np = 0.2\n"
    "[avgpool]\nname = gap\nglobal = 1\n"
    "[fc]\nname = fc\noutput = 3\n"
    "[softmax_loss]\nname = loss\n";

/* ---- flag variants ---------------------------------------------------------------------------
 * A variant replaces every layer's ops by a wrapper with other planner flags (variant 0 keeps
 * the layers' own). The wrapper makes any layer correct in place without relying on its
 * kernel: in place, it hands the kernel a private copy of the input and of the output gradient
 * and zeroes din[0] first, so the kernel sees separate buffers and adds as usual. Read flags
 * only ever grow (a layer's own, or'ed with a conservative table and the variant's), so they
 * stay truthful whatever the kernels read. */

enum {
    IN_PLACE = 1,     /* elementwise layers and batchnorm may run in place */
    READS_INPUT = 2,  /* every backward reads its input */
    READS_OUTPUT = 4, /* every backward of a layer that cannot run in place reads its output */
    INPUT_GRAD = 8,   /* the net computes the input gradient */
    VARIANTS = 16,
};

typedef struct wrapped_ops {
    pdl_layer_ops ops; /* first: the layer's ops point here */
    const pdl_layer_ops *real;
    float *x, *dout;   /* in place: copies of in[0] and of dout, like out */
} wrapped_ops;

static wrapped_ops *wrapper_of(pdl_layer *l) { return (wrapped_ops *)l->ops; }

static bool in_place_candidate(const pdl_layer_ops *ops)
{
    return ops == &pdl_layer_relu || ops == &pdl_layer_leaky_relu || ops == &pdl_layer_sigmoid ||
           ops == &pdl_layer_tanh || ops == &pdl_layer_dropout || ops == &pdl_layer_batchnorm;
}

/* Layers whose kernels may read either side in backward, now or after a rewrite. */
static bool reads_both(const pdl_layer_ops *ops)
{
    return (in_place_candidate(ops) && ops != &pdl_layer_dropout) || ops == &pdl_layer_maxpool ||
           ops == &pdl_layer_lrn;
}

static size_t out_bytes(const pdl_layer *l)
{
    return (size_t)pdl_shape_count(&l->out_shape) * sizeof(float);
}

static pdl_status wrapped_reshape(pdl_layer *l)
{
    wrapped_ops *w = wrapper_of(l);
    l->ops = w->real;
    pdl_status st = w->real->reshape(l);
    l->ops = &w->ops;
    return st;
}

static void wrapped_forward(pdl_layer *l, const pdl_layer_ctx *ctx)
{
    wrapped_ops *w = wrapper_of(l);
    const float *in = l->in[0];
    const bool in_place = l->in_place;
    if (in_place) {
        memcpy(w->x, in, out_bytes(l));
        l->in[0] = w->x;
        l->in_place = false;
    }
    l->ops = w->real;
    w->real->forward(l, ctx);
    l->ops = &w->ops;
    l->in[0] = in;
    l->in_place = in_place;
}

static void wrapped_backward(pdl_layer *l, const pdl_layer_ctx *ctx)
{
    wrapped_ops *w = wrapper_of(l);
    const float *in = l->in[0], *dout = l->dout;
    const bool in_place = l->in_place;
    if (in_place) {
        if (dout) {
            memcpy(w->dout, dout, out_bytes(l));
            memset(l->din[0], 0, out_bytes(l));
            l->dout = w->dout;
        }
        l->in[0] = w->x;
        l->in_place = false;
    }
    l->ops = w->real;
    w->real->backward(l, ctx);
    l->ops = &w->ops;
    l->in[0] = in;
    l->dout = dout;
    l->in_place = in_place;
}

/* Wraps every layer for variant (at the net's current batch); returns the wrappers to pass to
 * unwrap before freeing the net, or NULL for variant 0 or when out of memory. */
static wrapped_ops *wrap(pdl_net *net, int variant)
{
    if (!(variant & (IN_PLACE | READS_INPUT | READS_OUTPUT)))
        return NULL;
    const int n = pdl_net_layer_count(net);
    wrapped_ops *w = calloc((size_t)n, sizeof *w);
    CHECK(w != NULL);
    for (int i = 0; w && i < n; i++) {
        pdl_layer *l = pdl_net_layer(net, i);
        const pdl_layer_ops *real = l->ops;
        w[i].real = real;
        w[i].ops = *real;
        w[i].ops.reshape = wrapped_reshape;
        w[i].ops.forward = wrapped_forward;
        w[i].ops.backward = wrapped_backward;
        w[i].ops.can_run_in_place = (variant & IN_PLACE) && in_place_candidate(real);
        w[i].ops.backward_reads_input =
            real->backward_reads_input || reads_both(real) || (variant & READS_INPUT);
        w[i].ops.backward_reads_output =
            real->backward_reads_output || reads_both(real) ||
            ((variant & READS_OUTPUT) && !w[i].ops.can_run_in_place);
        w[i].x = malloc(out_bytes(l));
        w[i].dout = malloc(out_bytes(l));
        CHECK(w[i].x && w[i].dout);
        l->ops = &w[i].ops;
    }
    return w;
}

static void unwrap(pdl_net *net, wrapped_ops *w)
{
    for (int i = 0; w && i < pdl_net_layer_count(net); i++) {
        pdl_net_layer(net, i)->ops = w[i].real;
        free(w[i].x);
        free(w[i].dout);
    }
    free(w);
}

/* ---- helpers -------------------------------------------------------------------------------- */

enum { NAIVE = 1, WITH_INPUT_GRAD = 2, INIT = 4 };

/* A net from text (or the model file path when text is NULL) at batch; how: NAIVE plans,
 * WITH_INPUT_GRAD computes the input gradient, INIT initializes parameters from seed 3. */
static pdl_net *make_net(const char *text, const char *path, int64_t batch, int how)
{
    pdl_net *net = NULL;
    if (text)
        CHECK_OK(pdl_net_from_text(text, "test.cfg", &net));
    else {
        char full[512];
        snprintf(full, sizeof full, "%s/%s", PDL_SOURCE_DIR, path ? path : "");
        CHECK_OK(pdl_net_load(full, &net));
    }
    if (!net)
        return NULL;
    net->plan_naive = how & NAIVE;
    CHECK_OK(pdl_net_request_input_grad(net, how & WITH_INPUT_GRAD));
    CHECK_OK(pdl_net_set_batch(net, batch));
    if (how & INIT)
        CHECK_OK(pdl_net_init_params(net, 3));
    return net;
}

static float *random_input(const pdl_net *net, uint64_t stream)
{
    pdl_shape in = pdl_net_input_shape(net);
    int64_t n = pdl_net_batch(net) * pdl_shape_count(&in);
    float *x = malloc((size_t)n * sizeof *x);
    for (int64_t i = 0; x && i < n; i++)
        x[i] = (float)pdl_rng_normal(11, stream, (uint64_t)i);
    return x;
}

static void fill_labels(const pdl_net *net, int32_t *labels)
{
    for (int64_t i = 0; i < pdl_net_batch(net); i++)
        labels[i] = (int32_t)((i * 7 + 1) % pdl_net_classes(net));
}

/* ---- plan invariants ------------------------------------------------------------------------ */

static int root_of(const pdl_net *net, const pdl_net_plan *p, int i)
{
    while (p->layers[i].in_place)
        i = net->layers[i].inputs[0];
    return i;
}

/* The buffer of kind owned by layer (-1 for the net-wide ones), or NULL. */
static const pdl_net_buffer *buffer_of(const pdl_net_plan *p, pdl_net_buffer_kind kind, int layer)
{
    for (int b = 0; b < p->n_buffers; b++)
        if (p->buffers[b].kind == kind && p->buffers[b].layer == layer)
            return &p->buffers[b];
    return NULL;
}

static bool live(const pdl_net_buffer *b, int step)
{
    return b && b->first <= step && step <= b->last;
}

static int edges_from(const pdl_net *net, int producer)
{
    int edges = 0;
    for (int c = 0; c < net->n_layers; c++)
        for (int k = 0; k < net->layers[c].n_inputs; k++)
            edges += net->layers[c].inputs[k] == producer;
    return edges;
}

static bool has_trainable(const pdl_layer *l)
{
    for (int j = 0; j < l->n_params; j++)
        if (l->params[j].trainable)
            return true;
    return false;
}

/* Whether layer c's backward runs under plan p: it has trainable parameters or an input with
 * a gradient. */
static bool runs_backward(const pdl_net *net, const pdl_net_plan *p, int c)
{
    const pdl_layer *l = &net->layers[c];
    bool runs = has_trainable(l);
    for (int k = 0; k < l->n_inputs; k++)
        runs |= l->inputs[k] < 0 ? net->want_input_grad
                                 : p->layers[l->inputs[k]].grad != PDL_NET_NO_BUFFER;
    return runs;
}

/* Checks what a plan must guarantee, from the layers' flags alone; returns failed checks. */
static void check_layer_liveness(const pdl_net *net, const pdl_net_plan *p, int c)
{
    const int n = net->n_layers, back = 2 * n - 1 - c;
    const pdl_layer *l = &net->layers[c];
    const pdl_net_offsets *o = &p->layers[c];
    const pdl_net_buffer *out = buffer_of(p, PDL_NET_BUFFER_OUTPUT, root_of(net, p, c));
    const pdl_net_buffer *grad = buffer_of(p, PDL_NET_BUFFER_GRADIENT, root_of(net, p, c));
    const pdl_net_buffer *saved = buffer_of(p, PDL_NET_BUFFER_SAVED, c);
    const bool backward = p->training && runs_backward(net, p, c);
    CHECK(out && out->offset == o->out && live(out, c));
    if (c == n - 1)
        CHECK(live(out, p->steps - 1));
    CHECK(p->training || (o->grad == PDL_NET_NO_BUFFER && o->saved == PDL_NET_NO_BUFFER));
    if (p->training)
        CHECK((o->grad != PDL_NET_NO_BUFFER) == (backward && !l->ops->is_loss));
    CHECK(!grad || grad->offset == o->grad);
    CHECK((saved != NULL) == (p->training && l->saved_bytes > 0));
    CHECK(!saved ||
          (saved->offset == o->saved && live(saved, c) && (!backward || live(saved, back))));
    if (backward) {
        CHECK(!grad || live(grad, back));
        CHECK(!l->ops->backward_reads_output || live(out, back));
    }
    for (int k = 0; k < l->n_inputs; k++) {
        int from = l->inputs[k];
        if (from < 0)
            continue;
        const pdl_net_buffer *in = buffer_of(p, PDL_NET_BUFFER_OUTPUT, root_of(net, p, from));
        const pdl_net_buffer *din = buffer_of(p, PDL_NET_BUFFER_GRADIENT, root_of(net, p, from));
        CHECK(live(in, c));
        CHECK(!backward || !l->ops->backward_reads_input || live(in, back));
        CHECK(!backward || !din || live(din, back));
    }
    /* a gradient is zeroed at the first backward that adds into it, not before */
    bool overwritten = false;
    int writer = c;
    for (int y = c + 1; y < n; y++)
        for (int k = 0; k < net->layers[y].n_inputs; k++)
            if (net->layers[y].inputs[k] == c) {
                writer = y;
                overwritten |= k == 0 && p->layers[y].in_place;
            }
    if (o->grad != PDL_NET_NO_BUFFER && !overwritten)
        CHECK(o->zero_at == writer && live(grad, 2 * n - 1 - writer) &&
              (net->plan_naive || grad->first == 2 * n - 1 - writer));
    else
        CHECK(o->zero_at == -1);
    if (o->in_place) {
        int x = l->inputs[0];
        CHECK(x >= 0 && l->ops->can_run_in_place && edges_from(net, x) == 1);
        CHECK(x < 0 ||
              (p->layers[x].out == o->out && p->layers[x].grad == o->grad &&
               pdl_shape_count(&net->layers[x].out_shape) == pdl_shape_count(&l->out_shape)));
        if (x >= 0 && p->training && runs_backward(net, p, x)) {
            const pdl_layer_ops *xo = net->layers[x].ops;
            CHECK(!xo->backward_reads_output &&
                  !(p->layers[x].in_place && xo->backward_reads_input));
        }
    }
}

/* Every invariant of one plan; prints the net and mode once when something fails. */
static void check_plan(const pdl_net *net, const pdl_net_plan *p, const char *what)
{
    const int failed = harness_checks_failed;
    CHECK(p->steps == (p->training ? 2 : 1) * net->n_layers);
    for (int a = 0; a < p->n_buffers; a++) {
        const pdl_net_buffer *x = &p->buffers[a];
        CHECK(x->offset % PDL_NET_ALIGN == 0 && x->offset + x->bytes <= p->arena_bytes);
        CHECK(0 <= x->first && x->first <= x->last && x->last < p->steps);
        for (int b = a + 1; b < p->n_buffers; b++) {
            const pdl_net_buffer *y = &p->buffers[b];
            bool together = x->first <= y->last && y->first <= x->last;
            bool apart = x->offset + x->bytes <= y->offset || y->offset + y->bytes <= x->offset;
            CHECK(!together || !x->bytes || !y->bytes || apart);
        }
    }
    const pdl_net_buffer *input = p->input_buffer >= 0 ? &p->buffers[p->input_buffer] : NULL;
    CHECK(input && input->first == 0 && input->last == p->steps - 1);
    CHECK((p->input_grad_buffer >= 0) == (p->training && net->want_input_grad));
    size_t workspace = 0;
    for (int i = 0; i < net->n_layers; i++) {
        if (net->layers[i].workspace_bytes > workspace)
            workspace = net->layers[i].workspace_bytes;
        check_layer_liveness(net, p, i);
    }
    CHECK(workspace == 0 || (p->workspace_buffer >= 0 &&
                             p->buffers[p->workspace_buffer].bytes >= workspace &&
                             p->buffers[p->workspace_buffer].last == p->steps - 1));
    if (harness_checks_failed != failed)
        fprintf(stderr, "  in the %s plan of %s\n", p->training ? "training" : "inference", what);
}

/* Plans net both ways, checks both and that a second plan is the same. */
static void check_plans(pdl_net *net, const char *what)
{
    for (int training = 0; training < 2; training++) {
        pdl_net_plan a, b;
        CHECK_OK(pdl_net_plan_memory(net, training, &a));
        CHECK_OK(pdl_net_plan_memory(net, training, &b));
        check_plan(net, &a, what);
        CHECK(a.arena_bytes == b.arena_bytes && a.n_buffers == b.n_buffers &&
              !memcmp(a.buffers, b.buffers, (size_t)a.n_buffers * sizeof *a.buffers) &&
              !memcmp(a.layers, b.layers, (size_t)net->n_layers * sizeof *a.layers));
        pdl_net_plan_free(&a);
        pdl_net_plan_free(&b);
    }
}

static void test_zoo_plans(void)
{
    /* the zoo's branchy models and small chains (the big chains cost seconds under ASan) */
    static const struct { const char *path; int64_t batch; } zoo[] = {
        {"models/lenet5.cfg", 3},
        {"models/fashion_cnn.cfg", 5},
        {"models/resnet18.cfg", 2},
        {"models/googlenet.cfg", 2},
    };
    static const int variants[] = {0, IN_PLACE, IN_PLACE | INPUT_GRAD, READS_INPUT | READS_OUTPUT};
    for (size_t m = 0; m < sizeof zoo / sizeof zoo[0]; m++)
        for (int v = 0; v < 4; v++) {
            const int variant = variants[v];
            pdl_net *net = make_net(NULL, zoo[m].path, zoo[m].batch,
                                    variant & INPUT_GRAD ? WITH_INPUT_GRAD : 0);
            if (!net)
                continue;
            wrapped_ops *w = wrap(net, variant);
            char what[96];
            snprintf(what, sizeof what, "%s, variant %d", zoo[m].path, variant);
            check_plans(net, what);
            unwrap(net, w);
            pdl_net_free(net);
        }
}

static void test_branchy_plans(void)
{
    const char *const texts[] = {resnet_like, googlenet_like};
    for (int t = 0; t < 2; t++)
        for (int variant = 0; variant < VARIANTS; variant++)
            for (int naive = 0; naive < 2; naive++) {
                pdl_net *net = make_net(texts[t], NULL, 3,
                                        (naive ? NAIVE : 0) |
                                            (variant & INPUT_GRAD ? WITH_INPUT_GRAD : 0));
                if (!net)
                    continue;
                wrapped_ops *w = wrap(net, variant);
                char what[96];
                snprintf(what, sizeof what, "test net %d, variant %d%s", t, variant,
                         naive ? ", naive" : "");
                check_plans(net, what);
                unwrap(net, w);
                pdl_net_free(net);
            }
}

/* ---- in-place decisions --------------------------------------------------------------------- */

/* The names of the layers that run in place, comma-separated, in a plan of net. */
static void in_place_names(pdl_net *net, bool training, char *out, size_t size)
{
    pdl_net_plan p;
    out[0] = '\0';
    CHECK_OK(pdl_net_plan_memory(net, training, &p));
    for (int i = 0; p.layers && i < net->n_layers; i++)
        if (p.layers[i].in_place)
            snprintf(out + strlen(out), size - strlen(out), "%s%s", out[0] ? "," : "",
                     net->layers[i].name);
    pdl_net_plan_free(&p);
}

static void expect_in_place(const char *text, int variant, const char *training,
                            const char *inference)
{
    pdl_net *net = make_net(text, NULL, 2, variant & INPUT_GRAD ? WITH_INPUT_GRAD : 0);
    if (!net)
        return;
    wrapped_ops *w = wrap(net, variant);
    char names[512];
    in_place_names(net, true, names, sizeof names);
    if (strcmp(names, training))
        fprintf(stderr, "  training, variant %d: in place %s, expected %s\n", variant, names,
                training);
    CHECK(!strcmp(names, training));
    in_place_names(net, false, names, sizeof names);
    if (strcmp(names, inference))
        fprintf(stderr, "  inference, variant %d: in place %s, expected %s\n", variant, names,
                inference);
    CHECK(!strcmp(names, inference));
    unwrap(net, w);
    pdl_net_free(net);
}

/* By the rules of memory_plan.c with the wrapper flags: activations and batchnorm read input
 * and output, dropout nothing, conv and fc their input, avgpool, add and concat nothing. */
static void test_in_place_rules(void)
{
    /* drop0, drop0b: a chain on an avgpool; bn1 on conv1, and relu1 not on bn1 (bn1 reads its
     * output); tanh2 on conv2; relu3 on the add, drop3 not on relu3 (it reads its output)
     * except in inference; relu1 feeds two layers. */
    expect_in_place(resnet_like, IN_PLACE, "drop0,drop0b,bn1,tanh2,relu3,sig",
                    "drop0,drop0b,bn1,relu1,tanh2,relu3,drop3,sig");
    expect_in_place(resnet_like, IN_PLACE | INPUT_GRAD, "drop0,drop0b,bn1,tanh2,relu3,sig",
                    "drop0,drop0b,bn1,relu1,tanh2,relu3,drop3,sig");
    /* pre_bn needs a gradient its input lacks unless the input gradient is requested; the
     * outputs of norm and b4p have several consumers; the concat reads nothing. */
    expect_in_place(googlenet_like, IN_PLACE, "stem_relu,b1_relu,b2a_sig,b2_relu,b3_leaky,cat_drop",
                    "pre_bn,stem_relu,b1_relu,b2a_sig,b2_relu,b3_leaky,cat_drop");
    expect_in_place(googlenet_like, IN_PLACE | INPUT_GRAD,
                    "pre_bn,stem_relu,b1_relu,b2a_sig,b2_relu,b3_leaky,cat_drop",
                    "pre_bn,stem_relu,b1_relu,b2a_sig,b2_relu,b3_leaky,cat_drop");
    /* every layer that cannot run in place reads its output: in training, in place only on a
     * layer that reads nothing (dropout) or whose backward does not run (pool0) */
    expect_in_place(resnet_like, IN_PLACE | READS_OUTPUT, "drop0,drop0b",
                    "drop0,drop0b,bn1,relu1,tanh2,relu3,drop3,sig");
    /* no layer can */
    expect_in_place(resnet_like, READS_INPUT, "", "");
}

/* ---- results against the naive plan ------------------------------------------------------- */

static bool same_floats(const float *a, const float *b, int64_t n)
{
    return (a && b && !memcmp(a, b, (size_t)n * sizeof *a)) || (!a && !b);
}

static void compare_nets(pdl_net *planned, pdl_net *naive, bool after_backward, const char *what)
{
    const int failed = harness_checks_failed;
    pdl_shape out = pdl_net_output_shape(planned), in = pdl_net_input_shape(planned);
    CHECK(same_floats(pdl_net_output(planned), pdl_net_output(naive), pdl_shape_count(&out)));
    CHECK(same_floats(pdl_net_buffers(planned), pdl_net_buffers(naive),
                      pdl_net_buffer_count(planned)));
    if (after_backward) {
        float a = pdl_net_loss(planned), b = pdl_net_loss(naive);
        CHECK(!memcmp(&a, &b, sizeof a));
        CHECK(same_floats(pdl_net_grads(planned), pdl_net_grads(naive),
                          pdl_net_param_count(planned)));
        CHECK(same_floats(pdl_net_input_grad(planned), pdl_net_input_grad(naive),
                          pdl_net_batch(planned) * pdl_shape_count(&in)));
    }
    if (harness_checks_failed != failed)
        fprintf(stderr, "  %s\n", what);
}

/* Inference, two training steps, inference again: the planned net gives the naive net's bits. */
static void compare_with_naive(const char *text, const char *name, int64_t batch, int variant)
{
    const int how = INIT | (variant & INPUT_GRAD ? WITH_INPUT_GRAD : 0);
    pdl_net *planned = make_net(text, NULL, batch, how);
    pdl_net *naive = make_net(text, NULL, batch, how | NAIVE);
    wrapped_ops *wp = planned ? wrap(planned, variant) : NULL;
    wrapped_ops *wn = naive ? wrap(naive, variant) : NULL;
    float *x = planned ? random_input(planned, 1) : NULL;
    int32_t labels[16];
    char what[128];
    if (!planned || !naive || !x)
        goto done;
    fill_labels(planned, labels);
    snprintf(what, sizeof what, "%s, variant %d", name, variant);
    for (int pass = 0; pass < 4; pass++) {
        bool training = pass == 1 || pass == 2;
        for (int k = 0; k < 2; k++) {
            pdl_net *net = k ? naive : planned;
            CHECK_OK(pdl_net_forward(net, x, training ? labels : NULL, training, (uint64_t)pass));
            if (training) {
                pdl_net_zero_grad(net);
                CHECK_OK(pdl_net_backward(net));
            }
        }
        compare_nets(planned, naive, training, what);
    }
done:
    free(x);
    if (planned)
        unwrap(planned, wp);
    if (naive)
        unwrap(naive, wn);
    pdl_net_free(planned);
    pdl_net_free(naive);
}

static void test_same_bits_as_naive(void)
{
    for (int variant = 0; variant < VARIANTS; variant++) {
        compare_with_naive(resnet_like, "resnet_like", 3, variant);
        compare_with_naive(googlenet_like, "googlenet_like", 3, variant);
    }
}

/* ---- whole-net gradients -------------------------------------------------------------------- */

static double loss_at(pdl_net *net, const float *x, const int32_t *labels)
{
    CHECK_OK(pdl_net_forward(net, x, labels, true, 1));
    return (double)pdl_net_loss(net);
}

/* Central difference of the loss in *v; NAN where halving eps changes it (a kink nearby). */
static double numeric_grad(pdl_net *net, float *v, const float *x, const int32_t *labels)
{
    double estimate[2];
    for (int h = 0; h < 2; h++) {
        const double eps = h ? 5e-3 : 1e-2;
        float saved = *v;
        *v = (float)(saved + eps);
        double plus = loss_at(net, x, labels);
        *v = (float)(saved - eps);
        double minus = loss_at(net, x, labels);
        *v = saved;
        estimate[h] = (plus - minus) / (2 * eps);
    }
    return fabs(estimate[0] - estimate[1]) > 1e-3 + 1e-2 * fabs(estimate[1]) ? NAN : estimate[1];
}

/* Analytic against numeric gradients at a few coordinates of every trainable tensor and of
 * the input; returns how many agreed. */
static int gradient_agreement(const char *text, int variant)
{
    pdl_net *net = make_net(text, NULL, 2, INIT | WITH_INPUT_GRAD);
    wrapped_ops *w = net ? wrap(net, variant) : NULL;
    float *x = net ? random_input(net, 2) : NULL;
    int64_t n_params = net ? pdl_net_param_count(net) : 0, n_in = 0;
    float *grads = malloc((size_t)n_params * sizeof *grads), *input_grad = NULL;
    int32_t labels[2];
    int agreed = 0, points = 0;
    if (!net || !x || !grads)
        goto done;
    pdl_shape in = pdl_net_input_shape(net);
    n_in = 2 * pdl_shape_count(&in);
    input_grad = malloc((size_t)n_in * sizeof *input_grad);
    fill_labels(net, labels);
    loss_at(net, x, labels);
    pdl_net_zero_grad(net);
    CHECK_OK(pdl_net_backward(net));
    memcpy(grads, pdl_net_grads(net), (size_t)n_params * sizeof *grads);
    memcpy(input_grad, pdl_net_input_grad(net), (size_t)n_in * sizeof *input_grad);
    float *params = pdl_net_params(net);
    for (int t = 0; t < pdl_net_tensor_count(net); t++) {
        pdl_named_tensor nt;
        CHECK_OK(pdl_net_tensor(net, t, &nt));
        int64_t count = pdl_shape_count(&nt.shape), offset = nt.data - params;
        for (int64_t k = 0; nt.trainable && k < 3; k++, points++) {
            int64_t j = offset + (k * 7919 + t) % count;
            double numeric = numeric_grad(net, &params[j], x, labels);
            bool ok = isnan(numeric) || fabs(grads[j] - numeric) <= 2e-3 + 3e-2 * fabs(numeric);
            if (!ok)
                fprintf(stderr, "  %s[%lld]: analytic %.6g numeric %.6g\n", nt.name,
                        (long long)(j - offset), grads[j], numeric);
            agreed += ok && !isnan(numeric);
            CHECK(ok);
        }
    }
    for (int64_t k = 0; k < 8; k++, points++) {
        int64_t j = (k * 104729) % n_in;
        double numeric = numeric_grad(net, &x[j], x, labels);
        bool ok = isnan(numeric) || fabs(input_grad[j] - numeric) <= 2e-3 + 3e-2 * fabs(numeric);
        if (!ok)
            fprintf(stderr, "  input[%lld]: analytic %.6g numeric %.6g\n", (long long)j,
                    input_grad[j], numeric);
        agreed += ok && !isnan(numeric);
        CHECK(ok);
    }
    CHECK(agreed * 4 >= points * 3); /* kinks skip only a few points */
done:
    free(x);
    free(grads);
    free(input_grad);
    if (net)
        unwrap(net, w);
    pdl_net_free(net);
    return agreed;
}

static void test_gradients_through_branches(void)
{
    CHECK(gradient_agreement(resnet_like, 0) > 20);
    CHECK(gradient_agreement(resnet_like, IN_PLACE) > 20);
    CHECK(gradient_agreement(googlenet_like, IN_PLACE) > 20);
}

/* ---- no allocation in a training step ---------------------------------------------------- */

static void expect_no_allocation(const char *text, const char *path, int64_t batch, int variant)
{
#ifdef UNDER_ASAN
    (void)text, (void)path, (void)batch, (void)variant;
#else
    pdl_net *net = make_net(text, path, batch, INIT);
    wrapped_ops *w = net ? wrap(net, variant) : NULL;
    float *x = net ? random_input(net, 3) : NULL;
    int32_t labels[64];
    if (!net || !x)
        goto done;
    fill_labels(net, labels);
    /* the warm-up places the buffers */
    CHECK_OK(pdl_net_forward(net, x, labels, true, 0));
    CHECK_OK(pdl_net_backward(net));
    pdl_net_zero_grad(net);
    atomic_store(&allocator_calls, 0);
    atomic_store(&counting, true);
    for (uint64_t step = 1; step <= 3; step++) {
        pdl_net_forward(net, x, labels, true, step);
        pdl_net_backward(net);
        pdl_net_zero_grad(net);
    }
    CHECK(isfinite(pdl_net_loss(net)));
    pdl_net_forward(net, x, NULL, false, 0); /* an evaluation between steps */
    atomic_store(&counting, false);
    long calls = atomic_load(&allocator_calls);
    if (calls)
        fprintf(stderr, "  %s: %ld allocator calls in 3 training steps and an inference\n",
                path ? path : "test net", calls);
    CHECK(calls == 0);
done:
    free(x);
    if (net)
        unwrap(net, w);
    pdl_net_free(net);
#endif
}

static void test_no_allocation_in_a_step(void)
{
    expect_no_allocation(NULL, "models/fashion_cnn.cfg", 8, 0);
    expect_no_allocation(resnet_like, NULL, 4, 0);
    expect_no_allocation(googlenet_like, NULL, 4, IN_PLACE);
}

/* ---- memory figures and the run-time contract ---------------------------------------------- */

static void test_memory_drops(void)
{
    const char *const models[] = {"models/resnet18.cfg", "models/googlenet.cfg"};
    for (int m = 0; m < 2; m++) {
        pdl_net *planned = make_net(NULL, models[m], 8, 0);
        pdl_net *naive = make_net(NULL, models[m], 8, NAIVE);
        if (planned && naive) {
            int64_t train = pdl_net_training_bytes(planned, 1);
            int64_t infer = pdl_net_inference_bytes(planned);
            printf("%-22s batch 8: training %.1f MiB (naive %.1f), inference %.1f MiB "
                   "(naive %.1f)\n", models[m], train / 1048576.0,
                   pdl_net_training_bytes(naive, 1) / 1048576.0, infer / 1048576.0,
                   pdl_net_inference_bytes(naive) / 1048576.0);
            CHECK(train > 0 && train < 0.7 * (double)pdl_net_training_bytes(naive, 1));
            CHECK(infer > 0 && infer < 0.5 * (double)pdl_net_inference_bytes(naive));
        }
        pdl_net_free(planned);
        pdl_net_free(naive);
    }
    /* a chain's inference needs the input, the workspace and two adjacent outputs at most */
    pdl_net *net = make_net(NULL, "models/fashion_cnn.cfg", 2, 0);
    if (!net)
        return;
    pdl_net_plan p;
    CHECK_OK(pdl_net_plan_memory(net, false, &p));
    size_t pair = 0, fixed = 0;
    for (int i = 1; i < net->n_layers; i++) {
        size_t two = 0;
        for (int b = 0; b < p.n_buffers; b++)
            if (p.buffers[b].kind == PDL_NET_BUFFER_OUTPUT &&
                (p.buffers[b].layer == root_of(net, &p, i) ||
                 p.buffers[b].layer == root_of(net, &p, i - 1)))
                two += p.buffers[b].bytes;
        if (two > pair)
            pair = two;
    }
    for (int b = 0; b < p.n_buffers; b++)
        if (p.buffers[b].layer < 0)
            fixed += p.buffers[b].bytes;
    CHECK(p.arena_bytes <= fixed + pair);
    pdl_net_plan_free(&p);
    pdl_net_free(net);
}

/* Backward reads what the forward left; the plan gives that memory to gradients after its last
 * reader, so a second backward needs a new forward. */
static void test_one_backward_per_forward(void)
{
    pdl_net *net = make_net(resnet_like, NULL, 2, INIT);
    float *x = net ? random_input(net, 4) : NULL;
    int32_t labels[2];
    if (net && x) {
        fill_labels(net, labels);
        CHECK_OK(pdl_net_forward(net, x, labels, true, 0));
        CHECK_OK(pdl_net_backward(net));
        CHECK(pdl_net_backward(net) == PDL_ERR_INVALID);
        CHECK(strstr(pdl_last_error(), "one backward per forward") != NULL);
        CHECK_OK(pdl_net_forward(net, x, labels, true, 1));
        CHECK_OK(pdl_net_backward(net));
    }
    free(x);
    pdl_net_free(net);
}

int main(void)
{
    RUN(test_zoo_plans);
    RUN(test_branchy_plans);
    RUN(test_in_place_rules);
    RUN(test_same_bits_as_naive);
    RUN(test_gradients_through_branches);
    RUN(test_no_allocation_in_a_step);
    RUN(test_memory_drops);
    RUN(test_one_backward_per_forward);
    return harness_summary();
}
