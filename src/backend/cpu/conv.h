/* 2-D convolution kernels on the CPU, NCHW, fp32: the reference (direct loops, the test oracle),
 * im2col + GEMM, Winograd F(4x4, 3x3) and a direct kernel for depthwise/grouped layers. Owns the
 * geometry and the kernels; knows nothing of layers, options or which algorithm a layer uses.
 * Tensors: x is (N, C, H, W), w is (K, C/groups, R, S), bias is (K), y is (N, K, OH, OW). */
#ifndef PDL_BACKEND_CPU_CONV_H
#define PDL_BACKEND_CPU_CONV_H

#include "core/threadpool.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct pdl_conv_geom {
    int64_t n, c, h, w;          /* input (N, C, H, W) */
    int64_t k, r, s;             /* K filters of R x S (kernel height, width) */
    int64_t stride_h, stride_w;  /* >= 1 */
    int64_t pad_h, pad_w;        /* zero padding on each side, >= 0 */
    int64_t dil_h, dil_w;        /* >= 1 */
    int64_t groups;              /* divides c and k */
    int64_t out_h, out_w;        /* set by pdl_conv_geom_output */
} pdl_conv_geom;

/* Sets out_h/out_w = (in + 2 pad - dil (kernel - 1) - 1) / stride + 1 (floor). Returns false when
 * either is < 1 (the dilated kernel does not fit the padded input) or a size is out of range. */
bool pdl_conv_geom_output(pdl_conv_geom *g);

/* Reference kernels: direct loops accumulating in double; slow, obviously correct. */
/* y = conv(x, w) + bias (bias may be NULL). */
void pdl_conv_ref_forward(const pdl_conv_geom *g, const float *x, const float *w,
                          const float *bias, float *y);
/* dx += d loss / d x from dy and w. */
void pdl_conv_ref_backward_data(const pdl_conv_geom *g, const float *dy, const float *w,
                                float *dx);
/* dw += d loss / d w from x and dy; dbias += sum of dy per filter (dbias may be NULL). */
void pdl_conv_ref_backward_weight(const pdl_conv_geom *g, const float *x, const float *dy,
                                  float *dw, float *dbias);

/* im2col + GEMM kernels. workspace holds at least pdl_conv_gemm_workspace_size(g) bytes (the
 * column matrix of one image, (C R S, OH OW) floats; 0 for 1x1 stride-1 unpadded kernels, which
 * go straight to GEMM). Images are processed one after another; the GEMMs and the im2col/col2im
 * loops run on the pool. The forward's bias is the GEMM's starting C (beta = 1), added in its
 * output pass. Results do not depend on the thread count: the weight gradient sums the images
 * in order and no reduction is ever split across threads. */
/* True for 1x1 stride-1 unpadded kernels, whose column matrix is the input itself. */
bool pdl_conv_gemm_is_pointwise(const pdl_conv_geom *g);
size_t pdl_conv_gemm_workspace_size(const pdl_conv_geom *g);
void pdl_conv_gemm_forward(pdl_threadpool *pool, const pdl_conv_geom *g, const float *x,
                           const float *w, const float *bias, float *y, float *workspace);
void pdl_conv_gemm_backward_data(pdl_threadpool *pool, const pdl_conv_geom *g, const float *dy,
                                 const float *w, float *dx, float *workspace);
void pdl_conv_gemm_backward_weight(pdl_threadpool *pool, const pdl_conv_geom *g, const float *x,
                                   const float *dy, float *dw, float *dbias, float *workspace);

/* Winograd F(4x4, 3x3) (winograd.c): applies to 3x3 kernels at stride 1, dilation 1, groups 1,
 * any padding. Forward and backward-data (dx +=); the weight gradient is im2col + GEMM's.
 * workspace holds pdl_conv_winograd_workspace_size(g) bytes (transformed weights and one chunk
 * of transformed tiles, enough for both passes); the calls never allocate. Max |error| below
 * 1e-4 * max |reference| on random data; the same bits for any thread count. */
bool pdl_conv_winograd_applies(const pdl_conv_geom *g);
size_t pdl_conv_winograd_workspace_size(const pdl_conv_geom *g);
void pdl_conv_winograd_forward(pdl_threadpool *pool, const pdl_conv_geom *g, const float *x,
                               const float *w, const float *bias, float *y, float *workspace);
void pdl_conv_winograd_backward_data(pdl_threadpool *pool, const pdl_conv_geom *g,
                                     const float *dy, const float *w, float *dx, float *workspace);

/* Direct loops (conv_direct.c) for any geometry, fast where a group has few channels
 * (depthwise, grouped): threads over planes, vectorized along output rows, no workspace.
 * Same conventions as the reference: y = ..., dx +=, dw += and dbias += (dbias may be NULL). */
void pdl_conv_direct_forward(pdl_threadpool *pool, const pdl_conv_geom *g, const float *x,
                             const float *w, const float *bias, float *y);
void pdl_conv_direct_backward_data(pdl_threadpool *pool, const pdl_conv_geom *g,
                                   const float *dy, const float *w, float *dx);
void pdl_conv_direct_backward_weight(pdl_threadpool *pool, const pdl_conv_geom *g,
                                     const float *x, const float *dy, float *dw, float *dbias);

#endif
