/* The whole training step against PyTorch: models/fashion_cnn.cfg with the initial weights of
 * tests/fixtures/pytorch/fashion_cnn_steps.safetensors, 5 SGD steps (lr 0.05, momentum 0.9, weight
 * decay 5e-4) on the fixture's batch of 16, compared step by step with torch's losses and final
 * weights. The fixture comes from tests/fixtures/make_torch_fixtures.py. */
#include "harness.h"
#include "pdl/pdl.h"
#include "torch_fixture.h"

#define FIXTURE PDL_SOURCE_DIR "/tests/fixtures/pytorch/fashion_cnn_steps.safetensors"
#define MODEL PDL_SOURCE_DIR "/models/fashion_cnn.cfg"
#define STEPS 5
#define BATCH 16
#define LR 0.05f

static pdl_net *net;
static torch_fixture *fixture;

/* Compares the net's tensor name with the fixture tensor want_name. */
static void compare_tensor(const char *name, const char *want_name, double atol, double rtol)
{
    const tf_tensor *want = tf_find(fixture, want_name);
    int index = pdl_net_find_tensor(net, name);
    CHECK(want != NULL);
    CHECK(index >= 0);
    if (!want || index < 0)
        return;
    pdl_named_tensor t;
    CHECK_OK(pdl_net_tensor(net, index, &t));
    CHECK(pdl_shape_count(&t.shape) == want->count);
    if (pdl_shape_count(&t.shape) != want->count)
        return;
    double max_abs = 0.0;
    CHECK(tf_compare(name, t.data, want->data, want->count, atol, rtol, &max_abs) == 0);
    printf("  %-22s max error %.2e\n", want_name, max_abs);
}

/* pdl_weights_load put every tensor of the net in place, exactly. */
static void test_weights_loaded(void)
{
    int count = pdl_net_tensor_count(net);
    CHECK(count == 14);
    for (int i = 0; i < count; i++) {
        pdl_named_tensor t;
        CHECK_OK(pdl_net_tensor(net, i, &t));
        const tf_tensor *want = tf_find(fixture, t.name);
        CHECK(want != NULL);
        if (!want)
            continue;
        CHECK(want->shape.ndim == t.shape.ndim);
        CHECK(want->count == pdl_shape_count(&t.shape));
        if (want->count == pdl_shape_count(&t.shape))
            CHECK(memcmp(want->data, t.data, (size_t)want->count * sizeof(float)) == 0);
    }
}

/* Five SGD steps: each step's loss within rtol 1e-4 of torch's, then the final weights. */
static void test_sgd_steps(void)
{
    const tf_tensor *images = tf_find(fixture, "images");
    const tf_tensor *labels_f = tf_find(fixture, "labels");
    const tf_tensor *losses = tf_find(fixture, "losses");
    CHECK(images && images->count == BATCH * 28 * 28);
    CHECK(labels_f && labels_f->count == BATCH);
    CHECK(losses && losses->count == STEPS);
    if (!images || images->count != BATCH * 28 * 28 || !labels_f || labels_f->count != BATCH ||
        !losses || losses->count != STEPS)
        return;
    int32_t labels[BATCH];
    for (int i = 0; i < BATCH; i++)
        labels[i] = (int32_t)labels_f->data[i];

    pdl_optim_config config = {.kind = PDL_OPTIM_SGD, .momentum = 0.9f, .nesterov = false,
                               .weight_decay = 5e-4f};
    pdl_optimizer *opt = NULL;
    CHECK_OK(pdl_optimizer_create(&config, pdl_net_param_count(net), &opt));
    if (!opt)
        return;
    for (int step = 0; step < STEPS; step++) {
        pdl_net_zero_grad(net);
        CHECK_OK(pdl_net_forward(net, images->data, labels, true, (uint64_t)step));
        float loss = pdl_net_loss(net);
        printf("  step %d loss %.7f torch %.7f\n", step, (double)loss, (double)losses->data[step]);
        CHECK_CLOSE(loss, losses->data[step], 0.0, 1e-4);
        CHECK_OK(pdl_net_backward(net));
        pdl_optimizer_step(opt, pdl_net_params(net), pdl_net_grads(net), LR);
    }
    compare_tensor("fc2.weight", "final.fc2.weight", 1e-4, 0.0);
    compare_tensor("fc2.bias", "final.fc2.bias", 1e-4, 0.0);
    compare_tensor("bn1.running_mean", "final.bn1.running_mean", 1e-4, 1e-4);
    compare_tensor("bn1.running_var", "final.bn1.running_var", 1e-4, 1e-4);
    pdl_optimizer_free(opt);
}

int main(void)
{
    fixture = tf_load(FIXTURE);
    CHECK(fixture != NULL);
    CHECK_OK(pdl_net_load(MODEL, &net));
    if (net)
        CHECK_OK(pdl_net_set_batch(net, BATCH));
    if (net)
        CHECK_OK(pdl_weights_load(net, FIXTURE));
    if (net && fixture) {
        RUN(test_weights_loaded);
        RUN(test_sgd_steps);
    }
    pdl_net_free(net);
    tf_free(fixture);
    return harness_summary() || harness_checks_failed != 0;
}
