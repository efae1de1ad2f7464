/* Single-precision matrix multiply on the CPU (row-major, BLAS-like). Owns the blocked,
 * packed, multi-threaded sgemm (gemm.c, with per-ISA kernels in gemm_avx2.c and gemm_avx512.c);
 * knows nothing of layers or tensors. */
#ifndef PDL_BACKEND_CPU_GEMM_H
#define PDL_BACKEND_CPU_GEMM_H

#include "core/threadpool.h"

#include <stdbool.h>
#include <stdint.h>

/* C = alpha * op(A) * op(B) + beta * C, all row-major.
 * op(A) is (m, k): A is (m, k) with row stride lda, or (k, m) when trans_a.
 * op(B) is (k, n): B is (k, n) with row stride ldb, or (n, k) when trans_b.
 * C is (m, n) with row stride ldc. beta == 0 overwrites C without reading it (NaNs in C are
 * ignored). Each element of C is summed over k in one fixed order, so the result does not
 * depend on the pool's thread count. pool may be NULL (single-threaded). Never allocates: the
 * packed blocks live on the stack of the thread computing them (about 1.2 MB). Runs the kernel
 * of the active instruction set (cpu_isa.h). */
void pdl_cpu_gemm(pdl_threadpool *pool, bool trans_a, bool trans_b, int64_t m, int64_t n,
                  int64_t k, float alpha, const float *a, int64_t lda, const float *b,
                  int64_t ldb, float beta, float *c, int64_t ldc);

#endif
