/* The "maxpool" and "avgpool" layers: one window geometry (size, stride, pad, ceil mode, global)
 * with PyTorch's semantics (ceil mode drops a window that starts in the right padding; avgpool's
 * count_pad is count_include_pad). Owns options, shapes and the loops; no other layer's logic. */
#include "layers/layer.h"

#include <math.h>

enum { WINDOW_MAX = 1 << 16, WORK_GRAIN = 1 << 14 };

typedef struct pool_geom {
    int64_t n, c, h, w;       /* input (N, C, H, W) */
    int64_t kh, kw, sh, sw, ph, pw;
    int64_t out_h, out_w;
    bool count_pad;           /* avgpool: divide by the window including padding */
} pool_geom;

typedef struct pool_opts {
    int64_t size[2], stride[2], pad[2]; /* (h, w) */
    bool ceil, global, count_pad;
    pool_geom geom;                     /* from the last reshape */
} pool_opts;

static bool is_avg(const pdl_layer *l) { return l->ops == &pdl_layer_avgpool; }

static pdl_status pool_init(pdl_layer *l, pdl_cfg_section *sec)
{
    pool_opts *o = (pool_opts *)l->opts;
    pdl_status status;
    if ((status = pdl_cfg_bool(sec, "global", false, &o->global)) != PDL_OK ||
        (status = pdl_cfg_bool(sec, "ceil", false, &o->ceil)) != PDL_OK)
        return status;
    o->count_pad = true;
    if (is_avg(l) && (status = pdl_cfg_bool(sec, "count_pad", true, &o->count_pad)) != PDL_OK)
        return status;
    if (o->global) {
        static const char *const window_keys[] = {"size", "stride", "pad"};
        for (int i = 0; i < 3; i++)
            if (pdl_cfg_find(sec, window_keys[i]))
                return pdl_cfg_error(sec, window_keys[i], PDL_ERR_PARSE,
                                     "not allowed with global = 1 (the window is the whole "
                                     "input)");
        return PDL_OK;
    }
    if ((status = pdl_cfg_pair(sec, "size", 2, 2, 1, WINDOW_MAX, o->size)) != PDL_OK ||
        (status = pdl_cfg_pair(sec, "stride", o->size[0], o->size[1], 1, WINDOW_MAX,
                               o->stride)) != PDL_OK ||
        (status = pdl_cfg_pair(sec, "pad", 0, 0, 0, WINDOW_MAX, o->pad)) != PDL_OK)
        return status;
    if (2 * o->pad[0] > o->size[0] || 2 * o->pad[1] > o->size[1])
        return pdl_cfg_error(sec, "pad", PDL_ERR_PARSE,
                             "pad %lldx%lld is more than half the window %lldx%lld",
                             (long long)o->pad[0], (long long)o->pad[1], (long long)o->size[0],
                             (long long)o->size[1]);
    return PDL_OK;
}

/* PyTorch's pooling output size; ceil mode drops a last window that would start in the right
 * padding. Requires in + 2 pad >= size. */
static int64_t pooled_size(int64_t in, int64_t size, int64_t stride, int64_t pad, bool ceil_mode)
{
    int64_t span = in + 2 * pad - size;
    int64_t out = (ceil_mode ? (span + stride - 1) / stride : span / stride) + 1;
    if (ceil_mode && (out - 1) * stride >= in + pad)
        out--;
    return out;
}

static pdl_status pool_reshape(pdl_layer *l)
{
    pool_opts *o = (pool_opts *)l->opts;
    const pdl_shape *in = &l->in_shape[0];
    char text[64];
    if (in->ndim != 4)
        return pdl_layer_error(l, PDL_ERR_SHAPE, "input must be 4-D (N, C, H, W), got %s",
                               pdl_shape_format(in, text, sizeof text));
    pool_geom g = {.n = in->dim[0], .c = in->dim[1], .h = in->dim[2], .w = in->dim[3],
                   .kh = o->size[0], .kw = o->size[1], .sh = o->stride[0], .sw = o->stride[1],
                   .ph = o->pad[0], .pw = o->pad[1], .count_pad = o->count_pad};
    if (o->global) {
        g.kh = g.sh = g.h;
        g.kw = g.sw = g.w;
        g.ph = g.pw = 0;
    }
    if (g.h + 2 * g.ph < g.kh || g.w + 2 * g.pw < g.kw)
        return pdl_layer_error(l, PDL_ERR_SHAPE,
                               "input %s padded to %lldx%lld is smaller than the window %lldx%lld; "
                               "the output would be empty",
                               pdl_shape_format(in, text, sizeof text),
                               (long long)(g.h + 2 * g.ph), (long long)(g.w + 2 * g.pw),
                               (long long)g.kh, (long long)g.kw);
    g.out_h = pooled_size(g.h, g.kh, g.sh, g.ph, o->ceil);
    g.out_w = pooled_size(g.w, g.kw, g.sw, g.pw, o->ceil);
    o->geom = g;
    int64_t outputs = g.n * g.c * g.out_h * g.out_w;
    l->out_shape = pdl_shape_4d(g.n, g.c, g.out_h, g.out_w);
    /* maxpool keeps the argmax of each window (an index into its input plane) for backward. */
    l->saved_bytes = is_avg(l) ? 0 : (size_t)outputs * sizeof(int32_t);
    /* MACs: avgpool counts one add per window element; maxpool's comparisons count as 0. */
    l->macs = is_avg(l) ? outputs * g.kh * g.kw : 0;
    l->rf_kernel_h = (int)g.kh;
    l->rf_kernel_w = (int)g.kw;
    l->rf_stride_h = (int)g.sh;
    l->rf_stride_w = (int)g.sw;
    return PDL_OK;
}

/* The window of output (oh, ow) clipped to the input: rows [h0, h1), columns [w0, w1). Also the
 * avgpool divisor: the window clipped to the padded input (count_pad) or to the input. Never
 * empty: pad <= size / 2 and the ceil-mode rule keep every window on the input. */
typedef struct window {
    int64_t h0, h1, w0, w1;
    float divisor;
} window;

static window window_at(const pool_geom *g, int64_t oh, int64_t ow)
{
    window win;
    int64_t h0 = oh * g->sh - g->ph, w0 = ow * g->sw - g->pw;
    int64_t h1 = h0 + g->kh < g->h + g->ph ? h0 + g->kh : g->h + g->ph;
    int64_t w1 = w0 + g->kw < g->w + g->pw ? w0 + g->kw : g->w + g->pw;
    int64_t padded = (h1 - h0) * (w1 - w0);
    win.h0 = h0 > 0 ? h0 : 0;
    win.w0 = w0 > 0 ? w0 : 0;
    win.h1 = h1 < g->h ? h1 : g->h;
    win.w1 = w1 < g->w ? w1 : g->w;
    win.divisor = (float)(g->count_pad ? padded : (win.h1 - win.h0) * (win.w1 - win.w0));
    return win;
}

typedef struct plane_job {
    const pool_geom *g;
    const float *x;  // x is (N, C, H, W)
    float *y;        // y is (N, C, OH, OW)
    const float *dy; // dy is (N, C, OH, OW)
    float *dx;       // dx is (N, C, H, W)
    int32_t *argmax; /* (N, C, OH, OW) indices into the input plane, or NULL */
} plane_job;

/* Planes [begin, end) of the N*C input planes. */
static void max_forward_planes(void *arg, int64_t begin, int64_t end)
{
    const plane_job *job = (const plane_job *)arg;
    const pool_geom *g = job->g;
    for (int64_t plane = begin; plane < end; plane++) {
        const float *x = job->x + plane * g->h * g->w;
        int64_t o = plane * g->out_h * g->out_w;
        for (int64_t oh = 0; oh < g->out_h; oh++)
            for (int64_t ow = 0; ow < g->out_w; ow++, o++) {
                window win = window_at(g, oh, ow);
                int64_t best = win.h0 * g->w + win.w0;
                for (int64_t ih = win.h0; ih < win.h1; ih++)
                    for (int64_t iw = win.w0; iw < win.w1; iw++) {
                        float v = x[ih * g->w + iw];
                        if (v > x[best] || isnan(v)) /* first maximum wins; NaN propagates */
                            best = ih * g->w + iw;
                    }
                job->y[o] = x[best];
                if (job->argmax)
                    job->argmax[o] = (int32_t)best;
            }
    }
}

static void max_backward_planes(void *arg, int64_t begin, int64_t end)
{
    const plane_job *job = (const plane_job *)arg;
    const pool_geom *g = job->g;
    int64_t outputs = g->out_h * g->out_w;
    for (int64_t plane = begin; plane < end; plane++) {
        float *dx = job->dx + plane * g->h * g->w;
        for (int64_t o = plane * outputs; o < (plane + 1) * outputs; o++)
            dx[job->argmax[o]] += job->dy[o];
    }
}

static void avg_forward_planes(void *arg, int64_t begin, int64_t end)
{
    const plane_job *job = (const plane_job *)arg;
    const pool_geom *g = job->g;
    for (int64_t plane = begin; plane < end; plane++) {
        const float *x = job->x + plane * g->h * g->w;
        float *y = job->y + plane * g->out_h * g->out_w;
        for (int64_t oh = 0; oh < g->out_h; oh++)
            for (int64_t ow = 0; ow < g->out_w; ow++) {
                window win = window_at(g, oh, ow);
                float sum = 0.0f;
                for (int64_t ih = win.h0; ih < win.h1; ih++)
                    for (int64_t iw = win.w0; iw < win.w1; iw++)
                        sum += x[ih * g->w + iw];
                y[oh * g->out_w + ow] = sum / win.divisor;
            }
    }
}

static void avg_backward_planes(void *arg, int64_t begin, int64_t end)
{
    const plane_job *job = (const plane_job *)arg;
    const pool_geom *g = job->g;
    for (int64_t plane = begin; plane < end; plane++) {
        float *dx = job->dx + plane * g->h * g->w;
        const float *dy = job->dy + plane * g->out_h * g->out_w;
        for (int64_t oh = 0; oh < g->out_h; oh++)
            for (int64_t ow = 0; ow < g->out_w; ow++) {
                window win = window_at(g, oh, ow);
                float share = dy[oh * g->out_w + ow] / win.divisor;
                for (int64_t ih = win.h0; ih < win.h1; ih++)
                    for (int64_t iw = win.w0; iw < win.w1; iw++)
                        dx[ih * g->w + iw] += share;
            }
    }
}

/* Planes per range so that one range holds about WORK_GRAIN window elements. */
static int64_t plane_grain(const pool_geom *g)
{
    int64_t work = g->out_h * g->out_w * g->kh * g->kw;
    return work >= WORK_GRAIN ? 1 : WORK_GRAIN / (work > 0 ? work : 1);
}

static void pool_forward(pdl_layer *l, const pdl_layer_ctx *ctx)
{
    const pool_opts *o = (const pool_opts *)l->opts;
    plane_job job = {.g = &o->geom, .x = l->in[0], .y = l->out};
    if (!is_avg(l) && ctx->training)
        job.argmax = (int32_t *)l->saved;
    pdl_parallel_for(ctx->pool, o->geom.n * o->geom.c, plane_grain(&o->geom),
                     is_avg(l) ? avg_forward_planes : max_forward_planes, &job);
}

static void pool_backward(pdl_layer *l, const pdl_layer_ctx *ctx)
{
    const pool_opts *o = (const pool_opts *)l->opts;
    if (!l->din[0])
        return;
    plane_job job = {.g = &o->geom, .dy = l->dout, .dx = l->din[0],
                     .argmax = (int32_t *)l->saved};
    pdl_parallel_for(ctx->pool, o->geom.n * o->geom.c, plane_grain(&o->geom),
                     is_avg(l) ? avg_backward_planes : max_backward_planes, &job);
}

const pdl_layer_ops pdl_layer_maxpool = {
    .type = "maxpool",
    .min_inputs = 1,
    .max_inputs = 1,
    .opts_size = sizeof(pool_opts),
    .init = pool_init,
    .reshape = pool_reshape,
    .forward = pool_forward,
    .backward = pool_backward,
    .backward_reads_input = false,
    .backward_reads_output = false,
    .can_run_in_place = false,
};

const pdl_layer_ops pdl_layer_avgpool = {
    .type = "avgpool",
    .min_inputs = 1,
    .max_inputs = 1,
    .opts_size = sizeof(pool_opts),
    .init = pool_init,
    .reshape = pool_reshape,
    .forward = pool_forward,
    .backward = pool_backward,
    .backward_reads_input = false,
    .backward_reads_output = false,
    .can_run_in_place = false,
};
