/* Direct convolution for depthwise and grouped layers (few channels per group, where a GEMM per
 * group would be tiny): forward, backward-data and backward-weight as loops whose innermost runs
 * along an output row, contiguous at stride 1, so that it vectorizes. Owns only these loops; the
 * geometry and the oracle are conv_ref.c's, im2col + GEMM conv_gemm.c's.
 *
 * Threads take whole planes: (n, k) output planes forward, (n, c) input-gradient planes
 * backward-data, filters k backward-weight (each filter sums all images in order), so no sum is
 * split across threads and the results do not depend on the thread count. */
#include "backend/cpu/conv.h"

enum {
    LANES = 8,     /* partial sums of the weight gradient, one vector */
    TAPS_MAX = 16, /* kernel columns whose output-column range is computed once per call, and
                    * the most columns one pass of the weight gradient sums together */
};

typedef struct direct_job {
    const pdl_conv_geom *g;
    const float *x;    // x is (N, C, H, W)
    const float *w;    // w is (K, C/groups, R, S)
    const float *bias; // bias is (K) or NULL
    const float *dy;   // dy is (N, K, OH, OW)
    float *y;          // y is (N, K, OH, OW)
    float *dx;         // dx is (N, C, H, W)
    float *dw;         // dw is (K, C/groups, R, S)
    float *dbias;      // dbias is (K) or NULL
    int64_t lo[TAPS_MAX], hi[TAPS_MAX]; /* col_range of the first TAPS_MAX kernel columns */
} direct_job;

/* The outputs o in [*lo, *hi) of a row of `outputs` whose input o * stride + offset lies in
 * [0, inputs). */
static void valid_range(int64_t outputs, int64_t inputs, int64_t stride, int64_t offset,
                        int64_t *lo, int64_t *hi)
{
    int64_t first = offset >= 0 ? 0 : (-offset + stride - 1) / stride;
    int64_t last = inputs - 1 - offset; /* largest o * stride */
    *hi = last < 0 ? 0 : last / stride + 1;
    if (*hi > outputs)
        *hi = outputs;
    *lo = first < *hi ? first : *hi;
}

/* Output columns [*lo, *hi) whose kernel column s reads inside the input row. */
static void col_range(const direct_job *job, int64_t s, int64_t *lo, int64_t *hi)
{
    const pdl_conv_geom *g = job->g;
    if (s < TAPS_MAX) {
        *lo = job->lo[s];
        *hi = job->hi[s];
    } else {
        valid_range(g->out_w, g->w, g->stride_w, s * g->dil_w - g->pad_w, lo, hi);
    }
}

static direct_job job_make(const pdl_conv_geom *g)
{
    direct_job job = {.g = g};
    for (int64_t s = 0; s < TAPS_MAX && s < g->s; s++)
        valid_range(g->out_w, g->w, g->stride_w, s * g->dil_w - g->pad_w, &job.lo[s],
                    &job.hi[s]);
    return job;
}

/* y[i] += a * x[i * stride], i < n; stride 1 and 2 spelled out so that they vectorize. */
static inline void gather_axpy(float *restrict y, const float *restrict x, float a, int64_t n,
                               int64_t stride)
{
    if (stride == 1)
        for (int64_t i = 0; i < n; i++)
            y[i] += a * x[i];
    else if (stride == 2)
        for (int64_t i = 0; i < n; i++)
            y[i] += a * x[2 * i];
    else
        for (int64_t i = 0; i < n; i++)
            y[i] += a * x[i * stride];
}

/* y[i * stride] += a * x[i], i < n. */
static inline void scatter_axpy(float *restrict y, const float *restrict x, float a, int64_t n,
                                int64_t stride)
{
    if (stride == 1)
        for (int64_t i = 0; i < n; i++)
            y[i] += a * x[i];
    else
        for (int64_t i = 0; i < n; i++)
            y[i * stride] += a * x[i];
}

/* acc[i % LANES] += a[i] * b[i * stride], i < n (b == NULL: acc[i % LANES] += a[i]). */
static inline void dot_lanes(float acc[LANES], const float *restrict a, const float *restrict b,
                             int64_t n, int64_t stride)
{
    int64_t i = 0;
    if (!b)
        for (; i + LANES <= n; i += LANES)
            for (int l = 0; l < LANES; l++)
                acc[l] += a[i + l];
    else if (stride == 1)
        for (; i + LANES <= n; i += LANES)
            for (int l = 0; l < LANES; l++)
                acc[l] += a[i + l] * b[i + l];
    else
        for (; i + LANES <= n; i += LANES)
            for (int l = 0; l < LANES; l++)
                acc[l] += a[i + l] * b[(i + l) * stride];
    for (int l = 0; i + l < n; l++)
        acc[l] += b ? a[i + l] * b[(i + l) * stride] : a[i + l];
}

static float sum_lanes(const float acc[LANES])
{
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

/* y[n][k] = bias[k] + the sum over the group's channels c, taps (r, s) of w[k][c][r][s] times
 * the shifted input plane, row by row; planes (n, k) in [begin, end). */
static void forward_planes(void *arg, int64_t begin, int64_t end)
{
    const direct_job *job = (const direct_job *)arg;
    const pdl_conv_geom *g = job->g;
    int64_t cg = g->c / g->groups, kg = g->k / g->groups;
    for (int64_t plane = begin; plane < end; plane++) {
        int64_t n = plane / g->k, k = plane % g->k, c0 = k / kg * cg;
        const float *wk = job->w + k * cg * g->r * g->s;
        for (int64_t oh = 0; oh < g->out_h; oh++) {
            float *yrow = job->y + (plane * g->out_h + oh) * g->out_w;
            float b = job->bias ? job->bias[k] : 0.0f;
            for (int64_t ow = 0; ow < g->out_w; ow++)
                yrow[ow] = b;
            for (int64_t c = 0; c < cg; c++)
                for (int64_t r = 0; r < g->r; r++) {
                    int64_t ih = oh * g->stride_h - g->pad_h + r * g->dil_h;
                    if (ih < 0 || ih >= g->h)
                        continue;
                    const float *xrow = job->x + ((n * g->c + c0 + c) * g->h + ih) * g->w;
                    for (int64_t s = 0; s < g->s; s++) {
                        int64_t offset = s * g->dil_w - g->pad_w, lo, hi;
                        col_range(job, s, &lo, &hi);
                        if (lo < hi)
                            gather_axpy(yrow + lo, xrow + lo * g->stride_w + offset,
                                        wk[(c * g->r + r) * g->s + s], hi - lo, g->stride_w);
                    }
                }
        }
    }
}

/* dx[n][c] += w[k][c - c0][r][s] times dy[n][k] scattered back through the taps, over the
 * group's filters k, in (k, oh, r, s) order; planes (n, c) in [begin, end). */
static void backward_data_planes(void *arg, int64_t begin, int64_t end)
{
    const direct_job *job = (const direct_job *)arg;
    const pdl_conv_geom *g = job->g;
    int64_t cg = g->c / g->groups, kg = g->k / g->groups;
    for (int64_t plane = begin; plane < end; plane++) {
        int64_t n = plane / g->c, c = plane % g->c, k0 = c / cg * kg;
        float *dxp = job->dx + plane * g->h * g->w;
        for (int64_t k = k0; k < k0 + kg; k++) {
            const float *wkc = job->w + (k * cg + c % cg) * g->r * g->s;
            for (int64_t oh = 0; oh < g->out_h; oh++) {
                const float *dyrow = job->dy + ((n * g->k + k) * g->out_h + oh) * g->out_w;
                for (int64_t r = 0; r < g->r; r++) {
                    int64_t ih = oh * g->stride_h - g->pad_h + r * g->dil_h;
                    if (ih < 0 || ih >= g->h)
                        continue;
                    for (int64_t s = 0; s < g->s; s++) {
                        int64_t offset = s * g->dil_w - g->pad_w, lo, hi;
                        col_range(job, s, &lo, &hi);
                        if (lo < hi)
                            scatter_axpy(dxp + ih * g->w + lo * g->stride_w + offset,
                                         dyrow + lo, wkc[r * g->s + s], hi - lo, g->stride_w);
                    }
                }
            }
        }
    }
}

/* dw[k][c][r][s] += the sum over images (in order) and output positions of dy[n][k] times the
 * tap's input element; dbias[k] += the sum of dy[n][k]; filters k in [begin, end). One pass over
 * the rows sums up to TAPS_MAX kernel columns of a kernel row. */
static void backward_weight_filters(void *arg, int64_t begin, int64_t end)
{
    const direct_job *job = (const direct_job *)arg;
    const pdl_conv_geom *g = job->g;
    int64_t cg = g->c / g->groups, kg = g->k / g->groups, spatial = g->out_h * g->out_w;
    for (int64_t k = begin; k < end; k++) {
        int64_t c0 = k / kg * cg;
        for (int64_t c = 0; c < cg; c++)
            for (int64_t r = 0; r < g->r; r++)
                for (int64_t s0 = 0; s0 < g->s; s0 += TAPS_MAX) {
                    int64_t taps = g->s - s0 < TAPS_MAX ? g->s - s0 : TAPS_MAX;
                    float acc[TAPS_MAX][LANES] = {{0}};
                    for (int64_t n = 0; n < g->n; n++)
                        for (int64_t oh = 0; oh < g->out_h; oh++) {
                            int64_t ih = oh * g->stride_h - g->pad_h + r * g->dil_h;
                            if (ih < 0 || ih >= g->h)
                                continue;
                            const float *dyrow =
                                job->dy + ((n * g->k + k) * g->out_h + oh) * g->out_w;
                            const float *xrow =
                                job->x + ((n * g->c + c0 + c) * g->h + ih) * g->w;
                            for (int64_t j = 0; j < taps; j++) {
                                int64_t offset = (s0 + j) * g->dil_w - g->pad_w, lo, hi;
                                col_range(job, s0 + j, &lo, &hi);
                                if (lo < hi)
                                    dot_lanes(acc[j], dyrow + lo, xrow + lo * g->stride_w + offset,
                                              hi - lo, g->stride_w);
                            }
                        }
                    float *dst = job->dw + ((k * cg + c) * g->r + r) * g->s + s0;
                    for (int64_t j = 0; j < taps; j++)
                        dst[j] += sum_lanes(acc[j]);
                }
        if (job->dbias) {
            float acc[LANES] = {0};
            for (int64_t n = 0; n < g->n; n++)
                dot_lanes(acc, job->dy + (n * g->k + k) * spatial, NULL, spatial, 1);
            job->dbias[k] += sum_lanes(acc);
        }
    }
}

void pdl_conv_direct_forward(pdl_threadpool *pool, const pdl_conv_geom *g, const float *x,
                             const float *w, const float *bias, float *y)
{
    // x is (N, C, H, W), w is (K, C/groups, R, S), bias is (K) or NULL, y is (N, K, OH, OW)
    direct_job job = job_make(g);
    job.x = x, job.w = w, job.bias = bias, job.y = y;
    pdl_parallel_for(pool, g->n * g->k, 1, forward_planes, &job);
}

void pdl_conv_direct_backward_data(pdl_threadpool *pool, const pdl_conv_geom *g,
                                   const float *dy, const float *w, float *dx)
{
    // dy is (N, K, OH, OW), w is (K, C/groups, R, S), dx is (N, C, H, W)
    direct_job job = job_make(g);
    job.w = w, job.dy = dy, job.dx = dx;
    pdl_parallel_for(pool, g->n * g->c, 1, backward_data_planes, &job);
}

void pdl_conv_direct_backward_weight(pdl_threadpool *pool, const pdl_conv_geom *g,
                                     const float *x, const float *dy, float *dw, float *dbias)
{
    // x is (N, C, H, W), dy is (N, K, OH, OW), dw is (K, C/groups, R, S), dbias is (K) or NULL
    direct_job job = job_make(g);
    job.x = x, job.dy = dy, job.dw = dw, job.dbias = dbias;
    pdl_parallel_for(pool, g->k, 1, backward_weight_filters, &job);
}
