/* Datasets in the DIGITS layout: a folder with train_db/, val_db/, test_db/ (LMDB databases of
 * Caffe Datum records), labels.txt, mean.binaryproto, mean.png and manifest.json. This header
 * reads them (src/data/dataset.c) and builds them (pdl_dataset_create, pdl_dataset_import_idx:
 * src/data/dataset_build.c, dataset_idx.c, dataset_write.c). Records decode to
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

/* Reads only the label of record index, without decoding its pixels (for histograms).
 * Safe to call from several threads at once. */
pdl_status pdl_dataset_read_label(pdl_dataset *ds, int64_t index, int32_t *label);
/* The LMDB key of record index, NUL-terminated; owned by the dataset. */
const char *pdl_dataset_key(const pdl_dataset *ds, int64_t index);

/* Progress of long dataset work: stage ("train", "val", "test", "mean", "export"),
 * done out of total items. Return false to stop: the call then fails with
 * PDL_ERR_INTERRUPTED and leaves nothing half-written behind. */
typedef bool (*pdl_dataset_progress_fn)(void *user, const char *stage, int64_t done,
                                        int64_t total);

/* The mean image of all records of ds: *mean is malloc'ed (C, H, W) floats, RGB, exact (sums
 * of whole numbers, the same whatever the thread count). threads <= 0: all cores. progress may
 * be NULL. */
pdl_status pdl_dataset_mean(pdl_dataset *ds, int threads, pdl_dataset_progress_fn progress,
                            void *user, float **mean, pdl_shape *shape);
/* Writes mean (C, H, W), RGB, as Caffe's mean.binaryproto (BGR floats with num = 1, channels,
 * height, width, as DIGITS writes it) and, when png is not NULL, as a PNG image. The values
 * are rounded to whole numbers in [0, 255] first (ties to even, as DIGITS' numpy.around). */
pdl_status pdl_mean_save(const char *binaryproto, const char *png, const float *mean,
                         const pdl_shape *shape);

/* Writes records [0, limit) (limit <= 0: all) as PNG files dir/<class>/<key>.png, where class
 * is the record's name in labels.txt or else its label number; dir is created when missing.
 * *written (may be NULL) counts the files written. */
pdl_status pdl_dataset_export(pdl_dataset *ds, const char *dir, int64_t limit, int threads,
                              pdl_dataset_progress_fn progress, void *user, int64_t *written);

/* Building a dataset (`pdl dataset create`, src/data/dataset_build.c). Defaults are DIGITS'. */
typedef struct pdl_dataset_options {
    int channels;            /* 3: color, RGB (default); 1: gray */
    int width, height;       /* of every record (256 x 256) */
    const char *resize;      /* "squash" (default), "crop", "fill", "half_crop" */
    const char *encoding;    /* "png" (default), "jpg", "none" (raw pixels) */
    int jpeg_quality;        /* 90, as DIGITS */
    int png_level;           /* zlib level of PNG records, 0-9 (default 1: fast; DIGITS 6) */
    double val_pct, test_pct; /* per class, percent of its files: 25 and 0 */
    int64_t min_per_class;   /* classes with fewer files are dropped and listed (2) */
    int64_t max_per_class;   /* at most this many files per class (0: no limit) */
    bool shuffle;            /* shuffle within classes before splitting and records in each
                                database (true); false: sorted by class, then path */
    uint64_t seed;           /* of the shuffles and of the noise of fill/half_crop (1) */
    int threads;             /* decoding threads; <= 0: all cores. Never changes the result */
    const char *val_input;   /* a separate validation folder or list (NULL: val_pct of input) */
    const char *test_input;  /* a separate test folder or list (NULL: test_pct of input) */
    const char *root;        /* folder of the relative paths in list files (default: the
                                list file's folder) */
    const char *labels;      /* class names for list-file input, one per line (NULL: numbers) */
    bool force;              /* replace an existing dataset at the output path */
    size_t map_size;         /* initial LMDB map size in bytes (64 MiB); doubles when full */
    pdl_dataset_progress_fn progress; /* may be NULL */
    void *progress_user;
} pdl_dataset_options;

/* Fills o with the defaults above. */
void pdl_dataset_options_init(pdl_dataset_options *o);

typedef struct pdl_dataset_skip {
    char *path;   /* the file, or "LIST:LINE" for a bad line of a list file */
    char *reason; /* why it was skipped */
} pdl_dataset_skip;

/* What a build did; pdl_dataset_report_free releases it. */
typedef struct pdl_dataset_report {
    int64_t records[3];        /* written to train_db, val_db, test_db */
    int classes;               /* lines of labels.txt */
    int64_t found;             /* input files and list lines considered */
    int64_t skipped_count;     /* files skipped (bad image, bad line), listed in skipped */
    pdl_dataset_skip *skipped;
    int dropped_count;         /* classes dropped for having fewer than min_per_class files */
    char **dropped;
    double seconds;            /* wall time */
} pdl_dataset_report;
void pdl_dataset_report_free(pdl_dataset_report *report);

/* Builds the dataset folder out (see the top of this header) from input: a folder with one
 * sub-folder per class (labels: the sorted folder names) or a list file of "path LABEL" lines
 * (Caffe's convert_imageset). Everything is written to out.partial-<pid> and renamed to out
 * when complete; an existing out is refused unless o->force, a stale .partial of a dead build
 * is removed. Bad files are skipped and listed in report and manifest.json, never fatal.
 * report may be NULL; it is filled also when the build fails (what was skipped or dropped),
 * and the caller frees it with pdl_dataset_report_free either way. Options are documented in
 * docs/datasets.md (splits per class with DIGITS' rounding, dropped classes, ordering). */
pdl_status pdl_dataset_create(const char *input, const char *out, const pdl_dataset_options *o,
                              pdl_dataset_report *report);

/* Builds the same layout from MNIST/Fashion-MNIST IDX files (raw or gzip): the train files
 * give train_db (and val_db when o->val_pct > 0, per class), the test files (both may be NULL)
 * test_db. Records keep the files' size and are gray: o's size, resize, channels and
 * test_pct are not used (the CLI defaults val_pct to 0 here). */
pdl_status pdl_dataset_import_idx(const char *train_images, const char *train_labels,
                                  const char *test_images, const char *test_labels,
                                  const char *out, const pdl_dataset_options *o,
                                  pdl_dataset_report *report);

#ifdef __cplusplus
}
#endif
#endif
