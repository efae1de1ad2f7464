/* Dtype sizes and names, shape helpers. No tensor storage lives here yet. */
#include "pdl/tensor.h"

#include <stdio.h>
#include <string.h>

size_t pdl_dtype_size(pdl_dtype dtype)
{
    switch (dtype) {
    case PDL_F32: case PDL_I32: return 4;
    case PDL_F16: case PDL_BF16: case PDL_Q16: return 2;
    case PDL_I8: case PDL_U8: return 1;
    }
    return 0;
}

const char *pdl_dtype_name(pdl_dtype dtype)
{
    switch (dtype) {
    case PDL_F32: return "F32";
    case PDL_F16: return "F16";
    case PDL_BF16: return "BF16";
    case PDL_Q16: return "I16";
    case PDL_I8: return "I8";
    case PDL_U8: return "U8";
    case PDL_I32: return "I32";
    }
    return "?";
}

int64_t pdl_shape_count(const pdl_shape *shape)
{
    int64_t count = 1;
    for (int i = 0; i < shape->ndim; i++)
        count *= shape->dim[i];
    return count;
}

pdl_shape pdl_shape_make(int ndim, const int64_t *dims)
{
    pdl_shape shape = {0};
    shape.ndim = ndim < 0 ? 0 : ndim > PDL_MAX_DIMS ? PDL_MAX_DIMS : ndim;
    for (int i = 0; i < shape.ndim; i++)
        shape.dim[i] = dims[i];
    return shape;
}

pdl_shape pdl_shape_4d(int64_t n, int64_t c, int64_t h, int64_t w)
{
    return (pdl_shape){.ndim = 4, .dim = {n, c, h, w}};
}

pdl_shape pdl_shape_2d(int64_t n, int64_t d) { return (pdl_shape){.ndim = 2, .dim = {n, d}}; }

bool pdl_shape_equal(const pdl_shape *a, const pdl_shape *b)
{
    if (a->ndim != b->ndim)
        return false;
    for (int i = 0; i < a->ndim; i++)
        if (a->dim[i] != b->dim[i])
            return false;
    return true;
}

char *pdl_shape_format(const pdl_shape *shape, char *buf, size_t size)
{
    size_t used = 0;
    if (size == 0)
        return buf;
    buf[0] = '\0';
    used += (size_t)snprintf(buf + used, size - used, "(");
    for (int i = 0; i < shape->ndim && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, i ? ", %lld" : "%lld",
                                 (long long)shape->dim[i]);
    if (used < size)
        snprintf(buf + used, size - used, ")");
    return buf;
}
