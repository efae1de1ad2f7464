/* Data sources: random access to (image, label) samples, whatever the storage. The training
 * loop sees only this interface, so IDX files today and LMDB datasets later plug in alike. */
#ifndef PDL_DATA_H
#define PDL_DATA_H

#include "pdl/status.h"
#include "pdl/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pdl_data_source pdl_data_source;

/* How a sample is read: for training (random augmentation, a function of (seed, epoch, index)
 * only, so the same bits whatever the thread count or order of reads) or, when the context is
 * NULL, for evaluation (no randomness: center crop, no mirror). */
typedef struct pdl_sample_ctx {
    uint64_t seed;
    int64_t epoch;
} pdl_sample_ctx;

typedef struct pdl_data_source_ops {
    /* Writes sample index (0 <= index < count) as floats (C, H, W) into x and its label.
     * Must be safe to call from several threads at once (the prefetching loader does). */
    pdl_status (*read)(pdl_data_source *src, const pdl_sample_ctx *ctx, int64_t index, float *x,
                       int32_t *label);
    void (*free)(pdl_data_source *src);
} pdl_data_source_ops;

struct pdl_data_source {
    const pdl_data_source_ops *ops;
    int64_t count;    /* samples */
    pdl_shape sample; /* (C, H, W) of one sample */
    int classes;      /* labels are in [0, classes) */
    char name[256];   /* where it came from, for messages */
};

/* Opens MNIST/Fashion-MNIST IDX image and label files (raw or gzip). Pixels become floats
 * x / 255 in [0, 1]. Errors name the file and what is wrong with it (magic, sizes, truncation,
 * a label out of range). classes is the largest label + 1. labels_path may be NULL for unlabeled
 * images: then classes is 0 and every label reads as -1. The caller frees with
 * pdl_data_source_free. */
pdl_status pdl_idx_open(const char *images_path, const char *labels_path, pdl_data_source **out);

pdl_status pdl_data_source_read(pdl_data_source *src, const pdl_sample_ctx *ctx, int64_t index,
                                float *x, int32_t *label);
void pdl_data_source_free(pdl_data_source *src);

/* The order in which epoch visits the count samples: a permutation that depends only on
 * (seed, epoch). order has count entries. */
void pdl_epoch_order(uint64_t seed, int64_t epoch, int64_t count, int64_t *order);

/* Reads samples order[0..n) into x (n, C, H, W) and labels (n; may be NULL). */
pdl_status pdl_data_source_batch(pdl_data_source *src, const pdl_sample_ctx *ctx,
                                 const int64_t *order, int64_t n, float *x, int32_t *labels);

#ifdef __cplusplus
}
#endif
#endif
