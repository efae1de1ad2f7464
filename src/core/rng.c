/* Counter-based RNG: a SplitMix64-style finalizer over (seed, stream, index). */
#include "core/rng.h"

#include <math.h>

static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

uint64_t pdl_rng_u64(uint64_t seed, uint64_t stream, uint64_t index)
{
    uint64_t key = mix64(seed + 0x9e3779b97f4a7c15ULL);
    key = mix64(key ^ (stream * 0xd1b54a32d192ed03ULL + 0x632be59bd9b4e019ULL));
    return mix64(key ^ (index * 0x9e3779b97f4a7c15ULL + 0x2545f4914f6cdd1dULL));
}

float pdl_rng_uniform(uint64_t seed, uint64_t stream, uint64_t index)
{
    return (float)(pdl_rng_u64(seed, stream, index) >> 40) * (1.0f / 16777216.0f);
}

float pdl_rng_normal(uint64_t seed, uint64_t stream, uint64_t index)
{
    uint64_t bits = pdl_rng_u64(seed, stream, index);
    /* Two 32-bit uniforms; u1 in (0, 1] so that log is finite. */
    double u1 = ((double)(bits >> 32) + 1.0) / 4294967296.0;
    double u2 = (double)(bits & 0xffffffffu) / 4294967296.0;
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

uint64_t pdl_rng_below(uint64_t seed, uint64_t stream, uint64_t index, uint64_t bound)
{
    /* The high 64 bits of a 64x64-bit product (Lemire's multiply-shift), in portable C. */
    uint64_t x = pdl_rng_u64(seed, stream, index);
    uint64_t x_lo = x & 0xffffffffu, x_hi = x >> 32;
    uint64_t b_lo = bound & 0xffffffffu, b_hi = bound >> 32;
    uint64_t lo_lo = x_lo * b_lo, hi_lo = x_hi * b_lo, lo_hi = x_lo * b_hi, hi_hi = x_hi * b_hi;
    uint64_t cross = (lo_lo >> 32) + (hi_lo & 0xffffffffu) + lo_hi;
    return hi_hi + (hi_lo >> 32) + (cross >> 32);
}

uint64_t pdl_rng_stream_of(const char *name)
{
    uint64_t hash = 0xcbf29ce484222325ULL; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        hash = (hash ^ *p) * 0x100000001b3ULL;
    return hash;
}
