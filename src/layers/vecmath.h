/* Float exp, log and pow over arrays, written so that GCC vectorizes them (no libm call and no
 * branch per element): the layer kernels' replacement for expf/logf/powf in loops. Owns only the
 * math; tests/test_vecmath.c checks it against libm (exp and log within 1 ulp, pow within
 * 2 + 2 |p log x| ulp). Callers pass short arrays (VEC_CHUNK on the stack) to stay in L1. */
#ifndef PDL_LAYERS_VECMATH_H
#define PDL_LAYERS_VECMATH_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>

enum { VEC_CHUNK = 256 }; /* the elements of a caller's stack buffer */

typedef union vec_bits {
    float f;
    uint32_t u;
} vec_bits;

/* 1.5 * 2^23: adding it to a float of magnitude below 2^22 rounds it to an integer, which is
 * then in the low bits of the sum. */
#define VEC_MAGIC 12582912.0f

/* exp(x) for x in [-104, 89] (or NaN), Cephes' expf: x = n ln2 + r, |r| <= ln2 / 2, a degree-7
 * polynomial for e^r, then 2^n applied as two factors so that results below FLT_MIN come out
 * as correctly scaled subnormals. */
static inline float exp_in_range(float x)
{
    vec_bits t = {x * 1.44269504088896341f + VEC_MAGIC}, magic = {VEC_MAGIC};
    float fn = t.f - VEC_MAGIC;
    float r = x - fn * 0.693359375f; /* ln2 in two parts (Cody-Waite) */
    r = r - fn * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    vec_bits half = {fn * 0.5f + VEC_MAGIC}; /* n = n1 + n2, both within the exponent range */
    vec_bits rest = {fn - (half.f - VEC_MAGIC) + VEC_MAGIC};
    vec_bits s1, s2;
    s1.u = (half.u - magic.u + 127u) << 23;
    s2.u = (rest.u - magic.u + 127u) << 23;
    return p * s1.f * s2.f;
}

/* x[i] = exp(x[i]): -inf and anything below -104 give 0, above 89 +inf, NaN stays NaN. The clamp
 * is a loop of its own: inside the polynomial's loop GCC turns it into branches. */
static inline void vec_exp(float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        float v = x[i] < -104.0f ? -104.0f : x[i];
        x[i] = v > 89.0f ? 89.0f : v;
    }
    for (int64_t i = 0; i < n; i++)
        x[i] = exp_in_range(x[i]);
}

/* c ? a : b through the bits. A plain ?: lets GCC sink the computation of a and b into
 * branches, and then it refuses to if-convert an operation that could trap (-ftrapping-math). */
static inline float vec_select(bool c, float a, float b)
{
    uint32_t mask = 0u - (uint32_t)c;
    vec_bits ab = {a}, bb = {b}, r;
    r.u = (ab.u & mask) | (bb.u & ~mask);
    return r.f;
}

/* x[i] = log(x[i]), Cephes' logf: x = m 2^e with m in [sqrt(1/2), sqrt(2)), a degree-9
 * polynomial in m - 1. Subnormals are scaled up first; 0 gives -inf, +inf +inf, negatives and
 * NaN give NaN. */
static inline void vec_log(float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        float v = x[i];
        bool tiny = v < 1.17549435e-38f; /* FLT_MIN */
        vec_bits b = {vec_select(tiny, v * 33554432.0f, v)}; /* 2^25 */
        float e = (float)(int32_t)((b.u >> 23) & 0xffu) - vec_select(tiny, 151.0f, 126.0f);
        vec_bits mb;
        mb.u = (b.u & 0x007fffffu) | 0x3f000000u; /* in [0.5, 1) */
        bool low = mb.f < 0.707106781186547524f;
        float m = (mb.f - 1.0f) + vec_select(low, mb.f, 0.0f); /* 2 mb - 1 or mb - 1, exactly */
        e = e - vec_select(low, 1.0f, 0.0f);
        float z = m * m;
        float p = 7.0376836292e-2f;
        p = p * m - 1.1514610310e-1f;
        p = p * m + 1.1676998740e-1f;
        p = p * m - 1.2420140846e-1f;
        p = p * m + 1.4249322787e-1f;
        p = p * m - 1.6668057665e-1f;
        p = p * m + 2.0000714765e-1f;
        p = p * m - 2.4999993993e-1f;
        p = p * m + 3.3333331174e-1f;
        float y = p * m * z + e * -2.12194440e-4f - 0.5f * z;
        y = m + y + e * 0.693359375f;
        float special = vec_select(v == 0.0f, -INFINITY, vec_select(v > 0.0f, v, NAN));
        x[i] = vec_select((v > 0.0f) & (v < INFINITY), y, special);
    }
}

/* x[i] = x[i]^p = exp(p log x[i]) for x[i] > 0, within 2 + 2 |p log x[i]| ulp. */
static inline void vec_pow(float *x, int64_t n, float p)
{
    vec_log(x, n);
    for (int64_t i = 0; i < n; i++)
        x[i] *= p;
    vec_exp(x, n);
}

#endif
