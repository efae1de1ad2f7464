/* The "maxpool" and "avgpool" layers: one window geometry (size, stride, pad, ceil mode, global)
 * with PyTorch's semantics (ceil mode drops a window that starts in the right padding; avgpool's
 * count_pad is count_include_pad). Owns options, shapes and the loops (vectorized rows, threads
 * over planes); no other layer's logic. Backward reads the saved argmax (max) or nothing (avg). */
#include "layers/layer.h"
#include "layers/vecmath.h"

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

/* Vectorized rows. Outputs whose windows lie inside the input columns ("interior" columns
 * [lo, hi) of every output row) are computed a row at a time, vectorized over the output column:
 * for each window element (row ih, column k) one pass over the row's outputs. Each output still
 * sees its window in row-major order, so results equal the per-window loop's bit for bit (max:
 * the first maximum wins, NaN propagates; avg: the same sum order). The remaining border
 * outputs take the per-window loop. Kernels are specialized for the zoo's windows (2x2 stride 2,
 * 3x3 stride 2 and stride 1) so that the column stride is a constant. */
typedef struct row_args {
    const float *x; /* the input plane (H, W) */
    int64_t w;      /* W */
    int64_t h0, h1; /* the window's rows, clipped to the input */
    int lo, hi;     /* interior output columns */
    int kw, sw, pw;
    float divisor;  /* avgpool */
    float *y;       /* the output row (OW) */
    int32_t *arg;   /* maxpool: the output row's argmax (OW), indices into the plane */
    const float *dy; /* avgpool backward: the output gradient row (OW) */
    float *dx;      /* avgpool backward: the input gradient plane (H, W) */
} row_args;

/* The arguments are copied to locals first: GCC cannot tell that stores to the rows leave
 * *a alone, and would reload the loop bounds. */
static inline void max_row(const row_args *a, int kw, int sw, bool with_arg)
{
    const float *restrict x = a->x;
    float *restrict y = a->y;
    int32_t *restrict arg = a->arg;
    const int lo = a->lo, hi = a->hi, pw = a->pw;
    const int64_t w = a->w, h0 = a->h0, h1 = a->h1;
    for (int ow = lo; ow < hi; ow++) {
        int32_t at = (int32_t)(h0 * w) + ow * sw - pw;
        y[ow] = x[at];
        if (with_arg)
            arg[ow] = at;
    }
    for (int64_t ih = h0; ih < h1; ih++)
        for (int k = 0; k < kw; k++) {
            int32_t base = (int32_t)(ih * w) - pw + k; /* may be negative; base + ow * sw not */
            for (int ow = lo; ow < hi; ow++) {
                float v = x[base + ow * sw];
                bool take = v > y[ow] || v != v; /* first maximum wins; NaN propagates */
                y[ow] = take ? v : y[ow];
                if (with_arg)
                    arg[ow] = take ? base + ow * sw : arg[ow];
            }
        }
}

static inline void avg_row(const row_args *a, int kw, int sw)
{
    const float *restrict x = a->x;
    float *restrict y = a->y;
    const int lo = a->lo, hi = a->hi, pw = a->pw;
    const int64_t w = a->w, h0 = a->h0, h1 = a->h1;
    for (int ow = lo; ow < hi; ow++)
        y[ow] = 0.0f;
    for (int64_t ih = h0; ih < h1; ih++)
        for (int k = 0; k < kw; k++) {
            int32_t base = (int32_t)(ih * w) - pw + k;
            for (int ow = lo; ow < hi; ow++)
                y[ow] += x[base + ow * sw];
        }
    for (int ow = lo; ow < hi; ow++)
        y[ow] /= a->divisor;
}

/* dx += dy / divisor over each interior window of the row; for one (ih, k) the outputs touch
 * distinct inputs (stride >= 1), so the pass over them vectorizes. */
static inline void avg_backward_row(const row_args *a, int kw, int sw)
{
    const int lo = a->lo, hi = a->hi, pw = a->pw;
    const int64_t w = a->w, h0 = a->h0, h1 = a->h1;
    const float divisor = a->divisor;
    for (int b = lo; b < hi; b += VEC_CHUNK) {
        int m = hi - b < VEC_CHUNK ? hi - b : VEC_CHUNK;
        float share[VEC_CHUNK];
        for (int i = 0; i < m; i++)
            share[i] = a->dy[b + i] / divisor;
        for (int64_t ih = h0; ih < h1; ih++)
            for (int k = 0; k < kw; k++) {
                float *restrict row = a->dx + ih * w - pw + k + (int64_t)b * sw;
                for (int i = 0; i < m; i++)
                    row[i * sw] += share[i];
            }
    }
}

typedef void (*row_fn)(const row_args *a);

#define ROW_KERNELS(suffix, KW, SW)                                                               \
    static void max_arg_##suffix(const row_args *a) { max_row(a, KW, SW, true); }                 \
    static void max_##suffix(const row_args *a) { max_row(a, KW, SW, false); }                    \
    static void avg_##suffix(const row_args *a) { avg_row(a, KW, SW); }                           \
    static void avg_backward_##suffix(const row_args *a) { avg_backward_row(a, KW, SW); }

ROW_KERNELS(k2s2, 2, 2)
ROW_KERNELS(k3s2, 3, 2)
ROW_KERNELS(k3s1, 3, 1)
ROW_KERNELS(any, a->kw, a->sw)

typedef enum row_kind { MAX_ARG, MAX, AVG, AVG_BACKWARD } row_kind;

static row_fn row_kernel(const pool_geom *g, row_kind kind)
{
    static const row_fn table[4][4] = {
        {max_arg_k2s2, max_k2s2, avg_k2s2, avg_backward_k2s2},
        {max_arg_k3s2, max_k3s2, avg_k3s2, avg_backward_k3s2},
        {max_arg_k3s1, max_k3s1, avg_k3s1, avg_backward_k3s1},
        {max_arg_any, max_any, avg_any, avg_backward_any},
    };
    int which = g->kw == 2 && g->sw == 2 ? 0 : g->kw == 3 && g->sw == 2 ? 1
              : g->kw == 3 && g->sw == 1 ? 2 : 3;
    return table[which][kind];
}

/* Output columns [lo, hi) whose windows lie inside the input columns: ow * sw - pw >= 0 and
 * ow * sw - pw + kw <= W. Fewer than ROW_MIN of them (a global pool has one) are left to the
 * per-window loop: a row pass per window element costs more than it saves there. */
enum { ROW_MIN = 4 };

static void interior_columns(const pool_geom *g, int *lo, int *hi)
{
    int64_t first = (g->pw + g->sw - 1) / g->sw, span = g->w + g->pw - g->kw;
    int64_t last = span < 0 ? -1 : span / g->sw; /* the last interior column */
    *lo = (int)(first < g->out_w ? first : g->out_w);
    *hi = (int)(last + 1 < g->out_w ? last + 1 : g->out_w);
    if (*hi - *lo < ROW_MIN)
        *hi = *lo;
}

typedef struct plane_job {
    const pool_geom *g;
    const float *x;  // x is (N, C, H, W)
    float *y;        // y is (N, C, OH, OW)
    const float *dy; // dy is (N, C, OH, OW)
    float *dx;       // dx is (N, C, H, W)
    int32_t *argmax; /* (N, C, OH, OW) indices into the input plane, or NULL */
    bool avg;
    row_fn row;      /* the interior kernel */
} plane_job;

/* Output (oh, ow) of plane x by the per-window loop. */
static void max_window(const plane_job *job, const float *x, int64_t o, int64_t oh, int64_t ow)
{
    const pool_geom *g = job->g;
    window win = window_at(g, oh, ow);
    int32_t best = (int32_t)(win.h0 * g->w + win.w0);
    float top = x[best];
    for (int64_t ih = win.h0; ih < win.h1; ih++)
        for (int64_t iw = win.w0; iw < win.w1; iw++) {
            int32_t at = (int32_t)(ih * g->w + iw);
            float v = x[at];
            bool take = v > top || v != v; /* first maximum wins; NaN propagates */
            best = take ? at : best; /* selects, not branches: random data mispredicts */
            top = take ? v : top;
        }
    job->y[o] = top;
    if (job->argmax)
        job->argmax[o] = best;
}

static void avg_window(const plane_job *job, const float *x, int64_t o, int64_t oh, int64_t ow)
{
    const pool_geom *g = job->g;
    window win = window_at(g, oh, ow);
    float sum = 0.0f;
    for (int64_t ih = win.h0; ih < win.h1; ih++)
        for (int64_t iw = win.w0; iw < win.w1; iw++)
            sum += x[ih * g->w + iw];
    job->y[o] = sum / win.divisor;
}

/* A stride-1 window centred by its padding (3x3 pad 1): the output has the input's size and the
 * window of output o (linear in the plane) starts at input o - ph * W - pw, so the outputs of
 * all interior rows form one run for the row kernel (one long vector loop instead of a short
 * one per row). The run includes the border columns of those rows, whose windows wrap around
 * a row end; they are computed again, correctly, afterwards. */
static bool same_size_stride1(const pool_geom *g)
{
    return g->sh == 1 && g->sw == 1 && g->out_h == g->h && g->out_w == g->w &&
           g->kh == 2 * g->ph + 1 && g->kw == 2 * g->pw + 1 && g->h > 2 * g->ph &&
           g->w - 2 * g->pw >= ROW_MIN;
}

/* Planes [begin, end) of the N*C input planes: interior columns by the row kernel (one run for
 * the interior rows of a same-size stride-1 window), the border columns by the per-window
 * loop. */
static void forward_planes(void *arg, int64_t begin, int64_t end)
{
    const plane_job *job = (const plane_job *)arg;
    const pool_geom *g = job->g;
    void (*border)(const plane_job *, const float *, int64_t, int64_t, int64_t) =
        job->avg ? avg_window : max_window;
    bool run = same_size_stride1(g);
    int lo, hi;
    interior_columns(g, &lo, &hi);
    for (int64_t plane = begin; plane < end; plane++) {
        const float *x = job->x + plane * g->h * g->w;
        int64_t first = plane * g->out_h * g->out_w;
        if (run) {
            row_args a = {.x = x, .w = g->w, .h0 = -g->ph, .h1 = g->kh - g->ph,
                          .lo = (int)(g->ph * g->w + g->pw),
                          .hi = (int)((g->h - g->ph) * g->w - g->pw), .kw = (int)g->kw,
                          .sw = 1, .pw = (int)g->pw, .divisor = (float)(g->kh * g->kw),
                          .y = job->y + first, .arg = job->argmax ? job->argmax + first : NULL};
            job->row(&a);
        }
        for (int64_t oh = 0; oh < g->out_h; oh++) {
            int64_t o = first + oh * g->out_w;
            for (int64_t ow = 0; ow < lo; ow++)
                border(job, x, o + ow, oh, ow);
            for (int64_t ow = hi; ow < g->out_w; ow++)
                border(job, x, o + ow, oh, ow);
            if (lo == hi || (run && oh >= g->ph && oh < g->h - g->ph))
                continue;
            window win = window_at(g, oh, lo);
            row_args a = {.x = x, .w = g->w, .h0 = win.h0, .h1 = win.h1, .lo = lo, .hi = hi,
                          .kw = (int)g->kw, .sw = (int)g->sw, .pw = (int)g->pw,
                          .divisor = win.divisor, .y = job->y + o,
                          .arg = job->argmax ? job->argmax + o : NULL};
            job->row(&a);
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

static void avg_backward_planes(void *arg, int64_t begin, int64_t end)
{
    const plane_job *job = (const plane_job *)arg;
    const pool_geom *g = job->g;
    int lo, hi;
    interior_columns(g, &lo, &hi);
    for (int64_t plane = begin; plane < end; plane++) {
        float *dx = job->dx + plane * g->h * g->w;
        const float *dy = job->dy + plane * g->out_h * g->out_w;
        for (int64_t oh = 0; oh < g->out_h; oh++) {
            for (int64_t ow = 0; ow < g->out_w; ow++) {
                if (ow >= lo && ow < hi)
                    continue;
                window win = window_at(g, oh, ow);
                float share = dy[oh * g->out_w + ow] / win.divisor;
                for (int64_t ih = win.h0; ih < win.h1; ih++)
                    for (int64_t iw = win.w0; iw < win.w1; iw++)
                        dx[ih * g->w + iw] += share;
            }
            if (lo == hi)
                continue;
            window win = window_at(g, oh, lo);
            row_args a = {.w = g->w, .h0 = win.h0, .h1 = win.h1, .lo = lo, .hi = hi,
                          .kw = (int)g->kw, .sw = (int)g->sw, .pw = (int)g->pw,
                          .divisor = win.divisor, .dy = dy + oh * g->out_w, .dx = dx};
            job->row(&a);
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
    plane_job job = {.g = &o->geom, .x = l->in[0], .y = l->out, .avg = is_avg(l)};
    if (!is_avg(l) && ctx->training)
        job.argmax = (int32_t *)l->saved;
    job.row = row_kernel(&o->geom, is_avg(l) ? AVG : job.argmax ? MAX_ARG : MAX);
    pdl_parallel_for(ctx->pool, o->geom.n * o->geom.c, plane_grain(&o->geom), forward_planes,
                     &job);
}

static void pool_backward(pdl_layer *l, const pdl_layer_ctx *ctx)
{
    const pool_opts *o = (const pool_opts *)l->opts;
    if (!l->din[0])
        return;
    plane_job job = {.g = &o->geom, .dy = l->dout, .dx = l->din[0],
                     .argmax = (int32_t *)l->saved, .row = row_kernel(&o->geom, AVG_BACKWARD)};
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
