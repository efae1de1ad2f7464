/* The model-file text format: sections of key = value lines, '#' comments, [repeat] blocks
 * expanded at parse time. Owns parsing and typed, validated option reading with errors that name
 * file:line:key. Knows nothing of layers. */
#ifndef PDL_GRAPH_CFG_H
#define PDL_GRAPH_CFG_H

#include "core/error.h"
#include "pdl/status.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct pdl_cfg_entry {
    char *key;
    char *value; /* trimmed, comments removed, ${i} already substituted */
    int line;
    bool used;   /* set by the getters; unused keys are reported as unknown */
} pdl_cfg_entry;

typedef struct pdl_cfg_section {
    char *type;  /* "net", "conv", "train", ... */
    int line;    /* line of the [type] header */
    const char *file;
    int n_entries;
    pdl_cfg_entry *entries;
} pdl_cfg_section;

typedef struct pdl_cfg {
    char *file; /* name used in messages */
    int n_sections;
    pdl_cfg_section *sections;
} pdl_cfg;

/* Parses text (len bytes, need not be NUL-terminated), expanding [repeat] blocks.
 * Caller frees *out with pdl_cfg_free. */
pdl_status pdl_cfg_parse(const char *text, size_t len, const char *file, pdl_cfg **out);
void pdl_cfg_free(pdl_cfg *cfg);

/* The entry for key or NULL; marks it used. */
pdl_cfg_entry *pdl_cfg_find(pdl_cfg_section *sec, const char *key);

/* Typed getters: absent key -> default; malformed or out-of-range value -> PDL_ERR_PARSE with
 * "file:line: [type] key 'k': <what is wrong>". All mark the key used. */
pdl_status pdl_cfg_int(pdl_cfg_section *sec, const char *key, int64_t def, int64_t min,
                       int64_t max, int64_t *out);
pdl_status pdl_cfg_float(pdl_cfg_section *sec, const char *key, double def, double min,
                         double max, double *out);
pdl_status pdl_cfg_bool(pdl_cfg_section *sec, const char *key, bool def, bool *out);
/* String value (owned by the cfg) or def. */
pdl_status pdl_cfg_string(pdl_cfg_section *sec, const char *key, const char *def,
                          const char **out);
/* One of names[0..n) (case-sensitive); *out is the index. */
pdl_status pdl_cfg_enum(pdl_cfg_section *sec, const char *key, const char *const *names, int n,
                        int def, int *out);
/* "3" -> (3, 3); "1x7" -> (1, 7) as (h, w); each in [min, max]. */
pdl_status pdl_cfg_pair(pdl_cfg_section *sec, const char *key, int64_t def_h, int64_t def_w,
                        int64_t min, int64_t max, int64_t out[2]);
/* "1x28x28" -> {1, 28, 28}; between 1 and max_dims positive sizes; *n_dims receives the count.
 * Absent key: *n_dims = 0 and no error. */
pdl_status pdl_cfg_dims(pdl_cfg_section *sec, const char *key, int max_dims, int64_t *dims,
                        int *n_dims);
/* Comma-separated list: "a, b, -2" -> items (pointers into a cfg-owned copy). Absent: *n = 0.
 * More than max items is an error. */
pdl_status pdl_cfg_list(pdl_cfg_section *sec, const char *key, int max, const char **items,
                        int *n);
/* PDL_ERR_PARSE naming the first key no getter asked for ("unknown key"). */
pdl_status pdl_cfg_check_unused(const pdl_cfg_section *sec);
/* Sets the error "file:line: [type] key 'k': <message>" for an entry (or the section header
 * when key is NULL) and returns code: for checks the getters cannot express. */
pdl_status pdl_cfg_error(const pdl_cfg_section *sec, const char *key, pdl_status code,
                         const char *fmt, ...) PDL_PRINTF(4, 5);

#endif
