/* Convolution as matrix multiplication: im2col + GEMM forward (the bias folded into the GEMM's
 * output pass), GEMM + col2im backward-data, im2col + GEMM backward-weight, per group; 1x1
 * stride-1 unpadded kernels skip im2col. Owns the column-matrix layout; the GEMM itself lives in
 * gemm.c, the oracle in conv_ref.c. */
#include "backend/cpu/conv.h"

#include "backend/cpu/gemm.h"

enum { ROWS_GRAIN = 4 };

/* The column matrix of an image is the image itself: (C, H W). */
bool pdl_conv_gemm_is_pointwise(const pdl_conv_geom *g)
{
    return g->r == 1 && g->s == 1 && g->stride_h == 1 && g->stride_w == 1 && g->pad_h == 0 &&
           g->pad_w == 0;
}

size_t pdl_conv_gemm_workspace_size(const pdl_conv_geom *g)
{
    if (pdl_conv_gemm_is_pointwise(g))
        return 0;
    return (size_t)(g->c * g->r * g->s) * (size_t)(g->out_h * g->out_w) * sizeof(float);
}

typedef struct col_job {
    const pdl_conv_geom *g;
    const float *x; // x is (C, H, W): one image
    float *col;     // col is (C R S, OH OW)
    float *dx;      // dx is (C, H, W): one image's gradient
    const float *bias; // bias is (K)
    float *y;       // y is (K, OH OW): one image's output
} col_job;

/* col[(c R + r) S + s][oh OW + ow] = x[c][oh stride_h - pad_h + r dil_h][ow stride_w - pad_w +
 * s dil_w], 0 outside the input; rows [begin, end). */
static void im2col_rows(void *arg, int64_t begin, int64_t end)
{
    const col_job *job = (const col_job *)arg;
    const pdl_conv_geom *g = job->g;
    for (int64_t row = begin; row < end; row++) {
        int64_t c = row / (g->r * g->s), r = row / g->s % g->r, s = row % g->s;
        const float *plane = job->x + c * g->h * g->w;
        float *dst = job->col + row * g->out_h * g->out_w;
        for (int64_t oh = 0; oh < g->out_h; oh++, dst += g->out_w) {
            int64_t ih = oh * g->stride_h - g->pad_h + r * g->dil_h;
            if (ih < 0 || ih >= g->h) {
                for (int64_t ow = 0; ow < g->out_w; ow++)
                    dst[ow] = 0.0f;
                continue;
            }
            const float *src = plane + ih * g->w;
            for (int64_t ow = 0; ow < g->out_w; ow++) {
                int64_t iw = ow * g->stride_w - g->pad_w + s * g->dil_w;
                dst[ow] = iw >= 0 && iw < g->w ? src[iw] : 0.0f;
            }
        }
    }
}

/* dx[c] += the col rows of channel c scattered back (the transpose of im2col), channels
 * [begin, end). Each channel is summed by one thread in a fixed (r, s, oh, ow) order. */
static void col2im_channels(void *arg, int64_t begin, int64_t end)
{
    const col_job *job = (const col_job *)arg;
    const pdl_conv_geom *g = job->g;
    for (int64_t c = begin; c < end; c++) {
        float *plane = job->dx + c * g->h * g->w;
        for (int64_t r = 0; r < g->r; r++)
            for (int64_t s = 0; s < g->s; s++) {
                const float *src = job->col + ((c * g->r + r) * g->s + s) * g->out_h * g->out_w;
                for (int64_t oh = 0; oh < g->out_h; oh++, src += g->out_w) {
                    int64_t ih = oh * g->stride_h - g->pad_h + r * g->dil_h;
                    if (ih < 0 || ih >= g->h)
                        continue;
                    float *dst = plane + ih * g->w;
                    for (int64_t ow = 0; ow < g->out_w; ow++) {
                        int64_t iw = ow * g->stride_w - g->pad_w + s * g->dil_w;
                        if (iw >= 0 && iw < g->w)
                            dst[iw] += src[ow];
                    }
                }
            }
    }
}

/* y[k][p] = bias[k] for filters [begin, end): the C the forward GEMM adds its product to. */
static void fill_bias_rows(void *arg, int64_t begin, int64_t end)
{
    const col_job *job = (const col_job *)arg;
    int64_t spatial = job->g->out_h * job->g->out_w;
    for (int64_t k = begin; k < end; k++)
        for (int64_t p = 0; p < spatial; p++)
            job->y[k * spatial + p] = job->bias[k];
}

/* The column matrix of image x (C, H, W): x itself for pointwise kernels, else im2col into
 * workspace. */
static const float *columns(pdl_threadpool *pool, const pdl_conv_geom *g, const float *x,
                            float *workspace)
{
    if (pdl_conv_gemm_is_pointwise(g))
        return x;
    col_job job = {.g = g, .x = x, .col = workspace};
    pdl_parallel_for(pool, g->c * g->r * g->s, ROWS_GRAIN, im2col_rows, &job);
    return workspace;
}

void pdl_conv_gemm_forward(pdl_threadpool *pool, const pdl_conv_geom *g, const float *x,
                           const float *w, const float *bias, float *y, float *workspace)
{
    // x is (N, C, H, W), w is (K, C/groups, R, S), bias is (K) or NULL, y is (N, K, OH, OW)
    int64_t cg = g->c / g->groups, kg = g->k / g->groups;
    int64_t depth = cg * g->r * g->s, spatial = g->out_h * g->out_w;
    for (int64_t n = 0; n < g->n; n++) {
        const float *col = columns(pool, g, x + n * g->c * g->h * g->w, workspace);
        float *yn = y + n * g->k * spatial;
        if (bias) {
            col_job job = {.g = g, .bias = bias, .y = yn};
            pdl_parallel_for(pool, g->k, ROWS_GRAIN, fill_bias_rows, &job);
        }
        for (int64_t gi = 0; gi < g->groups; gi++)
            /* y_g (Kg, OH OW) = w_g (Kg, Cg R S) * col_g (Cg R S, OH OW) + (bias or nothing) */
            pdl_cpu_gemm(pool, false, false, kg, spatial, depth, 1.0f, w + gi * kg * depth, depth,
                         col + gi * depth * spatial, spatial, bias ? 1.0f : 0.0f,
                         yn + gi * kg * spatial, spatial);
    }
}

void pdl_conv_gemm_backward_data(pdl_threadpool *pool, const pdl_conv_geom *g, const float *dy,
                                 const float *w, float *dx, float *workspace)
{
    // dy is (N, K, OH, OW), w is (K, C/groups, R, S), dx is (N, C, H, W)
    int64_t cg = g->c / g->groups, kg = g->k / g->groups;
    int64_t depth = cg * g->r * g->s, spatial = g->out_h * g->out_w;
    bool pointwise = pdl_conv_gemm_is_pointwise(g);
    for (int64_t n = 0; n < g->n; n++) {
        const float *dyn = dy + n * g->k * spatial;
        float *dxn = dx + n * g->c * g->h * g->w;
        /* Pointwise: dx_g (Cg, H W) += w_g^T (Cg, Kg) * dy_g (Kg, H W) directly. Otherwise
         * dcol_g (Cg R S, OH OW) = w_g^T (Cg R S, Kg) * dy_g (Kg, OH OW), then col2im. */
        float *target = pointwise ? dxn : workspace;
        for (int64_t gi = 0; gi < g->groups; gi++)
            pdl_cpu_gemm(pool, true, false, depth, spatial, kg, 1.0f, w + gi * kg * depth, depth,
                         dyn + gi * kg * spatial, spatial, pointwise ? 1.0f : 0.0f,
                         target + gi * depth * spatial, spatial);
        if (!pointwise) {
            col_job job = {.g = g, .col = workspace, .dx = dxn};
            pdl_parallel_for(pool, g->c, 1, col2im_channels, &job);
        }
    }
}

typedef struct bias_job {
    const pdl_conv_geom *g;
    const float *dy; // dy is (N, K, OH, OW)
    float *dbias;    // dbias is (K)
} bias_job;

/* dbias[k] += sum over images (in order) and positions of dy, filters [begin, end). */
static void bias_grad_rows(void *arg, int64_t begin, int64_t end)
{
    const bias_job *job = (const bias_job *)arg;
    const pdl_conv_geom *g = job->g;
    int64_t spatial = g->out_h * g->out_w;
    for (int64_t k = begin; k < end; k++) {
        double sum = 0.0;
        for (int64_t n = 0; n < g->n; n++) {
            const float *row = job->dy + (n * g->k + k) * spatial;
            for (int64_t p = 0; p < spatial; p++)
                sum += row[p];
        }
        job->dbias[k] += (float)sum;
    }
}

void pdl_conv_gemm_backward_weight(pdl_threadpool *pool, const pdl_conv_geom *g, const float *x,
                                   const float *dy, float *dw, float *dbias, float *workspace)
{
    // x is (N, C, H, W), dy is (N, K, OH, OW), dw is (K, C/groups, R, S), dbias is (K) or NULL
    int64_t cg = g->c / g->groups, kg = g->k / g->groups;
    int64_t depth = cg * g->r * g->s, spatial = g->out_h * g->out_w;
    /* Images in order, each adding into dw: the reduction over the batch is never split. */
    for (int64_t n = 0; n < g->n; n++) {
        const float *col = columns(pool, g, x + n * g->c * g->h * g->w, workspace);
        const float *dyn = dy + n * g->k * spatial;
        for (int64_t gi = 0; gi < g->groups; gi++)
            /* dw_g (Kg, Cg R S) += dy_g (Kg, OH OW) * col_g^T (OH OW, Cg R S) */
            pdl_cpu_gemm(pool, false, true, kg, depth, spatial, 1.0f, dyn + gi * kg * spatial,
                         spatial, col + gi * depth * spatial, spatial, 1.0f,
                         dw + gi * kg * depth, depth);
    }
    if (dbias) {
        bias_job job = {.g = g, .dy = dy, .dbias = dbias};
        pdl_parallel_for(pool, g->k, ROWS_GRAIN, bias_grad_rows, &job);
    }
}
