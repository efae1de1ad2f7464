/* pdl_dataset_import_idx: MNIST/Fashion-MNIST IDX files to the DIGITS layout (gray records of
 * the files' size). Owns the choice of records per split; reading IDX is idx.c's, writing the
 * folder dataset_write.c's. */
#include "data/dataset_build.h"

#include "core/error.h"
#include "data/datum.h"
#include "pdl/data.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Images encoded per parallel step. */
#define CHUNK 512

typedef struct idx_slot {
    pdl_image img;
    int32_t label;
    uint8_t *datum;
    size_t size;
    float *x; /* the sample as the IDX source gives it, (1, H, W) */
} idx_slot;

typedef struct idx_work {
    pdl_data_source *src;
    const pdl_dataset_options *o;
    pdl_datum_encoding encoding;
    pdl_build *b;
    const int64_t *indices; /* of the images being written */
    int split;
    idx_slot slots[CHUNK];
} idx_work;

/* Reads one IDX image back to bytes (the source gives byte / 255) and encodes it. */
static pdl_status encode_image(void *arg, int64_t index, int64_t i)
{
    idx_work *w = arg;
    idx_slot *s = &w->slots[i];
    pdl_status status = pdl_data_source_read(w->src, NULL, w->indices[index], s->x, &s->label);
    if (status != PDL_OK)
        return status;
    size_t n = (size_t)s->img.width * (size_t)s->img.height;
    for (size_t p = 0; p < n; p++)
        s->img.data[p] = (uint8_t)lrintf(s->x[p] * 255.0f);
    return pdl_datum_encode(&s->img, s->label, w->encoding, w->o->png_level,
                            w->o->jpeg_quality, &s->datum, &s->size);
}

static pdl_status commit_image(void *arg, int64_t index, int64_t i, pdl_status status,
                               const char *message)
{
    (void)index;
    idx_work *w = arg;
    idx_slot *s = &w->slots[i];
    uint8_t *datum = s->datum;
    s->datum = NULL;
    if (status != PDL_OK) {
        free(datum);
        return pdl_error(status, "%s", message);
    }
    return pdl_build_put(w->b, w->split, datum, s->size, s->label, &s->img);
}

/* Writes images indices[0, n) of src to split. */
static pdl_status write_images(idx_work *w, pdl_chunked *c, pdl_data_source *src,
                               const int64_t *indices, int64_t n, int split)
{
    w->src = src;
    w->indices = indices;
    w->split = split;
    c->n = n;
    c->stage = pdl_split_name(split);
    pdl_status status = pdl_chunked_run(c);
    c->done_before += n;
    return status;
}

/* The train images per split: per class, in file order, permuted (k = class) and split as
 * DIGITS splits a class folder; each split then permuted as a whole. */
static pdl_status plan_train(pdl_data_source *src, const pdl_dataset_options *o,
                             int64_t *split_of[PDL_SPLITS], int64_t count[PDL_SPLITS])
{
    int64_t n = src->count;
    int32_t *labels = malloc((size_t)n * sizeof *labels);
    int64_t *members = malloc((size_t)n * sizeof *members);
    int64_t *order = malloc((size_t)n * sizeof *order);
    float *x = malloc((size_t)pdl_shape_count(&src->sample) * sizeof *x);
    pdl_status status = labels && members && order && x
                            ? PDL_OK
                            : pdl_error(PDL_ERR_NOMEM, "IDX import: out of memory");
    for (int s = 0; s < PDL_SPLITS && status == PDL_OK; s++)
        if (!(split_of[s] = malloc((size_t)n * sizeof *split_of[s])))
            status = pdl_error(PDL_ERR_NOMEM, "IDX import: out of memory");
    for (int64_t i = 0; i < n && status == PDL_OK; i++)
        status = pdl_data_source_read(src, NULL, i, x, &labels[i]);
    for (int c = 0; c < src->classes && status == PDL_OK; c++) {
        int64_t m = 0, counts[PDL_SPLITS];
        for (int64_t i = 0; i < n; i++)
            if (labels[i] == c)
                members[m++] = i;
        pdl_build_order(o, c, m, order);
        pdl_split_counts(m, o->val_pct, 0, counts);
        for (int s = 0, k = 0; s < PDL_SPLITS; s++)
            for (int64_t j = 0; j < counts[s]; j++, k++)
                split_of[s][count[s]++] = members[order[k]];
    }
    for (int s = 0; s < PDL_SPLITS && status == PDL_OK; s++) {
        pdl_build_order(o, -1 - s, count[s], order);
        for (int64_t i = 0; i < count[s]; i++)
            members[i] = split_of[s][order[i]];
        memcpy(split_of[s], members, (size_t)count[s] * sizeof *members);
    }
    free(labels);
    free(members);
    free(order);
    free(x);
    return status;
}

static pdl_status alloc_slots(idx_work *w, const pdl_shape *sample)
{
    int h = (int)sample->dim[1], width = (int)sample->dim[2];
    for (int i = 0; i < CHUNK; i++) {
        pdl_status status = pdl_image_alloc(&w->slots[i].img, width, h, 1);
        if (status != PDL_OK)
            return status;
        if (!(w->slots[i].x = malloc((size_t)width * (size_t)h * sizeof(float))))
            return pdl_error(PDL_ERR_NOMEM, "IDX import: out of memory");
    }
    return PDL_OK;
}

static void free_work(idx_work *w)
{
    for (int i = 0; w && i < CHUNK; i++) {
        pdl_image_free(&w->slots[i].img);
        free(w->slots[i].x);
        free(w->slots[i].datum);
    }
    free(w);
}

/* Class names: the labels file, else "0" .. "classes-1". */
static pdl_status idx_names(const pdl_dataset_options *o, int classes, char ***names, int *n)
{
    if (o->labels) {
        pdl_status status = pdl_labels_read(o->labels, true, names, n);
        if (status == PDL_OK && *n < classes)
            status = pdl_error(PDL_ERR_INVALID, "labels file '%s' names %d classes, the IDX "
                               "files have %d", o->labels, *n, classes);
        return status;
    }
    *names = calloc((size_t)classes, sizeof **names);
    if (!*names)
        return pdl_error(PDL_ERR_NOMEM, "IDX import: out of memory");
    *n = classes;
    for (int c = 0; c < classes; c++) {
        char buf[16];
        snprintf(buf, sizeof buf, "%d", c);
        if (!((*names)[c] = strdup(buf)))
            return pdl_error(PDL_ERR_NOMEM, "IDX import: out of memory");
    }
    return PDL_OK;
}

static pdl_status import(pdl_data_source *train, pdl_data_source *test, const char *out,
                         const pdl_dataset_options *given, const char *source,
                         pdl_dataset_report *report)
{
    /* What the records are, for the manifest: the files' size, gray, not resized. */
    pdl_dataset_options eff = *given, *o = &eff;
    eff.channels = 1;
    eff.height = (int)train->sample.dim[1];
    eff.width = (int)train->sample.dim[2];
    eff.resize = "none";
    eff.test_pct = 0;
    idx_work *w = calloc(1, sizeof *w);
    pdl_chunked c = {.chunk = CHUNK, .item = encode_image, .commit = commit_image, .arg = w,
                     .progress = o->progress, .user = o->progress_user};
    int64_t *split_of[PDL_SPLITS] = {0}, count[PDL_SPLITS] = {0}, *test_order = NULL;
    char **names = NULL;
    int n_names = 0;
    int classes = test && test->classes > train->classes ? test->classes : train->classes;
    pdl_status status = PDL_OK;
    if (!w)
        status = pdl_error(PDL_ERR_NOMEM, "IDX import: out of memory");
    else if (!(o->val_pct >= 0 && o->val_pct < 100))
        status = pdl_error(PDL_ERR_INVALID, "val_pct %g must be in [0, 100)", o->val_pct);
    else if (!o->encoding || !pdl_datum_encoding_parse(o->encoding, &w->encoding))
        status = pdl_error(PDL_ERR_INVALID, "encoding '%s' is none of none, png, jpg",
                           o->encoding ? o->encoding : "(null)");
    else if (test && !pdl_shape_equal(&train->sample, &test->sample))
        status = pdl_error(PDL_ERR_SHAPE, "'%s' and '%s' hold images of different sizes",
                           train->name, test->name);
    if (status == PDL_OK) {
        w->o = o;
        status = idx_names(o, classes, &names, &n_names);
    }
    if (status == PDL_OK)
        status = plan_train(train, o, split_of, count);
    if (status == PDL_OK && test) {
        if ((test_order = malloc((size_t)test->count * sizeof *test_order)))
            pdl_build_order(o, -1 - PDL_SPLIT_TEST, test->count, test_order);
        else
            status = pdl_error(PDL_ERR_NOMEM, "IDX import: out of memory");
    }
    c.total = train->count + (test ? test->count : 0);
    report->found = c.total;
    if (status == PDL_OK)
        status = pdl_threadpool_create(o->threads, &c.pool);
    if (status == PDL_OK)
        status = alloc_slots(w, &train->sample);
    if (status == PDL_OK)
        status = pdl_build_begin(out, o, &w->b);
    for (int s = 0; s < PDL_SPLIT_TEST && status == PDL_OK; s++)
        status = write_images(w, &c, train, split_of[s], count[s], s);
    if (status == PDL_OK && test)
        status = write_images(w, &c, test, test_order, test->count, PDL_SPLIT_TEST);
    if (status == PDL_OK) {
        status = pdl_build_finish(w->b, source, names, n_names, report);
        w->b = NULL;
    }
    if (w)
        pdl_build_abort(w->b);
    free_work(w);
    pdl_threadpool_free(c.pool);
    for (int s = 0; s < PDL_SPLITS; s++)
        free(split_of[s]);
    free(test_order);
    pdl_labels_free(names, n_names);
    return status;
}

pdl_status pdl_dataset_import_idx(const char *train_images, const char *train_labels,
                                  const char *test_images, const char *test_labels,
                                  const char *out, const pdl_dataset_options *o,
                                  pdl_dataset_report *report_out)
{
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pdl_dataset_report local = {0}, *report = report_out ? report_out : &local;
    *report = (pdl_dataset_report){0};
    pdl_data_source *train = NULL, *test = NULL;
    char *source = NULL;
    pdl_status status = PDL_OK;
    if (!train_images || !train_labels || !test_images != !test_labels) {
        status = pdl_error(PDL_ERR_INVALID, "IDX import needs train images and labels, and "
                           "test images with test labels");
        goto done;
    }
    status = pdl_idx_open(train_images, train_labels, &train);
    if (status == PDL_OK && test_images)
        status = pdl_idx_open(test_images, test_labels, &test);
    if (status != PDL_OK)
        goto done;
    size_t len = strlen(train->name) + (test ? strlen(test->name) : 0) + 16;
    if (!(source = malloc(len))) {
        status = pdl_error(PDL_ERR_NOMEM, "IDX import: out of memory");
        goto done;
    }
    snprintf(source, len, "%s%s%s", train->name, test ? "; " : "", test ? test->name : "");
    status = import(train, test, out, o, source, report);
done:
    free(source);
    pdl_data_source_free(train);
    pdl_data_source_free(test);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    report->seconds = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    pdl_dataset_report_free(&local);
    return status;
}
