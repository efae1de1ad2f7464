/* Tests of the net (src/graph/net*.c, analysis.c): building graphs from model text (multi-input,
 * relative and later-defined inputs, act =, [repeat]), shapes, named tensors, parameter init,
 * whole-net gradients against finite differences, fan-out, memory and receptive-field figures,
 * and the errors of bad model files. The layers themselves have their own tests. */
#include "graph/net_internal.h"
#include "harness.h"
#include "pdl/pdl.h"

#include "core/rng.h"

#include <string.h>

#define NET_HEADER(input, classes) "[net]\ninput = " input "\nclasses = " classes "\n"

static pdl_net *build(const char *text)
{
    pdl_net *net = NULL;
    CHECK_OK(pdl_net_from_text(text, "test.cfg", &net));
    return net;
}

static pdl_layer_info info_of(pdl_net *net, int index)
{
    pdl_layer_info info;
    memset(&info, 0, sizeof info);
    CHECK_OK(pdl_net_layer_info(net, index, &info));
    return info;
}

static int layer_index(pdl_net *net, const char *name)
{
    for (int i = 0; i < pdl_net_layer_count(net); i++)
        if (!strcmp(info_of(net, i).name, name))
            return i;
    return -1;
}

static bool shape_is(pdl_shape s, int ndim, int64_t d0, int64_t d1, int64_t d2, int64_t d3)
{
    const int64_t want[4] = {d0, d1, d2, d3};
    pdl_shape expected = pdl_shape_make(ndim, want);
    return pdl_shape_equal(&s, &expected);
}

static void fill_normal(float *x, int64_t n, uint64_t stream)
{
    for (int64_t i = 0; i < n; i++)
        x[i] = pdl_rng_normal(42, stream, (uint64_t)i);
}

/* ---- building --------------------------------------------------------------------------- */

static void test_chain_default_names_and_shapes(void)
{
    pdl_net *net = build(NET_HEADER("3x8x8", "5") "[conv]\nfilters = 4\nsize = 3\npad = 1\n"
                                                  "[maxpool]\n[flatten]\n[fc]\noutput = 5\n");
    if (!net)
        return;
    CHECK(pdl_net_layer_count(net) == 4);
    /* default names: type and position among the layer sections */
    CHECK(!strcmp(info_of(net, 0).name, "conv0"));
    CHECK(!strcmp(info_of(net, 1).name, "maxpool1"));
    CHECK(!strcmp(info_of(net, 3).name, "fc3"));
    CHECK(!strcmp(info_of(net, 0).inputs[0], "data"));
    CHECK(!strcmp(info_of(net, 1).inputs[0], "conv0"));
    CHECK(shape_is(info_of(net, 0).out_shape, 4, 1, 4, 8, 8));
    CHECK(shape_is(info_of(net, 1).out_shape, 4, 1, 4, 4, 4));
    CHECK(shape_is(info_of(net, 2).out_shape, 2, 1, 64, 0, 0));
    CHECK(shape_is(pdl_net_output_shape(net), 2, 1, 5, 0, 0));
    CHECK(info_of(net, 0).line == 4);
    CHECK(pdl_net_classes(net) == 5);
    pdl_shape in = pdl_net_input_shape(net);
    CHECK(shape_is(in, 3, 3, 8, 8, 0));
    CHECK(pdl_net_batch(net) == 1);
    CHECK(!strcmp(pdl_net_source_name(net), "test.cfg"));
    CHECK(strstr(pdl_net_source_text(net), "filters = 4") != NULL);
    CHECK_OK(pdl_net_set_batch(net, 3));
    CHECK(shape_is(pdl_net_output_shape(net), 2, 3, 5, 0, 0));
    CHECK(shape_is(info_of(net, 1).out_shape, 4, 3, 4, 4, 4));
    pdl_net_free(net);
}

static void test_act_inserts_activation(void)
{
    pdl_net *net = build(NET_HEADER("2x4x4", "3") "[conv]\nname = c1\nfilters = 2\nsize = 1\n"
                                                  "act = leaky_relu\n"
                                                  "[conv]\nname = c2\ninputs = c1\nfilters = 3\n"
                                                  "size = 1\n[flatten]\n[fc]\noutput = 3\n"
                                                  "act = sigmoid\n");
    if (!net)
        return;
    CHECK(pdl_net_layer_count(net) == 6);
    pdl_layer_info act = info_of(net, 1);
    CHECK(!strcmp(act.name, "c1.act") && !strcmp(act.type, "leaky_relu"));
    CHECK(!strcmp(act.inputs[0], "c1"));
    /* naming a layer with act = refers to its activated output */
    CHECK(!strcmp(info_of(net, 2).inputs[0], "c1.act"));
    pdl_layer_info last = info_of(net, 5);
    CHECK(!strcmp(last.name, "fc3.act") && !strcmp(last.type, "sigmoid"));
    CHECK(pdl_net_find_tensor(net, "c1.weight") >= 0);
    pdl_net_free(net);
}

/* concat and add with named, relative and data inputs */
static void test_multi_input_graph(void)
{
    pdl_net *net = build(NET_HEADER("2x4x4", "3")
                         "[conv]\nname = a\nfilters = 2\nsize = 1\n"
                         "[conv]\nname = b\ninputs = data\nfilters = 3\nsize = 3\npad = 1\n"
                         "[concat]\nname = cat\ninputs = a, b\n"
                         "[conv]\nname = c\ninputs = -1\nfilters = 2\nsize = 1\n"
                         "[add]\nname = sum\ninputs = -1, -4, a\n"
                         "[flatten]\n[fc]\noutput = 3\n[softmax_loss]\n");
    if (!net)
        return;
    CHECK(pdl_net_layer_count(net) == 8);
    pdl_layer_info cat = info_of(net, 2);
    CHECK(cat.n_inputs == 2 && !strcmp(cat.inputs[0], "a") && !strcmp(cat.inputs[1], "b"));
    CHECK(shape_is(cat.out_shape, 4, 1, 5, 4, 4));
    pdl_layer_info sum = info_of(net, 4);
    CHECK(sum.n_inputs == 3 && !strcmp(sum.inputs[0], "c") && !strcmp(sum.inputs[1], "a") &&
          !strcmp(sum.inputs[2], "a"));
    CHECK(shape_is(sum.out_shape, 4, 1, 2, 4, 4));
    CHECK(!strcmp(info_of(net, 1).inputs[0], "data"));
    CHECK(shape_is(pdl_net_output_shape(net), 2, 1, 3, 0, 0));
    pdl_net_free(net);
}

/* Inputs may name layers defined later; the order becomes topological, else file order. */
static void test_later_defined_inputs_sorted(void)
{
    pdl_net *net = build(NET_HEADER("1x4x4", "2")
                         "[add]\nname = sum\ninputs = left, right\n"
                         "[relu]\nname = left\ninputs = data\n"
                         "[tanh]\nname = right\ninputs = data\n"
                         "[flatten]\nname = flat\ninputs = sum\n"
                         "[fc]\nname = head\noutput = 2\n");
    if (!net)
        return;
    const char *want[] = {"left", "right", "sum", "flat", "head"};
    CHECK(pdl_net_layer_count(net) == 5);
    for (int i = 0; i < 5; i++)
        CHECK(!strcmp(info_of(net, i).name, want[i]));
    CHECK(info_of(net, 2).line == 4); /* lines stay those of the file */
    pdl_net_free(net);
}

static void test_repeat_blocks(void)
{
    pdl_net *net = build(NET_HEADER("4x6x6", "10")
                         "[conv]\nname = stem\nfilters = 4\nsize = 1\n"
                         "[repeat]\ncount = 3\n"
                         "[conv]\nname = block${i}.conv\nfilters = 4\nsize = 3\npad = 1\n"
                         "[add]\nname = block${i}.add\ninputs = -1, -2\n"
                         "[end]\n"
                         "[avgpool]\nglobal = 1\n[fc]\nname = fc\noutput = 10\n");
    if (!net)
        return;
    CHECK(pdl_net_layer_count(net) == 9);
    pdl_layer_info add0 = info_of(net, 2), add1 = info_of(net, 4);
    CHECK(!strcmp(add0.name, "block0.add") && !strcmp(add0.inputs[1], "stem"));
    CHECK(!strcmp(add1.name, "block1.add") && !strcmp(add1.inputs[0], "block1.conv") &&
          !strcmp(add1.inputs[1], "block0.add"));
    CHECK(pdl_net_find_tensor(net, "block2.conv.weight") >= 0);
    CHECK(pdl_net_find_tensor(net, "block3.conv.weight") == -1);
    CHECK(shape_is(pdl_net_output_shape(net), 2, 1, 10, 0, 0));
    pdl_net_free(net);
}

/* ---- tensors and init ------------------------------------------------------------------- */

static pdl_net *load_model(const char *relative)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", PDL_SOURCE_DIR, relative);
    pdl_net *net = NULL;
    CHECK_OK(pdl_net_load(path, &net));
    return net;
}

static void test_named_tensors_pytorch_layout(void)
{
    pdl_net *net = load_model("models/fashion_cnn.cfg");
    if (!net)
        return;
    /* PyTorch's state-dict order for this model: parameters, then running statistics */
    const char *want[] = {"conv1.weight", "bn1.weight", "bn1.bias", "conv2.weight", "bn2.weight",
                          "bn2.bias", "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias",
                          "bn1.running_mean", "bn1.running_var", "bn2.running_mean",
                          "bn2.running_var"};
    CHECK(pdl_net_tensor_count(net) == 14);
    int64_t param_at = 0, buffer_at = 0;
    for (int t = 0; t < 14 && t < pdl_net_tensor_count(net); t++) {
        pdl_named_tensor nt;
        CHECK_OK(pdl_net_tensor(net, t, &nt));
        CHECK(!strcmp(nt.name, want[t]));
        CHECK(pdl_net_find_tensor(net, want[t]) == t);
        CHECK(nt.trainable == (t < 10));
        /* views into the flat buffers, back to back */
        if (nt.trainable) {
            CHECK(nt.data == pdl_net_params(net) + param_at);
            CHECK(nt.grad == pdl_net_grads(net) + param_at);
            param_at += pdl_shape_count(&nt.shape);
        } else {
            CHECK(nt.data == pdl_net_buffers(net) + buffer_at && nt.grad == NULL);
            buffer_at += pdl_shape_count(&nt.shape);
        }
    }
    CHECK(param_at == pdl_net_param_count(net));
    CHECK(buffer_at == pdl_net_buffer_count(net));
    /* nn.Conv2d(1, 32, 3), nn.Linear(3136, 128): 421,738 parameters in PyTorch */
    CHECK(pdl_net_param_count(net) == 421738);
    pdl_named_tensor nt;
    CHECK_OK(pdl_net_tensor(net, 0, &nt));
    CHECK(shape_is(nt.shape, 4, 32, 1, 3, 3));
    CHECK_OK(pdl_net_tensor(net, 6, &nt));
    CHECK(shape_is(nt.shape, 2, 128, 3136, 0, 0));
    CHECK(pdl_net_find_tensor(net, "conv1.bias") == -1);
    CHECK(pdl_net_tensor(net, 14, &nt) == PDL_ERR_INVALID);
    CHECK(pdl_net_tensor(net, -1, &nt) == PDL_ERR_INVALID);
    pdl_net_free(net);
}

static void test_init_deterministic_and_distributed(void)
{
    pdl_net *a = load_model("models/fashion_cnn.cfg");
    pdl_net *b = load_model("models/fashion_cnn.cfg");
    if (!a || !b)
        goto done;
    size_t bytes = (size_t)pdl_net_param_count(a) * sizeof(float);
    size_t buffer_bytes = (size_t)pdl_net_buffer_count(a) * sizeof(float);
    CHECK_OK(pdl_net_init_params(a, 7));
    CHECK_OK(pdl_net_init_params(b, 7));
    CHECK(memcmp(pdl_net_params(a), pdl_net_params(b), bytes) == 0);
    CHECK(memcmp(pdl_net_buffers(a), pdl_net_buffers(b), buffer_bytes) == 0);
    CHECK(pdl_net_seed(a) == 7);
    CHECK_OK(pdl_net_init_params(b, 8));
    CHECK(memcmp(pdl_net_params(a), pdl_net_params(b), bytes) != 0);
    /* each tensor follows the init its layer declared */
    for (int i = 0; i < pdl_net_layer_count(a); i++)
        for (int j = 0; j < pdl_net_layer(a, i)->n_params; j++) {
            const pdl_param *p = &pdl_net_layer(a, i)->params[j];
            int64_t n = pdl_shape_count(&p->shape);
            double sum = 0, squares = 0, lo = 1e30, hi = -1e30;
            for (int64_t k = 0; k < n; k++) {
                sum += p->data[k];
                squares += (double)p->data[k] * p->data[k];
                lo = p->data[k] < lo ? p->data[k] : lo;
                hi = p->data[k] > hi ? p->data[k] : hi;
            }
            double mean = sum / (double)n, std = sqrt(squares / (double)n - mean * mean);
            if (p->init == PDL_INIT_ZERO || p->init == PDL_INIT_ONE) {
                double value = p->init == PDL_INIT_ONE ? 1.0 : 0.0;
                CHECK(lo == value && hi == value);
            } else if (p->init == PDL_INIT_HE_NORMAL) {
                double want = sqrt(2.0 / (double)p->fan_in);
                CHECK_CLOSE(std, want, 0.0, 6.0 / sqrt((double)n) + 0.01);
                CHECK(fabs(mean) < 6.0 * want / sqrt((double)n));
            } else {
                double limit = sqrt(6.0 / (double)(p->fan_in + p->fan_out));
                CHECK(lo >= -limit && hi <= limit);
                CHECK_CLOSE(std, limit / sqrt(3.0), 0.0, 6.0 / sqrt((double)n) + 0.01);
            }
        }
done:
    pdl_net_free(a);
    pdl_net_free(b);
}

/* A tensor's init depends on its name, not on its position: adding a layer changes nothing
 * else. */
static void test_init_independent_of_other_layers(void)
{
    pdl_net *a = build(NET_HEADER("3x1x1", "3") "[fc]\nname = f1\noutput = 5\n"
                                                "[fc]\nname = f2\noutput = 3\n");
    pdl_net *b = build(NET_HEADER("3x1x1", "3") "[fc]\nname = f0\ninputs = data\noutput = 7\n"
                                                "[fc]\nname = f1\ninputs = data\noutput = 5\n"
                                                "[relu]\nname = extra\n"
                                                "[fc]\nname = f2\noutput = 3\n");
    if (!a || !b)
        goto done;
    CHECK_OK(pdl_net_init_params(a, 11));
    CHECK_OK(pdl_net_init_params(b, 11));
    const char *names[] = {"f1.weight", "f2.weight"};
    for (int k = 0; k < 2; k++) {
        pdl_named_tensor ta, tb;
        CHECK_OK(pdl_net_tensor(a, pdl_net_find_tensor(a, names[k]), &ta));
        CHECK_OK(pdl_net_tensor(b, pdl_net_find_tensor(b, names[k]), &tb));
        CHECK(pdl_shape_equal(&ta.shape, &tb.shape));
        CHECK(memcmp(ta.data, tb.data, (size_t)pdl_shape_count(&ta.shape) * sizeof(float)) == 0);
    }
done:
    pdl_net_free(a);
    pdl_net_free(b);
}

static void test_batch_change_keeps_params(void)
{
    pdl_net *net = load_model("models/fashion_cnn.cfg");
    if (!net)
        return;
    CHECK_OK(pdl_net_init_params(net, 3));
    float *params = pdl_net_params(net);
    float first = params[0], last = params[pdl_net_param_count(net) - 1];
    CHECK_OK(pdl_net_set_batch(net, 5));
    CHECK(pdl_net_params(net) == params);
    CHECK(params[0] == first && params[pdl_net_param_count(net) - 1] == last);
    CHECK(shape_is(pdl_net_output_shape(net), 2, 5, 10, 0, 0));
    CHECK(pdl_net_set_batch(net, 0) == PDL_ERR_INVALID);
    CHECK_OK(pdl_net_set_batch(net, 2));
    pdl_net_free(net);
}

/* ---- forward and backward --------------------------------------------------------------- */

static double loss_at(pdl_net *net, const float *x, const int32_t *labels)
{
    CHECK_OK(pdl_net_forward(net, x, labels, true, 0));
    return (double)pdl_net_loss(net);
}

static bool grad_close(double analytic, double numeric)
{
    return fabs(analytic - numeric) <= 2e-3 + 3e-2 * fabs(numeric);
}

/* Analytic gradients of the whole-net loss against central differences, for a handful of
 * coordinates of every parameter tensor and of the input. Returns the number checked. */
static int check_gradients(pdl_net *net, int64_t batch, uint64_t seed)
{
    CHECK_OK(pdl_net_request_input_grad(net, true));
    CHECK_OK(pdl_net_set_batch(net, batch));
    CHECK_OK(pdl_net_init_params(net, seed));
    pdl_shape in = pdl_net_input_shape(net);
    int64_t n_in = batch * pdl_shape_count(&in), n_params = pdl_net_param_count(net);
    float *x = calloc((size_t)n_in, sizeof *x);
    float *grads = calloc((size_t)n_params, sizeof *grads);
    float *input_grad = calloc((size_t)n_in, sizeof *input_grad);
    int32_t labels[8];
    int checked = 0;
    if (!x || !grads || !input_grad)
        goto done;
    fill_normal(x, n_in, seed);
    for (int64_t i = 0; i < batch; i++)
        labels[i] = (int32_t)(i % pdl_net_classes(net));
    loss_at(net, x, labels);
    pdl_net_zero_grad(net);
    CHECK_OK(pdl_net_backward(net));
    memcpy(grads, pdl_net_grads(net), (size_t)n_params * sizeof *grads);
    CHECK(pdl_net_input_grad(net) != NULL);
    if (pdl_net_input_grad(net))
        memcpy(input_grad, pdl_net_input_grad(net), (size_t)n_in * sizeof *input_grad);
    const double eps = 1e-2;
    float *params = pdl_net_params(net);
    for (int t = 0; t < pdl_net_tensor_count(net); t++) {
        pdl_named_tensor nt;
        CHECK_OK(pdl_net_tensor(net, t, &nt));
        if (!nt.trainable)
            continue;
        int64_t n = pdl_shape_count(&nt.shape), offset = nt.data - params;
        for (int64_t k = 0; k < 4; k++) {
            int64_t j = offset + (k * 7919) % n;
            float saved = params[j];
            params[j] = (float)(saved + eps);
            double plus = loss_at(net, x, labels);
            params[j] = (float)(saved - eps);
            double minus = loss_at(net, x, labels);
            params[j] = saved;
            double numeric = (plus - minus) / (2 * eps);
            checked++;
            if (!grad_close(grads[j], numeric)) {
                fprintf(stderr, "  %s[%lld]: analytic %.6g numeric %.6g\n", nt.name,
                        (long long)(j - offset), grads[j], numeric);
                CHECK(grad_close(grads[j], numeric));
            }
        }
    }
    for (int64_t k = 0; k < 6; k++) {
        int64_t j = (k * 104729) % n_in;
        float saved = x[j];
        x[j] = (float)(saved + eps);
        double plus = loss_at(net, x, labels);
        x[j] = (float)(saved - eps);
        double minus = loss_at(net, x, labels);
        x[j] = saved;
        double numeric = (plus - minus) / (2 * eps);
        checked++;
        if (!grad_close(input_grad[j], numeric)) {
            fprintf(stderr, "  input[%lld]: analytic %.6g numeric %.6g\n", (long long)j,
                    input_grad[j], numeric);
            CHECK(grad_close(input_grad[j], numeric));
        }
    }
done:
    free(x);
    free(grads);
    free(input_grad);
    return checked;
}

static void test_gradients_match_finite_differences(void)
{
    pdl_net *net = build(NET_HEADER("2x5x5", "3")
                         "[conv]\nname = conv\nfilters = 3\nsize = 3\npad = 1\n"
                         "[batchnorm]\nname = bn\n[tanh]\n"
                         "[avgpool]\nsize = 2\n"
                         "[fc]\nname = fc1\noutput = 4\nact = sigmoid\n"
                         "[fc]\nname = fc2\noutput = 3\n"
                         "[softmax_loss]\nname = loss\n");
    if (!net)
        return;
    /* conv w, b; bn w, b; fc1 w, b; fc2 w, b: 4 points each, and 6 input points */
    CHECK(check_gradients(net, 2, 5) == 8 * 4 + 6);
    pdl_net_free(net);
}

/* A layer feeding two consumers (and the input feeding two layers) gets the sum of their
 * gradients: layers add into din. */
static void test_fan_out_accumulates(void)
{
    pdl_net *net = build(NET_HEADER("3x1x1", "2")
                         "[fc]\nname = shared\noutput = 4\nact = tanh\n"
                         "[fc]\nname = a\ninputs = shared\noutput = 2\n"
                         "[fc]\nname = b\ninputs = shared\noutput = 2\n"
                         "[fc]\nname = skip\ninputs = data\noutput = 2\n"
                         "[add]\nname = sum\ninputs = a, b, skip\n"
                         "[softmax_loss]\nname = loss\n");
    if (!net)
        return;
    CHECK(check_gradients(net, 3, 9) == 8 * 4 + 6);
    /* gradients accumulate across backward calls until zeroed */
    float *g = pdl_net_grads(net);
    CHECK_OK(pdl_net_forward(net, (float[9]){1, 2, 3, 4, 5, 6, 7, 8, 9}, (int32_t[3]){0, 1, 0},
                             true, 1));
    pdl_net_zero_grad(net);
    CHECK_OK(pdl_net_backward(net));
    float once = g[0];
    CHECK(pdl_net_backward(net) == PDL_ERR_INVALID); /* one backward per training forward */
    CHECK_OK(pdl_net_forward(net, (float[9]){1, 2, 3, 4, 5, 6, 7, 8, 9}, (int32_t[3]){0, 1, 0},
                             true, 1));
    CHECK_OK(pdl_net_backward(net));
    CHECK_CLOSE(g[0], 2 * once, 1e-7, 1e-5);
    pdl_net_free(net);
}

static void test_forward_outputs_and_runtime_errors(void)
{
    pdl_net *net = build(NET_HEADER("3x1x1", "4") "[fc]\noutput = 4\n[softmax_loss]\n");
    pdl_net *no_loss = build(NET_HEADER("3x1x1", "4") "[fc]\noutput = 4\n");
    if (!net || !no_loss)
        goto done;
    CHECK_OK(pdl_net_init_params(net, 1));
    CHECK_OK(pdl_net_set_batch(net, 2));
    float x[6] = {1, -2, 3, 0.5f, 0, -1};
    CHECK(pdl_net_backward(net) == PDL_ERR_INVALID); /* no forward yet */
    CHECK_OK(pdl_net_forward(net, x, NULL, false, 0));
    CHECK(isnan(pdl_net_loss(net)));
    const float *p = pdl_net_output(net); /* softmax probabilities */
    CHECK_CLOSE(p[0] + p[1] + p[2] + p[3], 1.0, 1e-5, 0);
    CHECK(pdl_net_backward(net) == PDL_ERR_INVALID); /* eval forward */
    CHECK(pdl_net_forward(net, x, (int32_t[2]){0, 4}, true, 0) == PDL_ERR_INVALID);
    CHECK(strstr(pdl_last_error(), "label 4") != NULL);
    CHECK_OK(pdl_net_forward(net, x, (int32_t[2]){0, 3}, true, 0));
    CHECK(pdl_net_loss(net) > 0);
    CHECK_OK(pdl_net_backward(net));
    CHECK_OK(pdl_net_forward(no_loss, x, NULL, true, 0));
    CHECK(pdl_net_backward(no_loss) == PDL_ERR_INVALID);
    CHECK(pdl_net_outputs_probabilities(net));
    CHECK(!pdl_net_outputs_probabilities(no_loss));
done:
    pdl_net_free(net);
    pdl_net_free(no_loss);
}

/* ---- analysis --------------------------------------------------------------------------- */

static void test_receptive_field(void)
{
    pdl_net *net = build(NET_HEADER("1x32x32", "1")
                         "[conv]\nname = s2\nfilters = 1\nsize = 3\nstride = 2\npad = 1\n"
                         "[conv]\nname = c3\nfilters = 1\nsize = 3\npad = 1\n"
                         "[relu]\nname = r3\n"
                         "[maxpool]\nname = pool\nsize = 2\n"
                         "[conv]\nname = wide\nfilters = 1\nsize = 1x3\npad = same\n"
                         "[conv]\nname = side\ninputs = data\nfilters = 1\nsize = 5\n"
                         "stride = 4\npad = 1\n"
                         "[concat]\nname = cat\ninputs = wide, side\n");
    if (!net)
        return;
    /* rf = rf_in + (k - 1) * jump_in, jump = jump_in * stride */
    pdl_layer_info i0 = info_of(net, 0), i1 = info_of(net, 1), relu = info_of(net, 2);
    pdl_layer_info i2 = info_of(net, 3), i3 = info_of(net, 4), i4 = info_of(net, 5);
    pdl_layer_info i5 = info_of(net, 6);
    CHECK(i0.rf_h == 3 && i0.rf_w == 3 && i0.jump_h == 2);
    CHECK(i1.rf_h == 7 && i1.jump_h == 2);
    /* an elementwise layer keeps rf and jump */
    CHECK(relu.rf_h == 7 && relu.rf_w == 7 && relu.jump_h == 2);
    CHECK(i2.rf_h == 9 && i2.jump_h == 4);
    CHECK(i3.rf_h == 9 && i3.rf_w == 17 && i3.jump_w == 4);
    CHECK(i4.rf_h == 5 && i4.jump_h == 4);
    /* a merge starts from the largest rf and jump among its inputs */
    CHECK(i5.rf_h == 9 && i5.rf_w == 17 && i5.jump_h == 4);
    pdl_net_free(net);
}

static void test_layer_figures_and_memory(void)
{
    pdl_net *net = load_model("models/fashion_cnn.cfg");
    if (!net)
        return;
    pdl_layer_info conv1 = info_of(net, 0);
    CHECK(!strcmp(conv1.type, "conv"));
    CHECK(conv1.params == 32 * 9);
    CHECK(conv1.macs == 28 * 28 * 32 * 9);
    CHECK(conv1.activation_bytes == 32 * 28 * 28 * 4);
    CHECK(info_of(net, layer_index(net, "bn1")).params == 64);
    int64_t params = 0;
    for (int i = 0; i < pdl_net_layer_count(net); i++)
        params += info_of(net, i).params;
    CHECK(params == pdl_net_param_count(net));
    pdl_layer_info bad;
    CHECK(pdl_net_layer_info(net, pdl_net_layer_count(net), &bad) == PDL_ERR_INVALID);
    /* one more optimizer float per parameter costs exactly 4 bytes per parameter */
    int64_t sgd = pdl_net_training_bytes(net, 1), adam = pdl_net_training_bytes(net, 2);
    CHECK(adam - sgd == 4 * pdl_net_param_count(net));
    int64_t inference = pdl_net_inference_bytes(net);
    CHECK(inference < sgd);
    /* at least parameters, gradients, momentum, and the largest activation with its gradient
     * (the memory plan reuses buffers: tests/test_memory_plan.c) */
    int64_t largest = 0;
    for (int i = 0; i < pdl_net_layer_count(net); i++)
        if (info_of(net, i).activation_bytes > largest)
            largest = info_of(net, i).activation_bytes;
    CHECK(sgd >= 12 * pdl_net_param_count(net) + 2 * largest);
    CHECK(inference >= 4 * (pdl_net_param_count(net) + pdl_net_buffer_count(net)) + largest);
    CHECK_OK(pdl_net_set_batch(net, 8));
    CHECK(pdl_net_training_bytes(net, 1) > sgd);
    CHECK(info_of(net, 0).macs == 8 * conv1.macs);
    pdl_net_free(net);
}

/* ---- errors in model files -------------------------------------------------------------- */

static void expect_error(const char *text, pdl_status code, const char *part1, const char *part2)
{
    pdl_net *net = NULL;
    pdl_status st = pdl_net_from_text(text, "bad.cfg", &net);
    CHECK(st == code);
    CHECK(net == NULL);
    const char *message = pdl_last_error();
    bool found = strstr(message, part1) && (!part2 || strstr(message, part2));
    if (!found)
        fprintf(stderr, "  message '%s' lacks '%s' / '%s'\n", message, part1,
                part2 ? part2 : "");
    CHECK(found);
    if (st == PDL_OK)
        pdl_net_free(net);
}

static void test_model_file_errors(void)
{
    const char *head = NET_HEADER("1x2x2", "4"); /* lines 1-3 */
    char text[1024];
#define BAD(body, code, part1, part2)                                                            \
    do {                                                                                          \
        snprintf(text, sizeof text, "%s%s", head, body);                                         \
        expect_error(text, code, part1, part2);                                                  \
    } while (0)
    BAD("[relu]\nname = a\ninputs = b\n[relu]\nname = b\ninputs = a\n[flatten]\ninputs = a\n",
        PDL_ERR_PARSE, "cycle", "b (line 7) -> a (line 4)");
    BAD("[relu]\nname = a\ninputs = a\n", PDL_ERR_PARSE, "bad.cfg:4: layer inputs form a cycle",
        "a (line 4) -> a (line 4)");
    BAD("[relu]\nname = a\n[relu]\ninputs = nowhere\n", PDL_ERR_PARSE, "bad.cfg:7",
        "no layer named 'nowhere'");
    BAD("[relu]\nname = x\n[tanh]\nname = x\n", PDL_ERR_PARSE, "bad.cfg:7",
        "duplicate layer name 'x' (first at line 4)");
    BAD("[relu]\nname = a\nfoo = 1\n", PDL_ERR_PARSE, "bad.cfg:6", "foo");
    BAD("[relu]\n[bogus]\n", PDL_ERR_PARSE, "bad.cfg:5: unknown layer type 'bogus'", NULL);
    BAD("[relu]\ninputs = -1\n", PDL_ERR_PARSE, "bad.cfg:5", "before the first layer");
    BAD("[relu]\n[relu]\ninputs = -2\n", PDL_ERR_PARSE, "bad.cfg:6", "before the first layer");
    BAD("[relu]\ninputs = 2\n", PDL_ERR_PARSE, "bad.cfg:5", "negative");
    BAD("[relu]\n[add]\ninputs = -1\n", PDL_ERR_PARSE, "bad.cfg:6", "got 1");
    BAD("[relu]\n[relu]\ninputs = -1, data\n", PDL_ERR_PARSE, "bad.cfg:6", "takes 1 input, got 2");
    BAD("[relu]\nname = data\n", PDL_ERR_PARSE, "bad.cfg:5", "'data'");
    BAD("[relu]\nact = relu\n", PDL_ERR_PARSE, "bad.cfg:5", "only conv and fc take 'act'");
    BAD("[fc]\noutput = 4\nact = softplus\n", PDL_ERR_PARSE, "bad.cfg:6", "act");
    BAD("[flatten]\n[softmax_loss]\n[relu]\n", PDL_ERR_PARSE, "must be the last layer", NULL);
    BAD("[flatten]\n[fc]\noutput = 3\n", PDL_ERR_SHAPE, "classes = 4", NULL);
    BAD("[net]\ninput = 1x2x2\nclasses = 4\n[relu]\n", PDL_ERR_PARSE, "a second [net]", NULL);
#undef BAD
    expect_error("[relu]\n", PDL_ERR_PARSE, "bad.cfg: no [net] section", NULL);
    expect_error("[net]\nclasses = 3\n[relu]\n", PDL_ERR_PARSE, "bad.cfg:1",
                 "missing required key 'input'");
    expect_error("[net]\ninput = 3x4x4\n[relu]\n", PDL_ERR_PARSE, "bad.cfg:1",
                 "missing required key 'classes'");
    expect_error("[net]\ninput = 3x4\nclasses = 3\n[relu]\n", PDL_ERR_PARSE, "bad.cfg:2",
                 "CxHxW");
    expect_error(NET_HEADER("1x2x2", "4"), PDL_ERR_PARSE, "no layers", NULL);
    pdl_net *net = NULL;
    CHECK(pdl_net_load(PDL_SOURCE_DIR "/models/no_such_model.cfg", &net) == PDL_ERR_IO);
    CHECK(net == NULL && strstr(pdl_last_error(), "no_such_model.cfg") != NULL);
}

int main(void)
{
    RUN(test_chain_default_names_and_shapes);
    RUN(test_act_inserts_activation);
    RUN(test_multi_input_graph);
    RUN(test_later_defined_inputs_sorted);
    RUN(test_repeat_blocks);
    RUN(test_named_tensors_pytorch_layout);
    RUN(test_init_deterministic_and_distributed);
    RUN(test_init_independent_of_other_layers);
    RUN(test_batch_change_keeps_params);
    RUN(test_gradients_match_finite_differences);
    RUN(test_fan_out_accumulates);
    RUN(test_forward_outputs_and_runtime_errors);
    RUN(test_receptive_field);
    RUN(test_layer_figures_and_memory);
    RUN(test_model_file_errors);
    return harness_summary();
}
