/* Internal pieces shared by the dataset builder (dataset_build.c), the IDX import
 * (dataset_idx.c) and the reader's walks (dataset.c): running independent items on a thread
 * pool with their errors kept per item, and the writer of a dataset folder (dataset_write.c:
 * the .partial folder, one LMDB per split, keys, the train mean, labels.txt, manifest.json,
 * the final rename). The public side is pdl/dataset.h. */
#ifndef PDL_DATA_DATASET_BUILD_H
#define PDL_DATA_DATASET_BUILD_H

#include "core/threadpool.h"
#include "data/image.h"
#include "pdl/dataset.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Records written per LMDB transaction. */
#define PDL_BUILD_BATCH 256

enum { PDL_SPLIT_TRAIN = 0, PDL_SPLIT_VAL, PDL_SPLIT_TEST, PDL_SPLITS };
/* "train", "val", "test". */
const char *pdl_split_name(int split);

/* Work over items [0, n) in chunks: item(arg, index, slot) runs on pool (NULL: inline) for
 * every index of a chunk, in any order on any thread (slot = index - the chunk's first index,
 * < chunk); then commit(arg, index, slot, status, message) runs for each of them in index
 * order with the item's status and, when it failed, its message (the failing thread's
 * pdl_last_error()); commit decides whether a failure is fatal. Then progress is called with
 * stage, done_before + the items so far and total. Results never depend on the thread count.
 * Returns the first non-OK status of commit, or PDL_ERR_INTERRUPTED when progress says stop. */
typedef struct pdl_chunked {
    pdl_threadpool *pool;
    int64_t n, chunk;
    pdl_status (*item)(void *arg, int64_t index, int64_t slot);
    pdl_status (*commit)(void *arg, int64_t index, int64_t slot, pdl_status status,
                         const char *message);
    void *arg;
    const char *stage;
    pdl_dataset_progress_fn progress; /* may be NULL */
    void *user;
    int64_t done_before, total;
} pdl_chunked;
pdl_status pdl_chunked_run(const pdl_chunked *c);

/* a, sep and b joined, malloc'ed; NULL when out of memory. */
char *pdl_path_join(const char *a, const char *sep, const char *b);

/* The dataset folder being written. */
typedef struct pdl_build pdl_build;

/* Checks the output path (an existing out is refused unless o->force; a .partial folder of a
 * build that is no longer running is removed, one of a running build is an error) and creates
 * out.partial-<pid>. */
pdl_status pdl_build_begin(const char *out, const pdl_dataset_options *o, pdl_build **b);
/* Appends one record with label to split: key "%08d_<label>" with a per-split counter, as
 * DIGITS writes them. datum (malloc'ed Datum bytes) belongs to b from here on, also on failure.
 * img, the record's pixels, is added to the mean when split is train. Records reach LMDB in
 * batches of PDL_BUILD_BATCH. */
pdl_status pdl_build_put(pdl_build *b, int split, uint8_t *datum, size_t size, int32_t label,
                         const pdl_image *img);
/* Records written so far to split, and with a label in it. */
int64_t pdl_build_count(const pdl_build *b, int split);
/* The LMDB map size of split's database (0 before its first record), for tests. */
size_t pdl_build_map_size(const pdl_build *b, int split);
/* Writes what remains: flushes and closes the databases, labels.txt (names[0..classes)),
 * mean.binaryproto and mean.png of the train split, manifest.json (source describes the input;
 * counts per class and split, the options, report's skipped files and dropped classes), then
 * renames the folder to out and frees b. Fails when no train record was written. Fills
 * report->records. On failure the .partial folder is removed and b freed. */
pdl_status pdl_build_finish(pdl_build *b, const char *source, char **names, int classes,
                            pdl_dataset_report *report);
/* Removes the .partial folder and frees b (NULL-safe). */
void pdl_build_abort(pdl_build *b);

/* DIGITS' per-class split of size files: counts[train, val, test] (see dataset_build.c). */
void pdl_split_counts(int64_t size, double val_pct, double test_pct, int64_t counts[PDL_SPLITS]);
/* The permutation number k of n items for a build with o (identity when !o->shuffle); the
 * seed is derived from o->seed apart from the ones training uses. */
void pdl_build_order(const pdl_dataset_options *o, int64_t k, int64_t n, int64_t *order);

/* Reads the non-empty lines of a labels.txt (trailing whitespace removed) into *names
 * (malloc'ed, count entries). A missing file is an error only when required; otherwise *names
 * stays NULL. */
pdl_status pdl_labels_read(const char *path, bool required, char ***names, int *count);
void pdl_labels_free(char **names, int count);

/* Report helpers: appends a skipped file (strings copied) or a dropped class. */
pdl_status pdl_report_skip(pdl_dataset_report *report, const char *path, const char *reason);
pdl_status pdl_report_drop(pdl_dataset_report *report, const char *name);

#endif
