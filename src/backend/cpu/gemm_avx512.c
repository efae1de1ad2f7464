/* The AVX-512F sgemm kernel: a 12x32 micro-tile (24 zmm accumulators), the AVX2 kernel's
 * structure at twice the width, with the portable packing routine. Compiled for AVX-512F (and
 * the FMA every AVX-512 CPU has) by function attributes, whatever -march says; only called
 * when the CPU has them (cpu_isa.h). */
#include "backend/cpu/gemm_kernels.h"

#include "backend/cpu/cpu_isa.h"

#include <stddef.h>

#if PDL_CPU_X86
#include <immintrin.h>
#include <math.h>

/* kc: a B panel (kc x NR, 16 KB) and an A panel (6 KB) share a 32 KB L1. */
enum { MR = 12, NR = 32, KC = 128, MC = MR * 24, NC = NR * 32 };
_Static_assert(MC * KC <= GEMM_PACK_A_FLOATS && KC * NC <= GEMM_PACK_B_FLOATS,
               "AVX-512 blocks exceed the driver's packing buffers");

#define AVX512 __attribute__((target("avx512f,avx2,fma")))

static void pack_a(const float *src, int64_t ld, bool k_contiguous, int64_t count, int64_t kc,
                   float *dst)
{
    pdl_gemm_pack(src, ld, k_contiguous, count, MR, kc, dst);
}

static void pack_b(const float *src, int64_t ld, bool k_contiguous, int64_t count, int64_t kc,
                   float *dst)
{
    pdl_gemm_pack(src, ld, k_contiguous, count, NR, kc, dst);
}

/* C[0..16) = alpha * acc + beta * C (beta == 0: C is not read). */
AVX512 static inline void update16(float *c, __m512 acc, __m512 alpha, __m512 beta, bool read)
{
    __m512 t = _mm512_mul_ps(alpha, acc);
    _mm512_storeu_ps(c, read ? _mm512_fmadd_ps(beta, _mm512_loadu_ps(c), t) : t);
}

#define ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)

AVX512 static void micro(int64_t kc, const float *restrict a, const float *restrict b, float *c,
                         int64_t ldc, int rows, int cols, float alpha, float beta)
{
#define ZERO(i) __m512 c##i##_0 = _mm512_setzero_ps(), c##i##_1 = _mm512_setzero_ps();
    ROWS(ZERO)
#undef ZERO
#pragma GCC unroll 4
    for (int64_t p = 0; p < kc; p++) {
        __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16);
#define STEP(i) { __m512 x = _mm512_set1_ps(a[i]); \
        c##i##_0 = _mm512_fmadd_ps(x, b0, c##i##_0); c##i##_1 = _mm512_fmadd_ps(x, b1, c##i##_1); }
        ROWS(STEP)
#undef STEP
        a += MR;
        b += NR;
    }
    const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
    const bool read = beta != 0.0f;
    if (rows == MR && cols == NR) {
#define UPDATE(i) update16(c + i * ldc, c##i##_0, va, vb, read); \
        update16(c + i * ldc + 16, c##i##_1, va, vb, read);
        ROWS(UPDATE)
#undef UPDATE
        return;
    }
    float t[MR * NR]; /* a partial tile: the same arithmetic, element by element */
#define SPILL(i) _mm512_storeu_ps(t + i * NR, _mm512_mul_ps(va, c##i##_0)); \
    _mm512_storeu_ps(t + i * NR + 16, _mm512_mul_ps(va, c##i##_1));
    ROWS(SPILL)
#undef SPILL
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++)
            c[i * ldc + j] = read ? fmaf(beta, c[i * ldc + j], t[i * NR + j]) : t[i * NR + j];
}

const gemm_kernel *pdl_gemm_kernel_avx512(void)
{
    static const gemm_kernel kernel = {"avx512", MR, NR, KC, MC, NC, micro, pack_a, pack_b};
    return &kernel;
}

#else

const gemm_kernel *pdl_gemm_kernel_avx512(void)
{
    return NULL;
}

#endif
