/* Augmentation: one decoded 8-bit record (src/data/image.h) becomes the net's float input
 * (C, H, W): crop (random for training, centered for evaluation) or random resized crop,
 * horizontal mirror, small rotation, brightness/contrast/saturation jitter, then the mean
 * subtracted and the result scaled (mean first, then scale, as Caffe does). Every random draw is
 * pdl_rng(seed, stream of the epoch, index * PDL_AUGMENT_DRAWS + draw), so a sample's result is a
 * function of (seed, epoch, index) only. Owns no decoding, no storage and no threads. */
#ifndef PDL_DATA_AUGMENT_H
#define PDL_DATA_AUGMENT_H

#include "data/image.h"
#include "pdl/loader.h"

/* Random draws reserved per sample. */
#define PDL_AUGMENT_DRAWS 64

typedef struct pdl_augment {
    pdl_data_config cfg;
    int channels;
    int in_h, in_w;      /* the stored records */
    int out_h, out_w;    /* the samples produced */
    int crop_h, crop_w;  /* the region of a plain or evaluation crop */
    float *mean;         /* (channels, in_h, in_w) with PDL_MEAN_IMAGE, else NULL; owned */
    float mean_pixel[3]; /* subtracted per channel otherwise (zeros without a mean) */
} pdl_augment;

/* Prepares the augmentation of records (channels, in_h, in_w) into samples (channels, out_h,
 * out_w). mean (mean_shape (C, H, W)) is needed for PDL_MEAN_IMAGE (the records' size) and
 * PDL_MEAN_PIXEL (any size: its per-channel average is used); it is copied. name (the data's
 * path) and mean_name go into the error messages: a channel count, record or mean size that
 * does not fit. */
pdl_status pdl_augment_init(pdl_augment *a, const pdl_data_config *cfg, int channels, int in_h,
                            int in_w, int out_h, int out_w, const float *mean,
                            const pdl_shape *mean_shape, const char *name, const char *mean_name);
void pdl_augment_free(pdl_augment *a);

/* Writes the sample of record index into out (channels, out_h, out_w). img must have the
 * channels and size given to init. ctx NULL: evaluation (center crop, nothing random). */
void pdl_augment_apply(const pdl_augment *a, const pdl_image *img, const pdl_sample_ctx *ctx,
                       int64_t index, float *out);

#endif
