/* Tests of data-parallel training with workers in one process (pdl_train with dist options):
 * for 1..5 workers, tree and ring, 10 steps end with the weights of one worker on the same
 * global batches (fp32 tolerance; uneven shards and accumulation included) and with the same
 * bits in a second run; tree sums do not depend on the bucket size; batch normalization
 * follows the documented per-worker semantics (statistics of each worker's shard, worker 0's
 * running statistics); a stopped run resumes bit for bit, but not with another worker count;
 * a failing worker stops every worker with an error naming it. */
#include "core/rng.h"
#include "harness.h"
#include "pdl/pdl.h"

#include <stdlib.h>
#include <string.h>

enum { SIDE = 6, CLASSES = 3, SAMPLES = 60 };

static pdl_status bars_read(pdl_data_source *src, const pdl_sample_ctx *ctx, int64_t index,
                            float *x, int32_t *label)
{
    (void)src, (void)ctx;
    int cls = (int)(index % CLASSES);
    for (int i = 0; i < SIDE * SIDE; i++)
        x[i] = 0.5f * pdl_rng_uniform(21, 0, (uint64_t)(index * SIDE * SIDE + i)) +
               (i / SIDE / 2 == cls ? 0.6f : 0.0f);
    *label = cls;
    return PDL_OK;
}

static void bars_free(pdl_data_source *src)
{
    (void)src;
}

static const pdl_data_source_ops bars_ops = {.read = bars_read, .free = bars_free};

static pdl_data_source bars(void)
{
    pdl_data_source s = {.ops = &bars_ops, .count = SAMPLES, .classes = CLASSES};
    s.sample = pdl_shape_make(3, (int64_t[]){1, SIDE, SIDE});
    snprintf(s.name, sizeof s.name, "bars");
    return s;
}

static const char plain_model[] = "[net]\ninput = 1x6x6\nclasses = 3\n"
                                  "[conv]\nname = conv1\nfilters = 4\nsize = 3\npad = same\n"
                                  "[relu]\n[maxpool]\nsize = 2\n"
                                  "[fc]\nname = fc1\noutput = 8\n[relu]\n"
                                  "[fc]\nname = fc2\noutput = 3\n[softmax_loss]\n";

static const char bn_model[] = "[net]\ninput = 1x6x6\nclasses = 3\n"
                               "[conv]\nname = conv1\nfilters = 4\nsize = 3\npad = same\n"
                               "bias = 0\n[batchnorm]\nname = bn1\n[relu]\n[maxpool]\nsize = 2\n"
                               "[dropout]\np = 0.25\n[fc]\nname = fc1\noutput = 3\n"
                               "[softmax_loss]\n";

static pdl_train_config config(int64_t batch, int accumulate, float momentum)
{
    pdl_train_config c = pdl_train_config_default();
    c.batch = batch;
    c.accumulate = accumulate;
    c.epochs = 3;
    c.seed = 7;
    c.optim.kind = PDL_OPTIM_SGD;
    c.optim.momentum = momentum;
    c.optim.weight_decay = 0;
    c.schedule.policy = PDL_LR_FIXED;
    c.schedule.base_lr = 0.1f;
    return c;
}

/* Parameters then buffers of a trained net, and the training loss of its last epoch. */
typedef struct weights {
    float *data;
    int64_t n;
    float loss;
} weights;

static void on_epoch(const pdl_epoch_result *e, void *user)
{
    *(float *)user = e->train_loss;
}

/* Trains a fresh net of model for max_steps (0: all) with dist (NULL: one worker); state is a
 * state path (NULL: none). Returns the status; the weights in *out when it succeeded. */
static pdl_status train(const char *model, pdl_train_config c, const pdl_dist_options *dist,
                        int64_t max_steps, const char *state, bool resume, weights *out)
{
    pdl_net *net = NULL;
    pdl_data_source src = bars();
    float loss = NAN;
    pdl_train_options o = {.config = c,
                           .dist = dist,
                           .max_steps = max_steps,
                           .state_path = state,
                           .resume = resume,
                           .data_threads = 1,
                           .on_epoch = on_epoch,
                           .user = &loss};
    pdl_status status = pdl_net_from_text(model, "workers.cfg", &net);
    if (status == PDL_OK)
        status = pdl_train(net, &src, NULL, &o);
    *out = (weights){0};
    if (status == PDL_OK) {
        int64_t p = pdl_net_param_count(net), b = pdl_net_buffer_count(net);
        out->n = p + b;
        out->loss = loss;
        out->data = malloc((size_t)out->n * sizeof(float));
        memcpy(out->data, pdl_net_params(net), (size_t)p * sizeof(float));
        memcpy(out->data + p, pdl_net_buffers(net), (size_t)b * sizeof(float));
    }
    pdl_net_free(net);
    return status;
}

static bool same_bits(weights a, weights b)
{
    return a.n == b.n && a.data && b.data && !memcmp(a.data, b.data, (size_t)a.n * sizeof(float));
}

/* Largest |a - b| / (1 + |b|). */
static double max_error(weights a, weights b)
{
    double worst = a.n == b.n && a.data && b.data ? 0 : INFINITY;
    for (int64_t i = 0; i < a.n && i < b.n && a.data && b.data; i++) {
        double e = fabs((double)a.data[i] - b.data[i]) / (1 + fabs((double)b.data[i]));
        worst = e > worst ? e : worst;
    }
    return worst;
}

static void test_match_one_worker(void)
{
    static const pdl_reduce_algo algos[] = {PDL_REDUCE_TREE, PDL_REDUCE_RING};
    static const struct {
        int64_t batch;
        int accumulate;
    } shapes[] = {{12, 1}, {12, 2}};
    for (size_t s = 0; s < 2; s++) {
        pdl_train_config c = config(shapes[s].batch, shapes[s].accumulate, 0.9f);
        weights alone, first, second;
        CHECK_OK(train(plain_model, c, NULL, 10, NULL, false, &alone));
        for (int n = 1; n <= 5; n++)
            for (size_t a = 0; a < 2; a++) {
                pdl_dist_stats stats = {0};
                pdl_dist_options d = {.workers = n, .reduce = algos[a], .stats = &stats};
                CHECK_OK(train(plain_model, c, &d, 10, NULL, false, &first));
                CHECK_OK(train(plain_model, c, &d, 10, NULL, false, &second));
                double e = max_error(first, alone);
                if (getenv("VERBOSE") || !(e < 2e-5) || !same_bits(first, second))
                    fprintf(stderr, "%d workers, %s, batch %lld / %d: error %.3g, %s bits\n", n,
                            pdl_reduce_algo_name(algos[a]), (long long)c.batch, c.accumulate, e,
                            same_bits(first, second) ? "same" : "different");
                CHECK(e < 2e-5);
                CHECK(same_bits(first, second));
                CHECK_CLOSE(first.loss, alone.loss, 0, 1e-5);
                CHECK(n == 1 || (stats.world == n && stats.steps == 10 && stats.buckets >= 1 &&
                                 stats.algo == algos[a] && stats.step_seconds > 0));
                free(first.data);
                free(second.data);
            }
        free(alone.data);
    }
}

/* The tree adds whole buffers in a fixed order: the bucket size cannot change the bits. */
static void test_buckets(void)
{
    pdl_train_config c = config(12, 1, 0.9f);
    weights big, tiny;
    pdl_dist_options d = {.workers = 3, .reduce = PDL_REDUCE_TREE};
    CHECK_OK(train(plain_model, c, &d, 6, NULL, false, &big));
    d.bucket_bytes = 64;
    pdl_dist_stats stats = {0};
    d.stats = &stats;
    CHECK_OK(train(plain_model, c, &d, 6, NULL, false, &tiny));
    CHECK(same_bits(big, tiny));
    CHECK(stats.buckets == 3); /* conv1, fc1, fc2: each more than 64 bytes */
    free(big.data);
    free(tiny.data);
}

/* Per-worker batch normalization: 2 workers on a batch of 8 take the step a net at batch 4
 * takes from the mean of its gradients on the two halves; the running statistics are worker
 * 0's; and that is not what one worker on the whole batch does. */
static void test_batchnorm(void)
{
    pdl_train_config c = config(8, 1, 0);
    static const char model[] = "[net]\ninput = 1x6x6\nclasses = 3\n"
                                "[conv]\nname = conv1\nfilters = 4\nsize = 3\npad = same\n"
                                "bias = 0\n[batchnorm]\nname = bn1\n[relu]\n[maxpool]\nsize = 2\n"
                                "[fc]\nname = fc1\noutput = 3\n[softmax_loss]\n";
    pdl_dist_options d = {.workers = 2, .reduce = PDL_REDUCE_RING};
    weights two, one;
    CHECK_OK(train(model, c, &d, 1, NULL, false, &two));
    CHECK_OK(train(model, c, NULL, 1, NULL, false, &one));

    pdl_net *net = NULL;
    pdl_data_source src = bars();
    int64_t order[SAMPLES];
    float x[8 * SIDE * SIDE];
    int32_t labels[8];
    pdl_sample_ctx ctx = {.seed = c.seed, .epoch = 0};
    pdl_epoch_order(c.seed, 0, SAMPLES, order);
    CHECK_OK(pdl_data_source_batch(&src, &ctx, order, 8, x, labels));
    CHECK_OK(pdl_net_from_text(model, "bn.cfg", &net));
    CHECK_OK(pdl_net_set_batch(net, 4));
    CHECK_OK(pdl_net_init_params(net, c.seed));
    const int64_t n = pdl_net_param_count(net), nb = pdl_net_buffer_count(net);
    float *sum = calloc((size_t)n, sizeof(float)), *running = malloc((size_t)nb * sizeof(float));
    float *initial = malloc((size_t)nb * sizeof(float));
    memcpy(initial, pdl_net_buffers(net), (size_t)nb * sizeof(float));
    for (int half = 0; half < 2; half++) {
        pdl_net_zero_grad(net);
        CHECK_OK(pdl_net_forward(net, x + half * 4 * SIDE * SIDE, labels + half * 4, true, 0));
        CHECK_OK(pdl_net_backward(net));
        for (int64_t i = 0; i < n; i++)
            sum[i] += 0.5f * pdl_net_grads(net)[i];
        if (half == 0)
            memcpy(running, pdl_net_buffers(net), (size_t)nb * sizeof(float));
    }
    for (int64_t i = 0; i < n; i++)
        pdl_net_params(net)[i] -= c.schedule.base_lr * sum[i];
    weights manual = {malloc((size_t)(n + nb) * sizeof(float)), n + nb, NAN};
    memcpy(manual.data, pdl_net_params(net), (size_t)n * sizeof(float));
    memcpy(manual.data + n, running, (size_t)nb * sizeof(float));
    CHECK(max_error(two, manual) < 1e-6);
    CHECK(max_error(one, manual) > 1e-4);
    CHECK(memcmp(running, initial, (size_t)nb * sizeof(float)) != 0);
    free(initial);
    free(manual.data);
    free(sum);
    free(running);
    pdl_net_free(net);
    free(two.data);
    free(one.data);
}

/* BN and dropout with workers: the same bits run after run, and a run stopped after 4 steps
 * and resumed ends where an uninterrupted one does; another worker count is refused. */
static void test_resume(void)
{
    pdl_train_config c = config(12, 1, 0.9f);
    pdl_dist_options d = {.workers = 3, .reduce = PDL_REDUCE_RING};
    weights straight, again, part, resumed;
    CHECK_OK(train(bn_model, c, &d, 10, NULL, false, &straight));
    CHECK_OK(train(bn_model, c, &d, 10, NULL, false, &again));
    CHECK(same_bits(straight, again));
    CHECK_OK(train(bn_model, c, &d, 4, "workers.pdlstate", false, &part));
    CHECK(!same_bits(part, straight));
    CHECK_OK(train(bn_model, c, &d, 10, "workers.pdlstate", true, &resumed));
    CHECK(same_bits(resumed, straight));
    pdl_dist_options two = {.workers = 2};
    weights refused;
    CHECK(train(bn_model, c, &two, 10, "workers.pdlstate", true, &refused) == PDL_ERR_INVALID);
    CHECK(strstr(pdl_last_error(), "trained by 3 data-parallel workers, this run has 2"));
    CHECK(train(bn_model, c, NULL, 10, "workers.pdlstate", true, &refused) == PDL_ERR_INVALID);
    CHECK(strstr(pdl_last_error(), "this run has 1"));
    remove("workers.pdlstate");
    free(straight.data);
    free(again.data);
    free(part.data);
    free(resumed.data);
}

static void test_failures(void)
{
    pdl_train_config c = config(12, 1, 0.9f);
    weights w;
    for (int n = 2; n <= 4; n++)
        for (int algo = PDL_REDUCE_TREE; algo <= PDL_REDUCE_RING; algo++) {
            pdl_dist_options d = {.workers = n, .reduce = (pdl_reduce_algo)algo};
            char rank[4], needle[64];
            snprintf(rank, sizeof rank, "%d", n - 1);
            setenv("PDL_TEST_FAIL_RANK", rank, 1);
            setenv("PDL_TEST_FAIL_STEP", "3", 1);
            CHECK(train(plain_model, c, &d, 10, NULL, false, &w) == PDL_ERR_INVALID);
            snprintf(needle, sizeof needle, "step 3): worker %d of %d: injected failure", n - 1, n);
            if (!strstr(pdl_last_error(), needle))
                fprintf(stderr, "message: %s\n", pdl_last_error());
            CHECK(strstr(pdl_last_error(), needle));
        }
    unsetenv("PDL_TEST_FAIL_RANK");
    unsetenv("PDL_TEST_FAIL_STEP");
    /* Options that cannot work. */
    pdl_dist_options five = {.workers = 5};
    CHECK(train(plain_model, config(8, 2, 0), &five, 1, NULL, false, &w) == PDL_ERR_INVALID);
    CHECK(strstr(pdl_last_error(), "5 workers need at least 5 samples per micro-batch"));
    pdl_dist_options mpi = {.workers = 2, .reduce = PDL_REDUCE_MPI};
    CHECK(train(plain_model, c, &mpi, 1, NULL, false, &w) == PDL_ERR_INVALID);
    CHECK(strstr(pdl_last_error(), "'mpi' needs MPI ranks"));
}

int main(void)
{
    pdl_log_set_callback(NULL, NULL, PDL_LOG_ERROR);
    RUN(test_match_one_worker);
    RUN(test_buckets);
    RUN(test_batchnorm);
    RUN(test_resume);
    RUN(test_failures);
    return harness_summary();
}
