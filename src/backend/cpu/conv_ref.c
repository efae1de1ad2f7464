/* The reference convolution: direct nested loops over the definition, accumulating in double.
 * It is the oracle every faster convolution is tested against, so it stays obvious rather than
 * fast. Owns the output-size rule too; does not do im2col, threads or layers. */
#include "backend/cpu/conv.h"

bool pdl_conv_geom_output(pdl_conv_geom *g)
{
    if (g->n < 1 || g->c < 1 || g->h < 1 || g->w < 1 || g->k < 1 || g->r < 1 || g->s < 1 ||
        g->stride_h < 1 || g->stride_w < 1 || g->pad_h < 0 || g->pad_w < 0 || g->dil_h < 1 ||
        g->dil_w < 1 || g->groups < 1 || g->c % g->groups != 0 || g->k % g->groups != 0)
        return false;
    int64_t span_h = g->h + 2 * g->pad_h - g->dil_h * (g->r - 1) - 1;
    int64_t span_w = g->w + 2 * g->pad_w - g->dil_w * (g->s - 1) - 1;
    if (span_h < 0 || span_w < 0)
        return false;
    g->out_h = span_h / g->stride_h + 1;
    g->out_w = span_w / g->stride_w + 1;
    return true;
}

/* Offsets of element (i0, i1, i2, i3) in a contiguous 4-D tensor of sizes (., d1, d2, d3). */
static inline int64_t at4(int64_t i0, int64_t i1, int64_t i2, int64_t i3, int64_t d1, int64_t d2,
                          int64_t d3)
{
    return ((i0 * d1 + i1) * d2 + i2) * d3 + i3;
}

/* y[n][k][oh][ow] = bias[k] + sum over c in k's group, r, s of
 *     x[n][c][oh*stride_h - pad_h + r*dil_h][ow*stride_w - pad_w + s*dil_w] * w[k][c - c0][r][s]
 * with x taken as 0 outside the input. */
void pdl_conv_ref_forward(const pdl_conv_geom *g, const float *x, const float *w,
                          const float *bias, float *y)
{
    // x is (N, C, H, W), w is (K, C/groups, R, S), bias is (K) or NULL, y is (N, K, OH, OW)
    int64_t cg = g->c / g->groups, kg = g->k / g->groups;
    for (int64_t n = 0; n < g->n; n++)
        for (int64_t k = 0; k < g->k; k++) {
            int64_t c0 = k / kg * cg; /* first input channel of k's group */
            for (int64_t oh = 0; oh < g->out_h; oh++)
                for (int64_t ow = 0; ow < g->out_w; ow++) {
                    double sum = bias ? bias[k] : 0.0;
                    for (int64_t c = 0; c < cg; c++)
                        for (int64_t r = 0; r < g->r; r++)
                            for (int64_t s = 0; s < g->s; s++) {
                                int64_t ih = oh * g->stride_h - g->pad_h + r * g->dil_h;
                                int64_t iw = ow * g->stride_w - g->pad_w + s * g->dil_w;
                                if (ih < 0 || ih >= g->h || iw < 0 || iw >= g->w)
                                    continue;
                                sum += (double)x[at4(n, c0 + c, ih, iw, g->c, g->h, g->w)] *
                                       (double)w[at4(k, c, r, s, cg, g->r, g->s)];
                            }
                    y[at4(n, k, oh, ow, g->k, g->out_h, g->out_w)] = (float)sum;
                }
        }
}

/* dx[n][c][ih][iw] += sum over k in c's group, r, s with
 *     oh = (ih + pad_h - r*dil_h) / stride_h and ow likewise, both exact and inside the output,
 * of dy[n][k][oh][ow] * w[k][c - c0][r][s]: the forward's sum, gathered from the input side. */
void pdl_conv_ref_backward_data(const pdl_conv_geom *g, const float *dy, const float *w,
                                float *dx)
{
    // dy is (N, K, OH, OW), w is (K, C/groups, R, S), dx is (N, C, H, W)
    int64_t cg = g->c / g->groups, kg = g->k / g->groups;
    for (int64_t n = 0; n < g->n; n++)
        for (int64_t c = 0; c < g->c; c++) {
            int64_t k0 = c / cg * kg; /* first filter of c's group */
            for (int64_t ih = 0; ih < g->h; ih++)
                for (int64_t iw = 0; iw < g->w; iw++) {
                    double sum = 0.0;
                    for (int64_t k = k0; k < k0 + kg; k++)
                        for (int64_t r = 0; r < g->r; r++)
                            for (int64_t s = 0; s < g->s; s++) {
                                int64_t th = ih + g->pad_h - r * g->dil_h;
                                int64_t tw = iw + g->pad_w - s * g->dil_w;
                                if (th < 0 || tw < 0 || th % g->stride_h || tw % g->stride_w)
                                    continue;
                                int64_t oh = th / g->stride_h, ow = tw / g->stride_w;
                                if (oh >= g->out_h || ow >= g->out_w)
                                    continue;
                                sum += (double)dy[at4(n, k, oh, ow, g->k, g->out_h, g->out_w)] *
                                       (double)w[at4(k, c % cg, r, s, cg, g->r, g->s)];
                            }
                    dx[at4(n, c, ih, iw, g->c, g->h, g->w)] += (float)sum;
                }
        }
}

/* dw[k][c][r][s] += sum over n, oh, ow of dy[n][k][oh][ow] * x[n][c0 + c][ih][iw] (the forward's
 * input element, 0 outside); dbias[k] += sum over n, oh, ow of dy[n][k][oh][ow]. */
void pdl_conv_ref_backward_weight(const pdl_conv_geom *g, const float *x, const float *dy,
                                  float *dw, float *dbias)
{
    // x is (N, C, H, W), dy is (N, K, OH, OW), dw is (K, C/groups, R, S), dbias is (K) or NULL
    int64_t cg = g->c / g->groups, kg = g->k / g->groups;
    for (int64_t k = 0; k < g->k; k++) {
        int64_t c0 = k / kg * cg;
        for (int64_t c = 0; c < cg; c++)
            for (int64_t r = 0; r < g->r; r++)
                for (int64_t s = 0; s < g->s; s++) {
                    double sum = 0.0;
                    for (int64_t n = 0; n < g->n; n++)
                        for (int64_t oh = 0; oh < g->out_h; oh++)
                            for (int64_t ow = 0; ow < g->out_w; ow++) {
                                int64_t ih = oh * g->stride_h - g->pad_h + r * g->dil_h;
                                int64_t iw = ow * g->stride_w - g->pad_w + s * g->dil_w;
                                if (ih < 0 || ih >= g->h || iw < 0 || iw >= g->w)
                                    continue;
                                sum += (double)dy[at4(n, k, oh, ow, g->k, g->out_h, g->out_w)] *
                                       (double)x[at4(n, c0 + c, ih, iw, g->c, g->h, g->w)];
                            }
                    dw[at4(k, c, r, s, cg, g->r, g->s)] += (float)sum;
                }
        if (dbias) {
            double sum = 0.0;
            for (int64_t n = 0; n < g->n; n++)
                for (int64_t p = 0; p < g->out_h * g->out_w; p++)
                    sum += dy[(n * g->k + k) * g->out_h * g->out_w + p];
            dbias[k] += (float)sum;
        }
    }
}
