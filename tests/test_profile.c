/* pdl/bench.h: per-layer timing (an entry per layer, positive finite times, pdl_net_layer_info's
 * MACs, skipped backwards marked, parameters untouched), timing statistics, a sane machine peak.
 * No timing thresholds: speed is bench/'s business. */
#include "harness.h"
#include "pdl/pdl.h"

#include <string.h>

/* conv0 sees the data (no input gradient), the others have both gradient products. */
static const char *const tiny_net = "[net]\ninput = 2x8x8\nclasses = 3\n"
                                    "[conv]\nname = conv0\nfilters = 2\nsize = 3\npad = 1\n"
                                    "[maxpool]\nname = pool0\nsize = 2\n"
                                    "[conv]\nname = conv1\nfilters = 4\nsize = 3\npad = 1\n"
                                    "act = relu\n"
                                    "[batchnorm]\nname = bn1\n"
                                    "[fc]\nname = fc1\noutput = 3\n"
                                    "[softmax_loss]\nname = loss\n";

static pdl_net *make_net(const char *text, int64_t batch)
{
    pdl_net *net = NULL;
    CHECK_OK(pdl_net_from_text(text, "<tiny>", &net));
    if (!net)
        return NULL;
    CHECK_OK(pdl_net_set_batch(net, batch));
    CHECK_OK(pdl_net_init_params(net, 7));
    return net;
}

/* The mean loss of a training forward on a fixed input. */
static float loss_of(pdl_net *net, const float *x, const int32_t *labels)
{
    CHECK_OK(pdl_net_forward(net, x, labels, true, 0));
    return pdl_net_loss(net);
}

static void test_time_layers(void)
{
    pdl_net *net = make_net(tiny_net, 3);
    if (!net)
        return;
    const int n = pdl_net_layer_count(net);
    CHECK(n == 7); /* conv0 pool0 conv1 conv1.act bn1 fc1 loss */
    float x[3 * 2 * 8 * 8];
    for (size_t i = 0; i < sizeof x / sizeof x[0]; i++)
        x[i] = (float)((i * 37) % 11) / 11.0f - 0.5f;
    const int32_t labels[3] = {0, 2, 1};
    const float before = loss_of(net, x, labels);

    pdl_layer_timing t[8];
    memset(t, 0, sizeof t);
    t[n].forward_ms = -123.0; /* one past the last layer: must stay untouched */
    CHECK_OK(pdl_net_time_layers(net, 3, t));
    CHECK(t[n].forward_ms == -123.0);
    for (int i = 0; i < n; i++) {
        pdl_layer_info info;
        CHECK_OK(pdl_net_layer_info(net, i, &info));
        CHECK(isfinite(t[i].forward_ms) && t[i].forward_ms > 0);
        CHECK(t[i].has_backward); /* every layer here has parameters or an input gradient */
        CHECK(isfinite(t[i].backward_ms) && t[i].backward_ms > 0);
        CHECK(t[i].macs == info.macs);
        if (!strcmp(info.name, "conv0"))
            CHECK(t[i].backward_macs == t[i].macs && t[i].macs > 0); /* weights only */
        if (!strcmp(info.name, "conv1") || !strcmp(info.name, "fc1"))
            CHECK(t[i].backward_macs == 2 * t[i].macs && t[i].macs > 0);
        if (t[i].macs == 0)
            CHECK(t[i].backward_macs == 0);
    }
    /* Parameters are untouched: the same input gives the same loss, bit for bit. */
    const float after = loss_of(net, x, labels);
    CHECK(before == after);
    /* and the net still trains */
    CHECK_OK(pdl_net_backward(net));
    pdl_net_free(net);
}

/* A layer the net skips in backward (no parameters, the data needs no gradient). */
static void test_skipped_backward(void)
{
    pdl_net *net = make_net("[net]\ninput = 1x4x4\nclasses = 2\n[maxpool]\nname = p\nsize = 2\n"
                            "[fc]\nname = f\noutput = 2\n[softmax_loss]\n", 2);
    if (!net)
        return;
    pdl_layer_timing t[3];
    CHECK(pdl_net_layer_count(net) == 3);
    CHECK_OK(pdl_net_time_layers(net, 1, t));
    CHECK(!t[0].has_backward && t[0].backward_ms == 0.0 && t[0].forward_ms > 0);
    CHECK(t[1].has_backward && t[1].backward_ms > 0);
    CHECK(t[1].backward_macs >= t[1].macs && t[1].macs > 0);
    pdl_net_free(net);
}

static void test_time_layers_errors(void)
{
    pdl_layer_timing t[8];
    pdl_net *net = make_net(tiny_net, 1);
    if (net)
        CHECK(pdl_net_time_layers(net, 0, t) == PDL_ERR_INVALID);
    pdl_net_free(net);
    /* no loss layer: a training step has nothing to backpropagate */
    net = make_net("[net]\ninput = 1x4x4\nclasses = 16\n[flatten]\n", 1);
    if (net) {
        CHECK(pdl_net_time_layers(net, 1, t) == PDL_ERR_INVALID);
        CHECK(strstr(pdl_last_error(), "loss layer") != NULL);
    }
    pdl_net_free(net);
}

static void test_stats(void)
{
    double odd[3] = {3.0, 1.0, 2.0};
    pdl_timing_stats s = pdl_timing_stats_of(odd, 3);
    CHECK(s.median == 2.0 && s.min == 1.0 && s.max == 3.0);
    double even[4] = {4.0, 1.0, 3.0, 2.0};
    s = pdl_timing_stats_of(even, 4);
    CHECK(s.median == 2.5 && s.min == 1.0 && s.max == 4.0);
    double one[1] = {5.0};
    s = pdl_timing_stats_of(one, 1);
    CHECK(s.median == 5.0 && s.min == 5.0 && s.max == 5.0);
    double a = pdl_seconds(), b = pdl_seconds();
    CHECK(isfinite(a) && b >= a);
}

static void test_machine_peak(void)
{
    pdl_machine_peak_result p;
    memset(&p, 0, sizeof p);
    CHECK_OK(pdl_machine_peak(&p));
    CHECK(p.isa && p.isa[0] != '\0');
    CHECK(!strcmp(p.isa, "avx512f") || !strcmp(p.isa, "avx2+fma") || !strcmp(p.isa, "c"));
    CHECK(p.threads >= 1);
    CHECK(isfinite(p.gflops_1thread) && p.gflops_1thread > 0);
    CHECK(isfinite(p.gflops_all) && p.gflops_all > 0);
    CHECK(isfinite(p.bandwidth_gbs) && p.bandwidth_gbs > 0);
    CHECK(p.seconds > 0);
}

int main(void)
{
    RUN(test_stats);
    RUN(test_time_layers);
    RUN(test_skipped_backward);
    RUN(test_time_layers_errors);
    RUN(test_machine_peak);
    return harness_summary();
}
