/* The data source over one LMDB database of a dataset: decodes a record (pdl_dataset_read) into
 * a reusable 8-bit image and augments it into the net's input (augment.c). Reads are
 * thread-safe: each takes a decode buffer from a small free list. Owns neither the storage
 * format (dataset.c) nor the augmentation rules. */
#include "core/error.h"
#include "data/augment.h"
#include "data/image.h"
#include "pdl/dataset.h"
#include "pdl/loader.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PATH_SIZE 4096

/* A decode buffer; kept on the free list between reads. */
typedef struct scratch {
    pdl_image img;
    struct scratch *next;
} scratch;

typedef struct dataset_source {
    pdl_data_source base;
    pdl_dataset *ds;
    pdl_augment aug;
    pthread_mutex_t lock; /* guards free_list */
    scratch *free_list;
} dataset_source;

static scratch *take_scratch(dataset_source *s)
{
    pthread_mutex_lock(&s->lock);
    scratch *b = s->free_list;
    if (b)
        s->free_list = b->next;
    pthread_mutex_unlock(&s->lock);
    return b ? b : calloc(1, sizeof *b);
}

static void give_scratch(dataset_source *s, scratch *b)
{
    pthread_mutex_lock(&s->lock);
    b->next = s->free_list;
    s->free_list = b;
    pthread_mutex_unlock(&s->lock);
}

static pdl_status dataset_read(pdl_data_source *base, const pdl_sample_ctx *ctx, int64_t index,
                               float *x, int32_t *label)
{
    dataset_source *s = (dataset_source *)base;
    scratch *b = take_scratch(s);
    if (!b)
        return pdl_error(PDL_ERR_NOMEM, "out of memory for a decode buffer");
    pdl_status status = pdl_dataset_read(s->ds, index, &b->img, label);
    const pdl_augment *a = &s->aug;
    if (status == PDL_OK &&
        (b->img.channels != a->channels || b->img.height != a->in_h || b->img.width != a->in_w))
        status = pdl_error(PDL_ERR_FORMAT, "record %lld is %dx%dx%d, the first was %dx%dx%d",
                           (long long)index, b->img.channels, b->img.height, b->img.width,
                           a->channels, a->in_h, a->in_w);
    if (status == PDL_OK)
        pdl_augment_apply(a, &b->img, ctx, index, x);
    give_scratch(s, b);
    return status;
}

static void dataset_free(pdl_data_source *base)
{
    dataset_source *s = (dataset_source *)base;
    while (s->free_list) {
        scratch *b = s->free_list;
        s->free_list = b->next;
        pdl_image_free(&b->img);
        free(b);
    }
    pdl_augment_free(&s->aug);
    if (s->ds)
        pdl_dataset_free(s->ds);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

static const pdl_data_source_ops dataset_ops = {.read = dataset_read, .free = dataset_free};

/* mean.binaryproto of the dataset folder: path itself with a split, else the folder holding
 * the LMDB directory path. */
static void mean_path(const char *path, const char *split, char *out, size_t size)
{
    size_t len = strlen(path);
    while (len > 1 && path[len - 1] == '/')
        len--;
    if (!split) {
        while (len > 0 && path[len - 1] != '/')
            len--;
        while (len > 1 && path[len - 1] == '/')
            len--;
    }
    if (len == 0)
        snprintf(out, size, "mean.binaryproto");
    else
        snprintf(out, size, "%.*s/mean.binaryproto", (int)len, path);
}

/* Checks the records against the net's input and prepares the augmentation. */
static pdl_status prepare(dataset_source *s, const char *path, const char *split,
                          const pdl_data_config *config, pdl_shape input)
{
    const pdl_dataset_info *info = pdl_dataset_get_info(s->ds);
    char want[64], mean_file[PATH_SIZE];
    float *mean = NULL;
    pdl_shape mean_shape = {0};
    if (input.ndim != 3)
        return pdl_error(PDL_ERR_SHAPE, "'%s': the model's input %s is not (C, H, W)", info->path,
                         pdl_shape_format(&input, want, sizeof want));
    if (info->count > 0 && info->channels != input.dim[0])
        return pdl_error(PDL_ERR_SHAPE, "'%s': records have %d channel%s, the model takes %lld",
                         info->path, info->channels, info->channels == 1 ? "" : "s",
                         (long long)input.dim[0]);
    mean_path(path, split, mean_file, sizeof mean_file);
    if (info->count > 0 && config->mean != PDL_MEAN_NONE) {
        pdl_status status = pdl_mean_load(mean_file, &mean, &mean_shape);
        if (status != PDL_OK)
            return pdl_error_context(status, "'%s': [data] mean = %s", info->path,
                                     pdl_mean_mode_name(config->mean));
    }
    pdl_status status = PDL_OK;
    if (info->count > 0)
        status = pdl_augment_init(&s->aug, config, info->channels, info->height, info->width,
                                  (int)input.dim[1], (int)input.dim[2], mean, &mean_shape,
                                  info->path, mean_file);
    free(mean);
    return status;
}

pdl_status pdl_dataset_source_open(const char *path, const char *split,
                                   const pdl_data_config *config, pdl_shape input,
                                   pdl_data_source **out)
{
    *out = NULL;
    dataset_source *s = calloc(1, sizeof *s);
    if (!s)
        return pdl_error(PDL_ERR_NOMEM, "'%s': out of memory", path);
    pthread_mutex_init(&s->lock, NULL);
    pdl_status status = pdl_dataset_open(path, split, &s->ds);
    if (status == PDL_OK)
        status = prepare(s, path, split, config, input);
    if (status != PDL_OK) {
        dataset_free(&s->base);
        return status;
    }
    const pdl_dataset_info *info = pdl_dataset_get_info(s->ds);
    s->base.ops = &dataset_ops;
    s->base.count = info->count;
    s->base.sample = input;
    s->base.classes = info->classes;
    snprintf(s->base.name, sizeof s->base.name, "%s", info->path);
    *out = &s->base;
    return PDL_OK;
}
