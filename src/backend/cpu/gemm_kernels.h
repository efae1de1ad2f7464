/* The interface between the sgemm driver (gemm.c: blocking, packing order, threads) and its
 * per-instruction-set micro-kernels and packing routines (gemm.c for portable C, gemm_avx2.c,
 * gemm_avx512.c). Internal to the CPU backend; callers use pdl_cpu_gemm (gemm.h). */
#ifndef PDL_BACKEND_CPU_GEMM_KERNELS_H
#define PDL_BACKEND_CPU_GEMM_KERNELS_H

#include <stdbool.h>
#include <stdint.h>

/* Largest blocks of any kernel: the driver keeps one packed A block (mc x kc) and one packed B
 * block (kc x nc) on the stack of each thread (about 1.2 MB), plus GEMM_PACK_SLACK floats that
 * a packing routine may write (and the next panel overwrites) past the end of a panel. */
#define GEMM_PACK_A_FLOATS (144 * 256)
#define GEMM_PACK_B_FLOATS (256 * 1024)
#define GEMM_PACK_SLACK 16

/* acc (mr, nr) = sum over p < kc, in increasing p, of a[p * mr + i] * b[p * nr + j]; then
 * C[i][j] = alpha * acc[i][j] + beta * C[i][j] (one fused multiply-add after the product
 * alpha * acc) for i < rows, j < cols, and beta == 0 stores alpha * acc without reading C.
 * a is a packed A panel (kc, mr), b a packed B panel (kc, nr), both zero-padded; C is
 * (rows, cols) with row stride ldc, rows <= mr, cols <= nr. Every element of C, wherever its
 * tile lies and whatever rows and cols are, sees the same sequence of roundings. */
typedef void (*gemm_micro_fn)(int64_t kc, const float *a, const float *b, float *c, int64_t ldc,
                              int rows, int cols, float alpha, float beta);

/* Packs count items (rows of op(A) or columns of op(B)) over kc steps into panels of width w
 * (mr for A, nr for B), panel q at dst + q * w * kc: dst[q * w * kc + p * w + i] = X(q * w + i, p)
 * for items below count and 0 past it (the last panel is zero-padded), where
 * X(i, p) = src[i * ld + p] when k_contiguous (A not transposed, B transposed) and
 * src[p * ld + i] otherwise. May write up to GEMM_PACK_SLACK floats past the last panel (the
 * caller keeps room for them). */
typedef void (*gemm_pack_fn)(const float *src, int64_t ld, bool k_contiguous, int64_t count,
                             int64_t kc, float *dst);

typedef struct gemm_kernel {
    const char *name;
    int mr, nr;          /* micro-tile of C */
    int kc;              /* most k steps per packed block (fixed per kernel: it sets the
                          * summation order, which must not depend on the thread count) */
    int mc;              /* most rows of a packed A block, a multiple of mr */
    int nc;              /* most columns of a packed B block, a multiple of nr */
    gemm_micro_fn micro;
    gemm_pack_fn pack_a; /* width mr */
    gemm_pack_fn pack_b; /* width nr */
} gemm_kernel;

/* The kernel of each instruction set; NULL where this build has none (AVX2 and AVX-512 off
 * x86-64). Only call a kernel whose set the CPU supports (cpu_isa.h). */
const gemm_kernel *pdl_gemm_kernel_c(void);
const gemm_kernel *pdl_gemm_kernel_avx2(void);
const gemm_kernel *pdl_gemm_kernel_avx512(void);

/* The portable packing routine (gemm_pack_fn) for any width w (the AVX-512 kernel uses it too). */
void pdl_gemm_pack(const float *src, int64_t ld, bool k_contiguous, int64_t count, int w,
                   int64_t kc, float *dst);

#endif
