/* Tests of the training loop and evaluation on a synthetic source: same seed -> same bits; a run
 * stopped (max_steps, the stop flag, mid-epoch or at an epoch boundary) and resumed ends with
 * exactly the weights of an uninterrupted one; the loss falls on a learnable task; accumulation
 * matches one large batch; evaluation's top-1/top-k/confusion/loss on a net with hand-set
 * weights; input checks. State files are written into the working directory. */
#include "core/rng.h"
#include "harness.h"
#include "pdl/pdl.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

enum { SIDE = 6, CLASSES = 3, SAMPLES = 48 };

/* Class c is a bright horizontal bar in rows 2c and 2c+1 over uniform noise. */
typedef struct synth {
    pdl_data_source base;
    atomic_llong reads; /* samples read so far (reads come from the loader's threads) */
    int64_t stop_after; /* sets *stop after this many reads (0: never) */
    volatile int *stop;
} synth;

static pdl_status synth_read(pdl_data_source *base, const pdl_sample_ctx *ctx, int64_t index,
                             float *x, int32_t *label)
{
    (void)ctx; /* no augmentation */
    synth *s = (synth *)base;
    int cls = (int)(index % CLASSES);
    for (int i = 0; i < SIDE * SIDE; i++)
        x[i] = 0.3f * pdl_rng_uniform(11, 0, (uint64_t)(index * SIDE * SIDE + i)) +
               (i / SIDE / 2 == cls ? 0.7f : 0.0f);
    *label = cls;
    if (atomic_fetch_add(&s->reads, 1) + 1 == s->stop_after && s->stop)
        *s->stop = 1;
    return PDL_OK;
}

static void synth_free(pdl_data_source *base) { (void)base; }

static const pdl_data_source_ops synth_ops = {.read = synth_read, .free = synth_free};

static synth make_synth(int64_t count)
{
    synth s = {.base = {.ops = &synth_ops, .count = count, .classes = CLASSES}};
    s.base.sample = pdl_shape_make(3, (int64_t[]){1, SIDE, SIDE});
    snprintf(s.base.name, sizeof s.base.name, "synthetic bars");
    return s;
}

static const char model_text[] = "[net]\ninput = 1x6x6\nclasses = 3\n"
                                 "[conv]\nname = conv1\nfilters = 4\nsize = 3\npad = same\n"
                                 "bias = 0\n"
                                 "[batchnorm]\nname = bn1\n"
                                 "[relu]\n"
                                 "[maxpool]\nsize = 2\n"
                                 "[dropout]\np = 0.25\n"
                                 "[fc]\nname = fc1\noutput = 3\n"
                                 "[softmax_loss]\nname = loss\n";

static pdl_train_config base_config(void)
{
    pdl_train_config c = pdl_train_config_default();
    c.batch = 8;
    c.epochs = 3;
    c.seed = 5;
    c.accumulate = 1;
    c.topk = 2;
    c.optim.kind = PDL_OPTIM_SGD;
    c.optim.momentum = 0.9f;
    c.schedule.policy = PDL_LR_COSINE;
    c.schedule.base_lr = 0.05f;
    c.schedule.max_iter = 0;
    return c;
}

/* Parameters and buffers, copied out of the net. */
typedef struct snapshot {
    float *data;
    size_t bytes;
} snapshot;

static snapshot take(pdl_net *net)
{
    size_t p = (size_t)pdl_net_param_count(net), b = (size_t)pdl_net_buffer_count(net);
    snapshot s = {malloc((p + b) * sizeof(float)), (p + b) * sizeof(float)};
    memcpy(s.data, pdl_net_params(net), p * sizeof(float));
    memcpy(s.data + p, pdl_net_buffers(net), b * sizeof(float));
    return s;
}

static bool same(snapshot a, snapshot b)
{
    return a.bytes == b.bytes && a.data && b.data && memcmp(a.data, b.data, a.bytes) == 0;
}

typedef struct epochs_seen {
    int n;
    pdl_epoch_result last;
    float first_loss;
} epochs_seen;

static void on_epoch(const pdl_epoch_result *e, void *user)
{
    epochs_seen *seen = user;
    if (seen->n++ == 0)
        seen->first_loss = e->train_loss;
    seen->last = *e;
}

/* One pdl_train call on a fresh net; the net's tensors are returned in *out. */
static pdl_status run(const char *text, pdl_train_options o, synth *train, synth *val,
                      snapshot *out)
{
    pdl_net *net = NULL;
    pdl_status status = pdl_net_from_text(text, "test.cfg", &net);
    if (status == PDL_OK)
        status = pdl_train(net, &train->base, val ? &val->base : NULL, &o);
    *out = status == PDL_OK || status == PDL_ERR_INTERRUPTED ? take(net) : (snapshot){0};
    pdl_net_free(net);
    return status;
}

static void test_same_seed_same_bits(void)
{
    synth src = make_synth(SAMPLES);
    pdl_train_options o = {.config = base_config(), .max_steps = 7};
    snapshot a, b, c;
    CHECK_OK(run(model_text, o, &src, NULL, &a));
    CHECK_OK(run(model_text, o, &src, NULL, &b));
    o.config.seed = 6;
    CHECK_OK(run(model_text, o, &src, NULL, &c));
    CHECK(same(a, b));
    CHECK(!same(a, c));
    free(a.data);
    free(b.data);
    free(c.data);
}

/* Stops after each of stops[] (max_steps, or with use_flag the stop flag after that many
 * reads), resumes until the end, and compares with an uninterrupted run. */
static void check_resume(pdl_train_config config, const int64_t *stops, int n_stops,
                         bool use_flag, bool validate)
{
    synth train = make_synth(SAMPLES), val = make_synth(10);
    const char *state = "test_train_state.pdlstate", *weights = "test_train.safetensors";
    epochs_seen seen = {0};
    pdl_train_options o = {.config = config, .on_epoch = on_epoch, .user = &seen};
    snapshot whole, part = {0};
    CHECK_OK(run(model_text, o, &train, validate ? &val : NULL, &whole));
    CHECK(seen.n == config.epochs);
    CHECK(isnan(seen.last.val_top1) == !validate);
    o.state_path = state;
    o.weights_path = weights;
    volatile int stop = 0;
    for (int i = 0; i <= n_stops; i++) {
        free(part.data);
        train.reads = 0;
        stop = 0;
        o.resume = i > 0;
        o.max_steps = !use_flag && i < n_stops ? stops[i] : 0;
        train.stop_after = use_flag && i < n_stops ? stops[i] : 0;
        train.stop = &stop;
        o.stop = &stop;
        pdl_status expected = use_flag && i < n_stops ? PDL_ERR_INTERRUPTED : PDL_OK;
        CHECK(run(model_text, o, &train, validate ? &val : NULL, &part) == expected);
    }
    CHECK(same(whole, part));
    /* The weights file written at the end holds the final parameters. */
    pdl_net *net = NULL;
    CHECK_OK(pdl_net_from_text(model_text, "test.cfg", &net));
    if (net) {
        CHECK_OK(pdl_weights_load(net, weights));
        snapshot loaded = take(net);
        CHECK(same(whole, loaded));
        free(loaded.data);
    }
    pdl_net_free(net);
    free(whole.data);
    free(part.data);
}

static void test_resume_mid_epoch(void)
{
    const int64_t stops[] = {4, 9}; /* 6 steps per epoch */
    check_resume(base_config(), stops, 2, false, false);
}

static void test_resume_epoch_boundary_with_validation(void)
{
    const int64_t stops[] = {6, 12};
    check_resume(base_config(), stops, 2, false, true);
}

static void test_resume_stop_flag_adam_accumulate(void)
{
    pdl_train_config c = base_config();
    c.optim.kind = PDL_OPTIM_ADAM;
    c.optim.beta1 = 0.9f;
    c.optim.beta2 = 0.999f;
    c.optim.eps = 1e-8f;
    c.schedule.base_lr = 0.01f;
    c.accumulate = 2;
    c.schedule.warmup_iters = 3;
    c.schedule.warmup_start = 0.1f;
    const int64_t stops[] = {8 * 4 + 3}; /* flag raised during step 5 (epoch 0, batch 4) */
    check_resume(c, stops, 1, true, true);
}

static void test_loss_decreases(void)
{
    synth train = make_synth(SAMPLES), val = make_synth(30);
    epochs_seen seen = {0};
    pdl_train_options o = {.config = base_config(), .on_epoch = on_epoch, .user = &seen};
    o.config.epochs = 15;
    snapshot s;
    CHECK_OK(run(model_text, o, &train, &val, &s));
    CHECK(seen.n == 15);
    CHECK(seen.last.train_loss < 0.5f * seen.first_loss);
    CHECK(seen.last.val_top1 >= 0.9f);
    CHECK(seen.last.val_topk >= seen.last.val_top1);
    CHECK(seen.last.images_per_s > 0 && seen.last.data_share >= 0 && seen.last.data_share <= 1);
    free(s.data);
}

/* Without batch norm and dropout, two micro-batches of 4 give the gradient of one batch of 8
 * up to rounding. */
static void test_accumulate_matches_large_batch(void)
{
    static const char plain[] = "[net]\ninput = 1x6x6\nclasses = 3\n"
                                "[conv]\nname = conv1\nfilters = 4\nsize = 3\nact = tanh\n"
                                "[fc]\nname = fc1\noutput = 3\n[softmax_loss]\n";
    synth src = make_synth(SAMPLES);
    pdl_train_options o = {.config = base_config(), .max_steps = 1};
    o.config.optim.momentum = 0;
    o.config.schedule.policy = PDL_LR_FIXED;
    o.config.schedule.base_lr = 1.0f;
    snapshot one, two, init;
    CHECK_OK(run(plain, o, &src, NULL, &one));
    o.config.accumulate = 2;
    CHECK_OK(run(plain, o, &src, NULL, &two));
    o.max_steps = 0;
    o.config.epochs = 1;
    o.config.schedule.base_lr = 0;
    CHECK_OK(run(plain, o, &src, NULL, &init));
    size_t n = one.bytes / sizeof(float);
    double moved = 0;
    for (size_t i = 0; i < n && two.data && init.data; i++) {
        CHECK_CLOSE(two.data[i], one.data[i], 1e-6, 1e-5);
        moved += fabs((double)one.data[i] - (double)init.data[i]);
    }
    CHECK(moved > 1e-3); /* the step did move the weights */
    free(one.data);
    free(two.data);
    free(init.data);
}

static void test_bad_inputs(void)
{
    synth src = make_synth(SAMPLES), small = make_synth(5);
    pdl_train_options o = {.config = base_config()};
    snapshot s;
    o.config.accumulate = 3;
    CHECK(run(model_text, o, &src, NULL, &s) == PDL_ERR_INVALID);
    CHECK(strstr(pdl_last_error(), "divisible"));
    o.config.accumulate = 1;
    CHECK(run(model_text, o, &small, NULL, &s) == PDL_ERR_INVALID);
    CHECK(strstr(pdl_last_error(), "synthetic bars") && strstr(pdl_last_error(), "batch"));
    synth wide = make_synth(SAMPLES);
    wide.base.sample.dim[2] = 7;
    CHECK(run(model_text, o, &wide, NULL, &s) == PDL_ERR_SHAPE);
    CHECK(strstr(pdl_last_error(), "synthetic bars"));
    o.resume = true;
    o.state_path = "no_such_state.pdlstate";
    CHECK(run(model_text, o, &src, NULL, &s) != PDL_OK);
    CHECK(strstr(pdl_last_error(), "no_such_state.pdlstate"));
}

/* A source of hand-made 3-value samples for evaluation. */
typedef struct table_source {
    pdl_data_source base;
    const float (*x)[3];
    const int32_t *labels;
} table_source;

static pdl_status table_read(pdl_data_source *base, const pdl_sample_ctx *ctx, int64_t index,
                             float *x, int32_t *label)
{
    (void)ctx; /* no augmentation */
    table_source *t = (table_source *)base;
    memcpy(x, t->x[index], sizeof t->x[index]);
    *label = t->labels[index];
    return PDL_OK;
}

static const pdl_data_source_ops table_ops = {.read = table_read, .free = synth_free};

static void test_evaluate_known_predictions(void)
{
    /* fc with identity weights: the scores are softmax(x), the prediction argmax(x). */
    static const float x[7][3] = {{0.9f, 0.1f, 0.0f}, {0.2f, 0.8f, 0.1f}, {0.6f, 0.3f, 0.1f},
                                  {0.1f, 0.2f, 0.7f}, {0.5f, 0.4f, 0.3f}, {0.3f, 0.3f, 0.3f},
                                  {0.0f, 0.0f, 1.0f}};
    static const int32_t labels[7] = {0, 1, 1, 2, 2, 1, 0};
    /* predictions 0 1 0 2 0 0(tie) 2; label ranks 0 0 1 0 2 1(tie) 1(tie) */
    static const int64_t confusion[9] = {1, 0, 1, 2, 1, 0, 1, 0, 1};
    table_source src = {.base = {.ops = &table_ops, .count = 7, .classes = 3}, .x = x,
                        .labels = labels};
    src.base.sample = pdl_shape_make(3, (int64_t[]){1, 1, 3});
    snprintf(src.base.name, sizeof src.base.name, "table");
    pdl_net *net = NULL;
    CHECK_OK(pdl_net_from_text("[net]\ninput = 1x1x3\nclasses = 3\n[fc]\nname = fc\noutput = 3\n"
                               "bias = 0\n[softmax_loss]\n",
                               "eval.cfg", &net));
    if (!net)
        return;
    int w = pdl_net_find_tensor(net, "fc.weight");
    pdl_named_tensor t;
    CHECK(w >= 0);
    CHECK_OK(pdl_net_tensor(net, w, &t));
    for (int i = 0; i < 9; i++)
        t.data[i] = i % 4 == 0 ? 1.0f : 0.0f;
    double loss = 0;
    for (int s = 0; s < 7; s++) {
        double z = 0;
        for (int c = 0; c < 3; c++)
            z += exp(x[s][c]);
        loss -= x[s][labels[s]] - log(z);
    }
    const int64_t batches[] = {3, 7, 100};
    for (int b = 0; b < 3; b++) {
        pdl_eval_result r;
        CHECK_OK(pdl_evaluate(net, &src.base, batches[b], 2, &r));
        CHECK(r.count == 7 && r.classes == 3 && r.k == 2);
        CHECK_CLOSE(r.top1, 3.0 / 7, 1e-12, 0);
        CHECK_CLOSE(r.topk, 6.0 / 7, 1e-12, 0);
        CHECK_CLOSE(r.loss, loss / 7, 1e-6, 1e-5);
        CHECK(r.confusion && memcmp(r.confusion, confusion, sizeof confusion) == 0);
        CHECK(r.class_accuracy && fabs(r.class_accuracy[0] - 0.5) < 1e-12 &&
              fabs(r.class_accuracy[1] - 1.0 / 3) < 1e-12 &&
              fabs(r.class_accuracy[2] - 0.5) < 1e-12);
        pdl_eval_result_free(&r);
    }
    pdl_net_free(net);
}

int main(void)
{
    RUN(test_same_seed_same_bits);
    RUN(test_resume_mid_epoch);
    RUN(test_resume_epoch_boundary_with_validation);
    RUN(test_resume_stop_flag_adam_accumulate);
    RUN(test_loss_decreases);
    RUN(test_accumulate_matches_large_batch);
    RUN(test_bad_inputs);
    RUN(test_evaluate_known_predictions);
    return harness_summary();
}
