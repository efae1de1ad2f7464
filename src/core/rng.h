/* Counter-based random numbers: every value is a pure function of (seed, stream, index), so
 * results never depend on thread count, timing or call order. Streams separate uses
 * (parameter init of layer i, the shuffle of epoch e, the dropout mask of step s, ...). */
#ifndef PDL_CORE_RNG_H
#define PDL_CORE_RNG_H

#include <stdint.h>

/* 64 well-mixed bits for (seed, stream, index). */
uint64_t pdl_rng_u64(uint64_t seed, uint64_t stream, uint64_t index);
/* Uniform in [0, 1) with 24 bits of precision. */
float pdl_rng_uniform(uint64_t seed, uint64_t stream, uint64_t index);
/* Standard normal (Box-Muller over two counters derived from index). */
float pdl_rng_normal(uint64_t seed, uint64_t stream, uint64_t index);
/* Uniform integer in [0, bound) for bound > 0 (rejection-free multiply-shift). */
uint64_t pdl_rng_below(uint64_t seed, uint64_t stream, uint64_t index, uint64_t bound);
/* A stream id from a string (layer names), stable across runs and platforms. */
uint64_t pdl_rng_stream_of(const char *name);

#endif
