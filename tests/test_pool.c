/* Tests of the maxpool and avgpool layers: output sizes and values against PyTorch (ceil mode,
 * padding, count_include_pad), gradient checks for every option, MACs and receptive field,
 * thread-count independence and errors for bad options and shapes. */
#include "gradcheck.h"
#include "harness.h"
#include "layer_checks.h"

#include <string.h>

/* {input size, window, stride, pad, ceil, output size} from PyTorch 1.13:
 * F.max_pool2d(torch.zeros(1, 1, n, n), k, s, p, ceil_mode=c).shape[-1] */
static const int64_t torch_sizes[][6] = {
    {7, 2, 2, 0, 0, 3},    {7, 2, 2, 0, 1, 4},    {8, 3, 2, 1, 0, 4}, {8, 3, 2, 1, 1, 5},
    {5, 3, 3, 1, 1, 2},    {6, 3, 3, 1, 1, 3},    {5, 2, 3, 1, 1, 2}, {13, 3, 2, 0, 1, 6},
    {112, 3, 2, 1, 0, 56}, {112, 3, 2, 0, 1, 56}, {1, 1, 1, 0, 0, 1}, {3, 3, 1, 1, 1, 3},
    {6, 4, 4, 2, 1, 2},    {4, 2, 3, 1, 1, 2},
};

static layer_harness *make(const pdl_layer_ops *ops, const char *options, pdl_shape in)
{
    return lh_create(ops, options, 1, &in, 5);
}

static void test_output_sizes_match_torch(void)
{
    for (size_t i = 0; i < sizeof torch_sizes / sizeof torch_sizes[0]; i++) {
        const int64_t *t = torch_sizes[i];
        char options[128];
        snprintf(options, sizeof options, "size=%lld stride=%lld pad=%lld ceil=%lld",
                 (long long)t[1], (long long)t[2], (long long)t[3], (long long)t[4]);
        const pdl_layer_ops *all[2] = {&pdl_layer_maxpool, &pdl_layer_avgpool};
        for (int j = 0; j < 2; j++) {
            layer_harness *h = make(all[j], options, pdl_shape_4d(2, 3, t[0], t[0]));
            CHECK(h != NULL);
            if (!h)
                continue;
            pdl_shape expected = pdl_shape_4d(2, 3, t[5], t[5]);
            if (!pdl_shape_equal(&h->layer.out_shape, &expected)) {
                fprintf(stderr, "  %s %s on %lld: got %lld, PyTorch %lld\n", all[j]->type, options,
                        (long long)t[0], (long long)h->layer.out_shape.dim[2], (long long)t[5]);
                CHECK(false);
            }
            lh_free(h);
        }
    }
}

/* Runs a forward on x (count values) and compares with PyTorch's output. */
static void check_values(const pdl_layer_ops *ops, const char *options, pdl_shape in,
                         const float *x, const float *expected, int64_t count)
{
    layer_harness *h = make(ops, options, in);
    CHECK(h != NULL);
    if (!h)
        return;
    CHECK(lh_out_count(h) == count);
    memcpy(h->in[0], x, (size_t)lh_in_count(h, 0) * sizeof(float));
    lh_forward(h);
    for (int64_t i = 0; i < count && i < lh_out_count(h); i++)
        CHECK_CLOSE(h->out[i], expected[i], 1e-6, 1e-6);
    lh_free(h);
}

/* Values from PyTorch 1.13 (F.avg_pool2d / F.max_pool2d on arange inputs). */
static void test_values_match_torch(void)
{
    float x9[9], x20[20], neg20[20];
    for (int i = 0; i < 20; i++) {
        if (i < 9)
            x9[i] = (float)(i + 1);
        x20[i] = (float)(i + 1);
        neg20[i] = -(float)(i + 1);
    }
    pdl_shape s33 = pdl_shape_4d(1, 1, 3, 3), s45 = pdl_shape_4d(1, 1, 4, 5);
    const float include[4] = {0.25f, 1.25f, 2.75f, 7.0f};
    const float exclude[4] = {1.0f, 2.5f, 5.5f, 7.0f};
    check_values(&pdl_layer_avgpool, "size=2 stride=2 pad=1", s33, x9, include, 4);
    check_values(&pdl_layer_avgpool, "size=2 stride=2 pad=1 ceil=1", s33, x9, include, 4);
    check_values(&pdl_layer_avgpool, "size=2 stride=2 pad=1 count_pad=0", s33, x9, exclude, 4);
    check_values(&pdl_layer_avgpool, "size=2 stride=2 pad=1 ceil=1 count_pad=0", s33, x9, exclude,
                 4);
    /* Ceil mode with windows running past the padded input: the divisor is clipped to it. */
    const float avg45[9] = {1.7777777910232544f,
                            3.6666667461395264f,
                            3.1111111640930176f,
                            7.666666507720947f,
                            13.0f,
                            9.666666984558105f,
                            5.5f,
                            9.0f,
                            6.5f};
    check_values(&pdl_layer_avgpool, "size=3 stride=2 pad=1 ceil=1", s45, x20, avg45, 9);
    const float max45[9] = {-1, -2, -4, -6, -7, -9, -16, -17, -19};
    check_values(&pdl_layer_maxpool, "size=3 stride=2 pad=1 ceil=1", s45, neg20, max45, 9);
    const float global_avg[1] = {10.5f}, global_max[1] = {20.0f};
    check_values(&pdl_layer_avgpool, "global=1", s45, x20, global_avg, 1);
    check_values(&pdl_layer_maxpool, "global=1", s45, x20, global_max, 1);
}

/* Ties send the gradient to the first maximum, and NaN propagates, as in PyTorch 1.13:
 * max_pool2d(zeros(1, 1, 2, 3), 2, 1).sum().backward() gives x.grad = [1, 1, 0, 0, 0, 0]. */
static void test_max_ties_and_nan(void)
{
    layer_harness *h = make(&pdl_layer_maxpool, "size=2 stride=1", pdl_shape_4d(1, 1, 2, 3));
    CHECK(h != NULL);
    if (!h)
        return;
    memset(h->in[0], 0, 6 * sizeof(float));
    h->dout[0] = h->dout[1] = 1.0f;
    lh_forward(h);
    lh_backward(h);
    const float expected[6] = {1, 1, 0, 0, 0, 0};
    for (int i = 0; i < 6; i++)
        CHECK(h->din[0][i] == expected[i]);
    const float with_nan[6] = {1.0f, NAN, 5.0f, 3.0f, 2.0f, 4.0f};
    memcpy(h->in[0], with_nan, sizeof with_nan);
    lh_forward(h);
    CHECK(isnan(h->out[0]) && isnan(h->out[1]));
    lh_free(h);
}

static void test_gradients(void)
{
    pdl_shape x = pdl_shape_4d(2, 3, 7, 6);
    CHECK_GRADIENTS(pdl_layer_maxpool, "size=2", 1, &x);
    CHECK_GRADIENTS(pdl_layer_maxpool, "size=3 stride=2 pad=1", 1, &x);
    CHECK_GRADIENTS(pdl_layer_maxpool, "size=3 stride=2 ceil=1", 1, &x);
    CHECK_GRADIENTS(pdl_layer_maxpool, "size=2x3 stride=1x2 pad=1x0 ceil=1", 1, &x);
    CHECK_GRADIENTS(pdl_layer_maxpool, "global=1", 1, &x);
    CHECK_GRADIENTS(pdl_layer_avgpool, "size=2", 1, &x);
    CHECK_GRADIENTS(pdl_layer_avgpool, "size=3 stride=2 pad=1", 1, &x);
    CHECK_GRADIENTS(pdl_layer_avgpool, "size=3 stride=2 pad=1 count_pad=0", 1, &x);
    CHECK_GRADIENTS(pdl_layer_avgpool, "size=3 stride=2 pad=1 ceil=1", 1, &x);
    CHECK_GRADIENTS(pdl_layer_avgpool, "size=3 stride=2 pad=1 ceil=1 count_pad=0", 1, &x);
    CHECK_GRADIENTS(pdl_layer_avgpool, "size=2x3 stride=1x2 pad=1x0", 1, &x);
    CHECK_GRADIENTS(pdl_layer_avgpool, "global=1", 1, &x);
}

static void test_accounting(void)
{
    pdl_shape in = pdl_shape_4d(2, 3, 9, 8);
    layer_harness *h = make(&pdl_layer_avgpool, "size=3 stride=2 pad=1", in);
    CHECK(h != NULL);
    if (h) {
        pdl_shape out = pdl_shape_4d(2, 3, 5, 4); /* floor((9+2-3)/2)+1, floor((8+2-3)/2)+1 */
        CHECK(pdl_shape_equal(&h->layer.out_shape, &out));
        CHECK(h->layer.macs == (int64_t)2 * 3 * 5 * 4 * 9);
        CHECK(h->layer.rf_kernel_h == 3 && h->layer.rf_kernel_w == 3);
        CHECK(h->layer.rf_stride_h == 2 && h->layer.rf_stride_w == 2);
        CHECK(h->layer.n_params == 0 && h->layer.saved_bytes == 0);
        lh_free(h);
    }
    h = make(&pdl_layer_maxpool, "size=2", in);
    CHECK(h != NULL);
    if (h) {
        pdl_shape out = pdl_shape_4d(2, 3, 4, 4);
        CHECK(pdl_shape_equal(&h->layer.out_shape, &out));
        CHECK(h->layer.macs == 0);
        CHECK(h->layer.rf_stride_h == 2 && h->layer.rf_kernel_w == 2);
        CHECK(h->layer.saved_bytes >= (size_t)2 * 3 * 4 * 4 * sizeof(int32_t));
        lh_free(h);
    }
    h = make(&pdl_layer_avgpool, "global=1", in);
    CHECK(h != NULL);
    if (h) {
        pdl_shape out = pdl_shape_4d(2, 3, 1, 1);
        CHECK(pdl_shape_equal(&h->layer.out_shape, &out));
        CHECK(h->layer.rf_kernel_h == 9 && h->layer.rf_kernel_w == 8);
        CHECK(h->layer.macs == (int64_t)2 * 3 * 9 * 8);
        lh_free(h);
    }
}

/* Forward and backward on a 3-thread pool give the same bits as without a pool. */
static void test_threads(void)
{
    pdl_threadpool *pool = NULL;
    CHECK_OK(pdl_threadpool_create(3, &pool));
    const pdl_layer_ops *all[2] = {&pdl_layer_maxpool, &pdl_layer_avgpool};
    for (int j = 0; j < 2; j++) {
        pdl_shape in = pdl_shape_4d(4, 5, 33, 31);
        layer_harness *a = make(all[j], "size=3 stride=2 pad=1 ceil=1", in);
        layer_harness *b = make(all[j], "size=3 stride=2 pad=1 ceil=1", in);
        CHECK(a && b);
        if (a && b) {
            b->ctx.pool = pool;
            lh_forward(a), lh_backward(a);
            lh_forward(b), lh_backward(b);
            CHECK(memcmp(a->out, b->out, (size_t)lh_out_count(a) * sizeof(float)) == 0);
            CHECK(memcmp(a->din[0], b->din[0], (size_t)lh_in_count(a, 0) * sizeof(float)) == 0);
        }
        lh_free(a);
        lh_free(b);
    }
    pdl_threadpool_free(pool);
}

/* The PyTorch rules written out per output, straight from the definition: window rows
 * [oh * sh - ph, + kh) clipped to the padded input for the avg divisor (count_pad) and to the
 * input for the values; max takes the first maximum in row-major order, and the last NaN.
 * Forward into y and backward (dy into dx) of one plane. */
typedef struct naive_pool {
    int64_t kh, kw, sh, sw, ph, pw;
    bool avg, count_pad;
} naive_pool;

static void naive_plane(const naive_pool *p, const float *x, int64_t h, int64_t w, int64_t oh_n,
                        int64_t ow_n, float *y, const float *dy, float *dx)
{
    for (int64_t oh = 0; oh < oh_n; oh++)
        for (int64_t ow = 0; ow < ow_n; ow++) {
            int64_t h0 = oh * p->sh - p->ph, w0 = ow * p->sw - p->pw;
            int64_t h1 = h0 + p->kh < h + p->ph ? h0 + p->kh : h + p->ph;
            int64_t w1 = w0 + p->kw < w + p->pw ? w0 + p->kw : w + p->pw;
            int64_t padded = (h1 - h0) * (w1 - w0);
            h0 = h0 > 0 ? h0 : 0, w0 = w0 > 0 ? w0 : 0;
            h1 = h1 < h ? h1 : h, w1 = w1 < w ? w1 : w;
            float sum = 0.0f, best = -INFINITY;
            int64_t at = -1;
            for (int64_t i = h0; i < h1; i++)
                for (int64_t j = w0; j < w1; j++) {
                    float v = x[i * w + j];
                    sum += v;
                    if (at < 0 || v > best || isnan(v))
                        best = v, at = i * w + j;
                }
            float divisor = (float)(p->count_pad ? padded : (h1 - h0) * (w1 - w0));
            float g = dy[oh * ow_n + ow];
            y[oh * ow_n + ow] = p->avg ? sum / divisor : best;
            if (!p->avg)
                dx[at] += g;
            for (int64_t i = h0; i < h1 && p->avg; i++)
                for (int64_t j = w0; j < w1; j++)
                    dx[i * w + j] += g / divisor;
        }
}

/* The vectorized kernels (each specialized window and the generic one, interior and border
 * columns) against naive_forward on odd shapes with ties and a NaN: max exactly, argmax through
 * the gradient exactly, avg exactly forward (same sum order) and to rounding backward. */
static void test_against_naive(void)
{
    const struct {
        const char *options;
        naive_pool p;
    } cases[] = {
        {"size=2 stride=2", {2, 2, 2, 2, 0, 0, false, true}},
        {"size=3 stride=2", {3, 3, 2, 2, 0, 0, false, true}},
        {"size=3 stride=2 pad=1", {3, 3, 2, 2, 1, 1, false, true}},
        {"size=3 stride=2 ceil=1", {3, 3, 2, 2, 0, 0, false, true}},
        {"size=3 stride=1 pad=1 ceil=1", {3, 3, 1, 1, 1, 1, false, true}},
        {"size=2x3 stride=1x2 pad=1x1", {2, 3, 1, 2, 1, 1, false, true}},
        {"size=5 stride=3 pad=2", {5, 5, 3, 3, 2, 2, false, true}},
        {"size=1 stride=1", {1, 1, 1, 1, 0, 0, false, true}},
    };
    const int64_t sizes[][2] = {{13, 17}, {9, 8}, {5, 40}, {3, 3}, {33, 7}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
        for (int avg = 0; avg < 2; avg++)
            for (int count_pad = avg; count_pad >= 0; count_pad--)
                for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
                    naive_pool p = cases[c].p;
                    p.avg = avg, p.count_pad = count_pad;
                    char options[128];
                    snprintf(options, sizeof options, "%s%s", cases[c].options,
                             avg && !count_pad ? " count_pad=0" : "");
                    pdl_shape in = pdl_shape_4d(2, 3, sizes[s][0], sizes[s][1]);
                    if (in.dim[2] + 2 * p.ph < p.kh || in.dim[3] + 2 * p.pw < p.kw)
                        continue;
                    layer_harness *h =
                        make(avg ? &pdl_layer_avgpool : &pdl_layer_maxpool, options, in);
                    CHECK(h != NULL);
                    if (!h)
                        continue;
                    int64_t planes = 6, hw = in.dim[2] * in.dim[3];
                    int64_t oh_n = h->layer.out_shape.dim[2], ow_n = h->layer.out_shape.dim[3];
                    for (int64_t i = 0; i < planes * hw; i++) /* quarters: many ties */
                        h->in[0][i] = floorf(h->in[0][i] * 4.0f) / 4.0f;
                    h->in[0][hw + 5] = NAN;
                    float *y = lh_alloc(planes * oh_n * ow_n), *dx = lh_alloc(planes * hw);
                    for (int64_t q = 0; q < planes; q++)
                        naive_plane(&p, h->in[0] + q * hw, in.dim[2], in.dim[3], oh_n, ow_n,
                                    y + q * oh_n * ow_n, h->dout + q * oh_n * ow_n, dx + q * hw);
                    for (int training = 0; training < 2; training++) {
                        h->ctx.training = training;
                        lh_forward(h);
                        if (!same_values(h->out, y, planes * oh_n * ow_n)) {
                            fprintf(stderr, "  %s on %lldx%lld (training %d): output differs\n",
                                    options, (long long)in.dim[2], (long long)in.dim[3],
                                    training);
                            CHECK(false);
                        }
                    }
                    lh_backward(h);
                    if (avg)
                        for (int64_t i = 0; i < planes * hw; i++)
                            CHECK_CLOSE(h->din[0][i], dx[i], 1e-6, 1e-6);
                    else
                        CHECK(same_values(h->din[0], dx, planes * hw));
                    free(y);
                    free(dx);
                    lh_free(h);
                }
}

/* Backward reads the saved argmax (max) or nothing (avg), never the input or the output. */
static void test_memory_flags(void)
{
    pdl_shape in = pdl_shape_4d(2, 3, 9, 8);
    check_memory_flags(&pdl_layer_maxpool, "size=3 stride=2 pad=1", 1, &in);
    check_memory_flags(&pdl_layer_avgpool, "size=3 stride=2 pad=1", 1, &in);
}

static void test_errors(void)
{
    pdl_shape in = pdl_shape_4d(1, 2, 4, 4);
    fprintf(stderr, "(the following lh_create failures are expected)\n");
    expect_layer_error(&pdl_layer_maxpool, "size=5", in, "layer 'layer' (maxpool)",
                       "smaller than the window 5x5");
    expect_layer_error(&pdl_layer_avgpool, "size=3x6 pad=1x0", in, "layer 'layer' (avgpool)",
                       "smaller than the window 3x6");
    expect_layer_error(&pdl_layer_maxpool, "size=3 pad=2", in, "pad", "half the window");
    expect_layer_error(&pdl_layer_avgpool, "global=1 size=2", in, "size", "global");
    expect_layer_error(&pdl_layer_maxpool, "global=1 stride=2", in, "stride", "global");
    expect_layer_error(&pdl_layer_maxpool, "count_pad=0", in, "count_pad", "unknown");
    expect_layer_error(&pdl_layer_maxpool, "stride=0", in, "stride", NULL);
    expect_layer_error(&pdl_layer_avgpool, "ceil=maybe", in, "ceil", NULL);
    expect_layer_error(&pdl_layer_maxpool, "size=2", pdl_shape_2d(1, 16), "layer 'layer' (maxpool)",
                       "4-D");
}

int main(void)
{
    RUN(test_output_sizes_match_torch);
    RUN(test_values_match_torch);
    RUN(test_max_ties_and_nan);
    RUN(test_gradients);
    RUN(test_accounting);
    RUN(test_threads);
    RUN(test_against_naive);
    RUN(test_memory_flags);
    RUN(test_errors);
    return harness_summary();
}
