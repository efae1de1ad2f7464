/* Element types and shapes. Only fp32 computes today; the other dtypes are named here so that
 * files, checkpoints and later precision work share one vocabulary. */
#ifndef PDL_TENSOR_H
#define PDL_TENSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum pdl_dtype {
    PDL_F32 = 0,
    PDL_F16,
    PDL_BF16,
    PDL_Q16, /* 16-bit fixed point; the number of fractional bits travels beside it */
    PDL_I8,
    PDL_U8,
    PDL_I32,
} pdl_dtype;

#define PDL_MAX_DIMS 5

/* A shape: ndim sizes, outermost first, e.g. (N, C, H, W) or (N, D). */
typedef struct pdl_shape {
    int ndim;
    int64_t dim[PDL_MAX_DIMS];
} pdl_shape;

/* Bytes per element of dtype. */
size_t pdl_dtype_size(pdl_dtype dtype);
/* "F32", "F16", ... as safetensors spells them. */
const char *pdl_dtype_name(pdl_dtype dtype);

/* Number of elements (1 for ndim == 0). */
int64_t pdl_shape_count(const pdl_shape *shape);
/* Builds a shape from up to PDL_MAX_DIMS sizes. */
pdl_shape pdl_shape_make(int ndim, const int64_t *dims);
pdl_shape pdl_shape_4d(int64_t n, int64_t c, int64_t h, int64_t w);
pdl_shape pdl_shape_2d(int64_t n, int64_t d);
bool pdl_shape_equal(const pdl_shape *a, const pdl_shape *b);
/* Writes "(64, 3, 7, 7)" into buf (always NUL-terminated); returns buf. */
char *pdl_shape_format(const pdl_shape *shape, char *buf, size_t size);

#ifdef __cplusplus
}
#endif
#endif
