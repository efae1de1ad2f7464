/* Feeding training: the [data] section (augmentation and loader options), data sources over
 * LMDB datasets that decode and augment each record, and the prefetching loader that reads the
 * samples of upcoming batches on worker threads into a ring of ready batches. The storage
 * formats themselves live in pdl/dataset.h (LMDB) and pdl/data.h (IDX). */
#ifndef PDL_LOADER_H
#define PDL_LOADER_H

#include "pdl/data.h"
#include "pdl/status.h"
#include "pdl/tensor.h"

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- the [data] section ------------------------------------------------------------------ */

typedef enum pdl_mean_mode {
    PDL_MEAN_NONE = 0,
    PDL_MEAN_IMAGE, /* subtract the dataset's mean image, pixel by pixel */
    PDL_MEAN_PIXEL, /* subtract the mean image's per-channel average */
    PDL_MEAN_MODE_COUNT,
} pdl_mean_mode;

#define PDL_LOADER_DEFAULT_PREFETCH 3

/* How stored records become the net's input, and how the loader runs. Every augmentation is
 * off by default (docs/model-files.md, [data]). */
typedef struct pdl_data_config {
    int64_t crop[2]; /* (h, w) of the region cut from a record; 0 = the net's input */
    bool mirror;     /* random horizontal flip (training) */
    pdl_mean_mode mean;
    float scale;                 /* after the mean: x = (pixel - mean) * scale; default 1/255 */
    float resized_crop_scale[2]; /* area fraction range (lo, hi) in (0, 1]; (0, 0) = off */
    float resized_crop_ratio[2]; /* aspect (w/h) range of the random resized crop */
    float rotate;                /* random rotation in [-rotate, rotate] degrees; 0 = off */
    float brightness, contrast, saturation; /* jitter factors in [max(0, 1-v), 1+v]; 0 = off */
    int threads;                            /* loader threads; 0 = one per core */
    int prefetch;                           /* ready batches kept ahead of training */
} pdl_data_config;

pdl_data_config pdl_data_config_default(void);
/* Reads the [data] section of a model file's text (defaults where absent; a missing section
 * gives the defaults). Errors name file:line:key. */
pdl_status pdl_data_config_from_text(const char *text, const char *filename, pdl_data_config *out);
/* Applies one override (the keys of [data], e.g. "crop", "224") as `--set data.crop=224` gives
 * it; on an error the config is unchanged and the message names the key. */
pdl_status pdl_data_config_set(pdl_data_config *config, const char *key, const char *value);
const char *pdl_mean_mode_name(pdl_mean_mode mode);

/* ---- data sources over datasets ------------------------------------------------------------ */

/* Opens one database as a data source producing input (C, H, W) samples (the net's input
 * shape): path is a dataset folder and split "train", "val" or "test", or (split NULL) an LMDB
 * directory. A read with a context augments (random crop or resized crop, mirror, rotation,
 * jitter: a function of (seed, epoch, index) only); a read without one evaluates (center crop,
 * nothing random). Both subtract the mean and scale. The mean image is mean.binaryproto in the
 * dataset folder (beside the LMDB directory when split is NULL). Errors name the path and what
 * does not fit (channels, a record smaller than the crop, a mean of another size). The caller
 * frees the source with pdl_data_source_free. */
pdl_status pdl_dataset_source_open(const char *path, const char *split,
                                   const pdl_data_config *config, pdl_shape input,
                                   pdl_data_source **out);

/* ---- the prefetching loader ---------------------------------------------------------------- */

typedef struct pdl_loader pdl_loader;

typedef struct pdl_loader_options {
    int64_t batch;      /* samples per (global) batch, >= 1 */
    int64_t row0, rows; /* this reader's shard: rows [row0, row0 + rows) of every batch; rows 0
                         * = the whole batch (row0 0). Data-parallel workers each take theirs. */
    bool training;      /* epoch e visits pdl_epoch_order(seed, e) in full batches and reads
                         * with the context (seed, e); otherwise one pass in index order with a
                         * short last batch, read without a context (evaluation) */
    uint64_t seed;
    int64_t epoch, batch_index; /* the first batch delivered */
    int64_t epochs;      /* training: deliver up to the end of epoch epochs-1 (0: one epoch) */
    int64_t batches;     /* batches per epoch; 0 = count / batch (training), else ceil */
    int64_t max_batches; /* stop after this many batches in all; 0 = no limit */
    int threads;         /* reader threads; 0 = one per core */
    int prefetch;        /* batches read ahead of the one in use; 0 = the default */
} pdl_loader_options;

/* One batch as pdl_loader_next hands it out: owned by the loader, valid until the next call to
 * pdl_loader_next or pdl_loader_free. After the last batch, x and labels are NULL. */
typedef struct pdl_batch {
    float *x;        /* (rows, C, H, W); rows past n are zeros */
    int32_t *labels; /* (rows); rows past n are -1 */
    int64_t n;       /* valid rows: rows, fewer in the short last evaluation batch (even 0 for a
                      * shard past the data) */
    int64_t epoch, index; /* which batch of which epoch */
    double wait_s;        /* how long pdl_loader_next waited for it */
} pdl_batch;

/* Starts the reader threads; they read ahead at once. The source must outlive the loader and
 * its read must be thread-safe. The caller frees the loader. */
pdl_status pdl_loader_create(pdl_data_source *src, const pdl_loader_options *options,
                             pdl_loader **out);
/* The next batch in order, waiting until all its rows are read. An error of a reader thread
 * (with the sample's message) is returned by the call that asks for its batch, and by every
 * call after it. */
pdl_status pdl_loader_next(pdl_loader *loader, pdl_batch *out);
/* Stops and joins the reader threads (whatever they are doing) and frees everything. */
void pdl_loader_free(pdl_loader *loader);
/* The reader threads a loader runs with threads = 0. */
int pdl_loader_default_threads(void);

#ifdef __cplusplus
}
#endif
#endif
