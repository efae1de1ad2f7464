/* The one place that knows which instruction sets this CPU runs: detection (CPUID through the
 * compiler's __builtin_cpu_supports), the active set the optimized kernels dispatch on, and its
 * overrides (PDL_ISA in the environment, pdl_cpu_isa_force for tests). Knows no kernel. */
#ifndef PDL_BACKEND_CPU_CPU_ISA_H
#define PDL_BACKEND_CPU_CPU_ISA_H

#include "pdl/status.h"

#if defined(__GNUC__) && defined(__x86_64__)
#define PDL_CPU_X86 1 /* the AVX2 and AVX-512 kernels are compiled (and dispatched to) */
#else
#define PDL_CPU_X86 0
#endif

/* Ordered: each set includes what the ones before it need. */
typedef enum pdl_cpu_isa {
    PDL_ISA_C = 0,  /* portable C, whatever the compiler makes of it */
    PDL_ISA_AVX2,   /* AVX2 + FMA (256-bit) */
    PDL_ISA_AVX512, /* AVX-512F (512-bit), with AVX2 and FMA */
    PDL_ISA_COUNT
} pdl_cpu_isa;

/* The best set this CPU (and its operating system) supports. */
pdl_cpu_isa pdl_cpu_isa_detect(void);

/* The set the kernels use now: the last pdl_cpu_isa_force, else PDL_ISA from the environment
 * (read once, "c", "avx2" or "avx512"; a value that is unknown or that this CPU lacks is
 * ignored with a warning through the log callback), else pdl_cpu_isa_detect(). */
pdl_cpu_isa pdl_cpu_isa_active(void);

/* Makes isa the active set for every thread (for tests and benchmarks; a kernel already
 * running finishes on the set it started with). PDL_ERR_UNSUPPORTED, naming the set and the
 * best this CPU has, when the CPU lacks it. */
pdl_status pdl_cpu_isa_force(pdl_cpu_isa isa);

/* "c", "avx2" or "avx512" (the names PDL_ISA takes). */
const char *pdl_cpu_isa_name(pdl_cpu_isa isa);

/* Parses one of those names into *out; PDL_ERR_INVALID naming the value otherwise. */
pdl_status pdl_cpu_isa_parse(const char *name, pdl_cpu_isa *out);

#endif
