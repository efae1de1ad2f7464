/* The AVX2+FMA sgemm kernel: a 6x16 micro-tile (12 ymm accumulators) and packing routines
 * with 8x8 transposes. Compiled for AVX2 by function attributes, whatever -march says; only
 * called when the CPU has AVX2 and FMA (cpu_isa.h). The blocking loops live in gemm.c. */
#include "backend/cpu/gemm_kernels.h"

#include "backend/cpu/cpu_isa.h"

#include <stddef.h>

#if PDL_CPU_X86
#include <immintrin.h>
#include <math.h>

enum { MR = 6, NR = 16, KC = 256, MC = MR * 24, NC = NR * 64 };
_Static_assert(MC * KC <= GEMM_PACK_A_FLOATS && KC * NC <= GEMM_PACK_B_FLOATS,
               "AVX2 blocks exceed the driver's packing buffers");

#define AVX2 __attribute__((target("avx2,fma")))

/* Lanes [0, valid) of a load mask. */
AVX2 static inline __m256i lane_mask(int valid)
{
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(valid), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* The rows of r (8 x 8) become its columns. */
AVX2 static inline void transpose8(__m256 r[8])
{
    __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
    __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
    __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
    __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    __m256 s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    r[0] = _mm256_permute2f128_ps(s0, s4, 0x20);
    r[1] = _mm256_permute2f128_ps(s1, s5, 0x20);
    r[2] = _mm256_permute2f128_ps(s2, s6, 0x20);
    r[3] = _mm256_permute2f128_ps(s3, s7, 0x20);
    r[4] = _mm256_permute2f128_ps(s0, s4, 0x31);
    r[5] = _mm256_permute2f128_ps(s1, s5, 0x31);
    r[6] = _mm256_permute2f128_ps(s2, s6, 0x31);
    r[7] = _mm256_permute2f128_ps(s3, s7, 0x31);
}

/* Packs 8 rows of X(i, p) = src[i * ld + p] (rows from valid on are 0, never read) into
 * dst[p * w + i] for p < kc and i < min(8, w): w is the panel width, dst the panel's lane 0 (or
 * 8). Each store writes 8 lanes; when w < 8 the next store (or the next panel) overwrites the
 * surplus, so stores go in increasing p. */
AVX2 static void pack_rows8(const float *src, int64_t ld, int valid, int w, int64_t kc,
                            float *dst)
{
    int64_t p = 0;
    for (; p + 8 <= kc; p += 8) {
        __m256 r[8];
        for (int i = 0; i < 8; i++) {
            if (i < valid)
                _mm_prefetch((const char *)(src + i * ld + p + 64), _MM_HINT_T0);
            r[i] = i < valid ? _mm256_loadu_ps(src + i * ld + p) : _mm256_setzero_ps();
        }
        transpose8(r);
        for (int q = 0; q < 8; q++)
            _mm256_storeu_ps(dst + (p + q) * w, r[q]);
    }
    for (; p < kc; p++)
        for (int i = 0; i < 8 && i < w; i++)
            dst[p * w + i] = i < valid ? src[i * ld + p] : 0.0f;
}

/* A is (m, k): each A panel from MR rows of A. */
AVX2 static void pack_a_rows(const float *src, int64_t ld, int64_t count, int64_t kc,
                             float *dst)
{
    for (int64_t i = 0; i < count; i += MR)
        pack_rows8(src + i * ld, ld, count - i < MR ? (int)(count - i) : MR, MR, kc,
                   dst + i * kc);
}

/* A is (k, m): row p of A, read in order, goes to row p of every panel. Each 8-lane store
 * spills 2 lanes into the panel's next row, written later; the last row is stored exactly. */
AVX2 static void pack_a_columns(const float *src, int64_t ld, int64_t count, int64_t kc,
                                float *dst)
{
    const __m256i row_lanes = lane_mask(MR);
    for (int64_t p = 0; p < kc; p++) {
        const float *row = src + p * ld;
        for (int64_t i = 0; i < count; i += MR) {
            _mm_prefetch((const char *)(row + 4 * ld + i), _MM_HINT_T0);
            __m256 v = i + 8 <= count ? _mm256_loadu_ps(row + i)
                                      : _mm256_maskload_ps(row + i, lane_mask((int)(count - i)));
            if (p + 1 < kc)
                _mm256_storeu_ps(dst + i * kc + p * MR, v);
            else
                _mm256_maskstore_ps(dst + i * kc + p * MR, row_lanes, v);
        }
    }
}

AVX2 static void pack_a(const float *src, int64_t ld, bool k_contiguous, int64_t count,
                        int64_t kc, float *dst)
{
    if (k_contiguous)
        pack_a_rows(src, ld, count, kc, dst);
    else
        pack_a_columns(src, ld, count, kc, dst);
}

/* B is (n, k): each B panel from NR rows of B, in two groups of 8. */
AVX2 static void pack_b_rows(const float *src, int64_t ld, int64_t count, int64_t kc,
                             float *dst)
{
    for (int64_t j = 0; j < count; j += NR) {
        int valid = count - j < NR ? (int)(count - j) : NR;
        const float *rows = src + j * ld;
        pack_rows8(rows, ld, valid < 8 ? valid : 8, NR, kc, dst + j * kc);
        pack_rows8(valid > 8 ? rows + 8 * ld : rows, ld, valid - 8, NR, kc, dst + j * kc + 8);
    }
}

/* B is (k, n): row p of B, read in order, goes to row p of every panel. */
AVX2 static void pack_b_columns(const float *src, int64_t ld, int64_t count, int64_t kc,
                                float *dst)
{
    const int64_t full = count / NR * NR;
    const int rest = (int)(count - full);
    const __m256i lo = lane_mask(rest), hi = lane_mask(rest - 8);
    for (int64_t p = 0; p < kc; p++) {
        const float *row = src + p * ld;
        for (int64_t j = 0; j < full; j += NR) {
            _mm_prefetch((const char *)(row + 4 * ld + j), _MM_HINT_T0);
            _mm256_storeu_ps(dst + j * kc + p * NR, _mm256_loadu_ps(row + j));
            _mm256_storeu_ps(dst + j * kc + p * NR + 8, _mm256_loadu_ps(row + j + 8));
        }
        if (rest) {
            _mm256_storeu_ps(dst + full * kc + p * NR, _mm256_maskload_ps(row + full, lo));
            _mm256_storeu_ps(dst + full * kc + p * NR + 8, _mm256_maskload_ps(row + full + 8, hi));
        }
    }
}

AVX2 static void pack_b(const float *src, int64_t ld, bool k_contiguous, int64_t count,
                        int64_t kc, float *dst)
{
    if (k_contiguous)
        pack_b_rows(src, ld, count, kc, dst);
    else
        pack_b_columns(src, ld, count, kc, dst);
}

/* C[0..8) = alpha * acc + beta * C (beta == 0: C is not read). */
AVX2 static inline void update8(float *c, __m256 acc, __m256 alpha, __m256 beta, bool read)
{
    __m256 t = _mm256_mul_ps(alpha, acc);
    _mm256_storeu_ps(c, read ? _mm256_fmadd_ps(beta, _mm256_loadu_ps(c), t) : t);
}

#define ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5)

AVX2 static void micro(int64_t kc, const float *restrict a, const float *restrict b, float *c,
                       int64_t ldc, int rows, int cols, float alpha, float beta)
{
#define ZERO(i) __m256 c##i##0 = _mm256_setzero_ps(), c##i##1 = _mm256_setzero_ps();
    ROWS(ZERO)
#undef ZERO
#define PREFETCH(i) if (i < rows) { _mm_prefetch((const char *)(c + i * ldc), _MM_HINT_T0); \
        _mm_prefetch((const char *)(c + i * ldc + NR - 1), _MM_HINT_T0); }
    ROWS(PREFETCH)
#undef PREFETCH
    if (cols > 8) {
#pragma GCC unroll 4
        for (int64_t p = 0; p < kc; p++) {
            __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
#define STEP(i) { __m256 x = _mm256_broadcast_ss(a + i); \
            c##i##0 = _mm256_fmadd_ps(x, b0, c##i##0); c##i##1 = _mm256_fmadd_ps(x, b1, c##i##1); }
            ROWS(STEP)
#undef STEP
            a += MR;
            b += NR;
        }
    } else { /* a tile at most 8 wide (the last one of a narrow C): half the work */
#pragma GCC unroll 4
        for (int64_t p = 0; p < kc; p++) {
            __m256 b0 = _mm256_loadu_ps(b);
#define STEP(i) c##i##0 = _mm256_fmadd_ps(_mm256_broadcast_ss(a + i), b0, c##i##0);
            ROWS(STEP)
#undef STEP
            a += MR;
            b += NR;
        }
    }
    const __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
    const bool read = beta != 0.0f;
    if (rows == MR && cols == NR) {
#define UPDATE(i) update8(c + i * ldc, c##i##0, va, vb, read); \
        update8(c + i * ldc + 8, c##i##1, va, vb, read);
        ROWS(UPDATE)
#undef UPDATE
        return;
    }
    float t[MR * NR]; /* a partial tile: the same arithmetic, element by element */
#define SPILL(i) _mm256_storeu_ps(t + i * NR, _mm256_mul_ps(va, c##i##0)); \
    _mm256_storeu_ps(t + i * NR + 8, _mm256_mul_ps(va, c##i##1));
    ROWS(SPILL)
#undef SPILL
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++)
            c[i * ldc + j] = read ? fmaf(beta, c[i * ldc + j], t[i * NR + j]) : t[i * NR + j];
}

const gemm_kernel *pdl_gemm_kernel_avx2(void)
{
    static const gemm_kernel kernel = {"avx2", MR, NR, KC, MC, NC, micro, pack_a, pack_b};
    return &kernel;
}

#else

const gemm_kernel *pdl_gemm_kernel_avx2(void)
{
    return NULL;
}

#endif
