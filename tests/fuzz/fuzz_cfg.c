/* libFuzzer target for the model-file text parser: any bytes through pdl_cfg_parse, then every
 * getter on every entry of every section. Owns no checks of meaning, only "never crash, never
 * leak, never read out of bounds". Net building is fuzz_model.c's. */
#include "graph/cfg.h"

#include <float.h>
#include <stdint.h>
#include <string.h>

static void exercise(pdl_cfg_section *sec)
{
    static const char *const names[] = {"relu", "none", "1", ""};
    for (int i = 0; i < sec->n_entries; i++) {
        const char *key = sec->entries[i].key;
        int64_t v, pair[2], dims[5];
        double d;
        bool b;
        const char *s, *items[4];
        int n, e;
        pdl_cfg_int(sec, key, 0, INT64_MIN, INT64_MAX, &v);
        pdl_cfg_int(sec, key, 0, 1, 10, &v);
        pdl_cfg_float(sec, key, 0, -DBL_MAX, DBL_MAX, &d);
        pdl_cfg_float(sec, key, 0, 0, 1, &d);
        pdl_cfg_bool(sec, key, false, &b);
        pdl_cfg_string(sec, key, NULL, &s);
        pdl_cfg_enum(sec, key, names, 4, 0, &e);
        pdl_cfg_pair(sec, key, 1, 1, 0, 1000, pair);
        pdl_cfg_dims(sec, key, 5, dims, &n);
        pdl_cfg_list(sec, key, 4, items, &n);
        pdl_cfg_error(sec, key, PDL_ERR_PARSE, "%s", "fuzz");
    }
    pdl_cfg_error(sec, NULL, PDL_ERR_PARSE, "%s", "fuzz");
    pdl_cfg_find(sec, "absent");
    pdl_cfg_check_unused(sec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pdl_cfg *cfg = NULL;
    if (pdl_cfg_parse((const char *)data, size, "fuzz.cfg", &cfg) == PDL_OK) {
        for (int s = 0; s < cfg->n_sections; s++)
            exercise(&cfg->sections[s]);
        pdl_cfg_free(cfg);
    }
    return 0;
}
