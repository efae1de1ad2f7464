/* Datasets in the DIGITS layout: a folder with train_db/, val_db/, test_db/ (LMDB databases of
 * Caffe Datum records), labels.txt, mean.binaryproto, mean.png and manifest.json. This header
 * reads them; `pdl dataset create` (src/data/dataset_build.c) writes them. Records decode to
 * 8-bit planar images (src/data/image.h); turning them into training tensors (crop, mirror,
 * mean, scale) is the loader's job (pdl/loader.h). */
#ifndef PDL_DATASET_H
#define PDL_DATASET_H

#include "pdl/status.h"
#include "pdl/tensor.h"

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pdl_dataset pdl_dataset;
struct pdl_image;

typedef struct pdl_dataset_info {
    int64_t count;               /* records */
    int channels, height, width; /* of the first record; every record is checked on read */
    int classes;                 /* lines of labels.txt, else the largest label + 1 */
    bool encoded;                /* records hold PNG/JPEG files rather than raw pixels */
    const char *encoding;        /* "none", "png", "jpg" (of the first record) */
    const char *path;            /* the database directory */
} pdl_dataset_info;

/* Opens one database read-only. path is either a dataset folder plus split ("train", "val",
 * "test": opens path/<split>_db and reads path/labels.txt) or, with split NULL, an LMDB directory
 * itself (e.g. one written by Caffe's convert_imageset). Records are indexed 0..count-1 in key
 * order. Errors name the path and what is missing or wrong. The caller frees the dataset. */
pdl_status pdl_dataset_open(const char *path, const char *split, pdl_dataset **out);
void pdl_dataset_free(pdl_dataset *ds);
const pdl_dataset_info *pdl_dataset_get_info(const pdl_dataset *ds);
/* Class names from labels.txt (NULL when the dataset has none); owned by the dataset. */
const char *pdl_dataset_class_name(const pdl_dataset *ds, int label);

/* Decodes record index into img and its label. When img->data is set and the record has the
 * same size and channels, it is decoded into that memory; otherwise img is (re)allocated. The
 * caller frees img with pdl_image_free. Safe to call from several threads at once. Errors name
 * the database, the record index and key, and the reason (bad protobuf, bad image, a size
 * different from the first record's). */
pdl_status pdl_dataset_read(pdl_dataset *ds, int64_t index, struct pdl_image *img,
                            int32_t *label);

/* Reads a Caffe mean.binaryproto: *mean is malloc'ed (C, H, W) floats in the channel order of
 * pdl images (RGB; Caffe files store BGR and are converted), shape is set to (C, H, W). */
pdl_status pdl_mean_load(const char *path, float **mean, pdl_shape *shape);

#ifdef __cplusplus
}
#endif
#endif
