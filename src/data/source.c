/* The generic data-source calls (index and label checks around the source's own read), batch
 * reading and the epoch order. Owns no storage format: IDX lives in idx.c, LMDB later beside it. */
#include "core/error.h"
#include "core/rng.h"
#include "pdl/data.h"

#include <stddef.h>

/* The RNG stream of epoch e's shuffle is EPOCH_STREAM_BASE + e. */
#define EPOCH_STREAM_BASE 0x53485546464c4500ULL /* "SHUFFLE\0" */

pdl_status pdl_data_source_read(pdl_data_source *src, const pdl_sample_ctx *ctx, int64_t index,
                                float *x, int32_t *label)
{
    if (index < 0 || index >= src->count)
        return pdl_error(PDL_ERR_INVALID, "'%s': sample index %lld is outside [0, %lld)",
                         src->name, (long long)index, (long long)src->count);
    int32_t value = -1;
    pdl_status status = src->ops->read(src, ctx, index, x, &value);
    if (status != PDL_OK)
        return pdl_error_context(status, "'%s': sample %lld", src->name, (long long)index);
    bool unlabeled_ok = src->classes == 0 && value == -1;
    if (!unlabeled_ok && (value < 0 || value >= src->classes))
        return pdl_error(PDL_ERR_FORMAT, "'%s': sample %lld has label %d outside [0, %d)",
                         src->name, (long long)index, (int)value, src->classes);
    *label = value;
    return PDL_OK;
}

void pdl_data_source_free(pdl_data_source *src)
{
    if (src)
        src->ops->free(src);
}

void pdl_epoch_order(uint64_t seed, int64_t epoch, int64_t count, int64_t *order)
{
    uint64_t stream = EPOCH_STREAM_BASE + (uint64_t)epoch;
    for (int64_t i = 0; i < count; i++)
        order[i] = i;
    /* Fisher-Yates from the back: position i swaps with a uniform j in [0, i]. */
    for (int64_t i = count - 1; i > 0; i--) {
        int64_t j = (int64_t)pdl_rng_below(seed, stream, (uint64_t)i, (uint64_t)i + 1);
        int64_t t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
}

pdl_status pdl_data_source_batch(pdl_data_source *src, const pdl_sample_ctx *ctx,
                                 const int64_t *order, int64_t n, float *x, int32_t *labels)
{
    int64_t sample = pdl_shape_count(&src->sample);
    for (int64_t i = 0; i < n; i++) {
        int32_t label = -1;
        pdl_status status = pdl_data_source_read(src, ctx, order[i], x + i * sample, &label);
        if (status != PDL_OK)
            return status;
        if (labels)
            labels[i] = label;
    }
    return PDL_OK;
}
