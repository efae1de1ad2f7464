/* CPU feature detection and the active instruction set (see cpu_isa.h). Owns PDL_ISA and the
 * test override; does not know which kernels exist for each set. */
#include "backend/cpu/cpu_isa.h"

#include "core/error.h"
#include "core/log.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static const char *const isa_names[PDL_ISA_COUNT] = {"c", "avx2", "avx512"};

/* -1 until the first pdl_cpu_isa_active or pdl_cpu_isa_force. */
static atomic_int active_isa = -1;

pdl_cpu_isa pdl_cpu_isa_detect(void)
{
#if PDL_CPU_X86
    __builtin_cpu_init();
    bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    if (avx2 && __builtin_cpu_supports("avx512f"))
        return PDL_ISA_AVX512;
    if (avx2)
        return PDL_ISA_AVX2;
#endif
    return PDL_ISA_C;
}

const char *pdl_cpu_isa_name(pdl_cpu_isa isa)
{
    return isa >= PDL_ISA_C && isa < PDL_ISA_COUNT ? isa_names[isa] : "unknown";
}

pdl_status pdl_cpu_isa_parse(const char *name, pdl_cpu_isa *out)
{
    for (int i = 0; i < PDL_ISA_COUNT; i++)
        if (strcmp(name, isa_names[i]) == 0) {
            *out = (pdl_cpu_isa)i;
            return PDL_OK;
        }
    return pdl_error(PDL_ERR_INVALID, "instruction set '%s': expected c, avx2 or avx512", name);
}

pdl_status pdl_cpu_isa_force(pdl_cpu_isa isa)
{
    pdl_cpu_isa best = pdl_cpu_isa_detect();
    if (isa < PDL_ISA_C || isa >= PDL_ISA_COUNT)
        return pdl_error(PDL_ERR_INVALID, "instruction set %d: no such set", (int)isa);
    if (isa > best)
        return pdl_error(PDL_ERR_UNSUPPORTED, "instruction set %s: this CPU lacks it (best: %s)",
                         pdl_cpu_isa_name(isa), pdl_cpu_isa_name(best));
    atomic_store(&active_isa, (int)isa);
    return PDL_OK;
}

/* PDL_ISA when it names a set this CPU has, else the best set; warns about a bad value. */
static pdl_cpu_isa isa_from_environment(void)
{
    pdl_cpu_isa best = pdl_cpu_isa_detect(), wanted = best;
    const char *env = getenv("PDL_ISA");
    if (!env || !*env)
        return best;
    if (pdl_cpu_isa_parse(env, &wanted) != PDL_OK) {
        pdl_log(PDL_LOG_WARN, "PDL_ISA=%s: expected c, avx2 or avx512; using %s", env,
                pdl_cpu_isa_name(best));
        return best;
    }
    if (wanted > best) {
        pdl_log(PDL_LOG_WARN, "PDL_ISA=%s: this CPU lacks it; using %s", env,
                pdl_cpu_isa_name(best));
        return best;
    }
    return wanted;
}

pdl_cpu_isa pdl_cpu_isa_active(void)
{
    int isa = atomic_load(&active_isa);
    if (isa >= 0)
        return (pdl_cpu_isa)isa;
    int expected = -1;
    atomic_compare_exchange_strong(&active_isa, &expected, (int)isa_from_environment());
    return (pdl_cpu_isa)atomic_load(&active_isa);
}
