/* The safetensors file format, library-internal: an 8-byte little-endian header length, a JSON
 * header {name: {"dtype", "shape", "data_offsets"}, "__metadata__": {string: string}}, then the
 * data section. The reader validates everything (lengths, offsets covering the data section
 * exactly with no overlap or hole, sizes matching dtype x shape, unique names); the writer is
 * atomic. What the tensors and metadata mean is graph/checkpoint.c's business. */
#ifndef PDL_GRAPH_SAFETENSORS_H
#define PDL_GRAPH_SAFETENSORS_H

#include "pdl/status.h"
#include "pdl/tensor.h"
#include <stdbool.h>
#include <stdint.h>

typedef struct pdl_st_tensor {
    char *name;
    char dtype[8];       /* as the file spells it: "F32", "I64", "BF16", ... */
    size_t elem_size;    /* bytes per element of dtype */
    pdl_shape shape;     /* ndim 0 is a scalar */
    uint64_t begin, end; /* byte range within the data section */
} pdl_st_tensor;

typedef struct pdl_safetensors {
    char *source;            /* the path (or name) used in messages */
    int n_tensors;
    pdl_st_tensor *tensors;  /* in header order */
    int n_meta;
    char **meta_keys;        /* in header order */
    char **meta_values;
    uint64_t data_size;      /* bytes of the data section */
    unsigned char *data;     /* the data section; NULL when read header-only */
} pdl_safetensors;

/* Reads and validates the file at path; header_only skips loading the data section (its size
 * is still checked against the header). Caller frees *out with pdl_safetensors_free. Errors:
 * PDL_ERR_IO (cannot open/read), PDL_ERR_FORMAT naming the path and what is wrong. */
pdl_status pdl_safetensors_read(const char *path, bool header_only, pdl_safetensors **out);
/* The same from a whole file's bytes in memory (copied); name is used in messages. */
pdl_status pdl_safetensors_parse(const void *bytes, size_t size, const char *name,
                                 pdl_safetensors **out);
void pdl_safetensors_free(pdl_safetensors *st);

/* Index of the tensor called name, or -1. */
int pdl_safetensors_find(const pdl_safetensors *st, const char *name);
/* The metadata value of key (owned by st), or NULL. */
const char *pdl_safetensors_meta(const pdl_safetensors *st, const char *key);
/* The F32 tensor called name: its shape and its bytes in the data section (not necessarily
 * aligned: copy them with memcpy). PDL_ERR_FORMAT naming the tensor when it is missing or of
 * another dtype. Needs the data section (not header-only). */
pdl_status pdl_safetensors_f32(const pdl_safetensors *st, const char *name, pdl_shape *shape,
                               const unsigned char **data);

/* One tensor to write: count(shape) elements of dtype at data (may be NULL when empty). */
typedef struct pdl_st_source {
    const char *name;
    pdl_dtype dtype;
    pdl_shape shape;
    const void *data;
} pdl_st_source;

/* Writes tensors (in order, contiguous) and the metadata pairs to path: first to a new temp
 * file in the same folder, then fsync, rename over path and fsync of the folder, so path holds
 * either the old file or the whole new one. Names and metadata must be valid UTF-8 and names
 * unique. The header is padded with spaces so the data starts 8-byte aligned. */
pdl_status pdl_safetensors_write(const char *path, const pdl_st_source *tensors, int n_tensors,
                                 const char *const *meta_keys, const char *const *meta_values,
                                 int n_meta);

#endif
