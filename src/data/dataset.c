/* The dataset reader of pdl/dataset.h: one LMDB database of Datum records, its keys listed once
 * at open (key order), random reads by index from any thread, labels.txt, and the walks over
 * all records (mean, export). Building datasets lives in dataset_build.c / dataset_write.c. */
#include "core/error.h"
#include "data/dataset_build.h"
#include "data/datum.h"
#include "data/lmdb_db.h"
#include "pdl/dataset.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Records decoded per parallel step of a walk. */
#define WALK_CHUNK 256

struct pdl_dataset {
    pdl_lmdb *db;
    pdl_dataset_info info;
    char *path;      /* the database directory */
    char *keys;      /* count NUL-terminated keys back to back */
    int64_t *key_at; /* count + 1 offsets into keys */
    char **names;    /* labels.txt, or NULL */
    int n_names;
};

pdl_status pdl_labels_read(const char *path, bool required, char ***names, int *count)
{
    *names = NULL;
    *count = 0;
    FILE *f = fopen(path, "r");
    if (!f)
        return errno == ENOENT && !required ? PDL_OK : pdl_error_errno("cannot open", path);
    pdl_status status = PDL_OK;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    char **list = NULL;
    int n = 0;
    while ((len = getline(&line, &cap, f)) >= 0) {
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r' ||
                           line[len - 1] == ' ' || line[len - 1] == '\t'))
            line[--len] = '\0';
        if (len == 0)
            continue;
        char **grown = realloc(list, (size_t)(n + 1) * sizeof *list);
        if (grown)
            list = grown;
        if (!grown || !(list[n] = strdup(line))) {
            status = pdl_error(PDL_ERR_NOMEM, "'%s': out of memory", path);
            break;
        }
        n++;
    }
    if (status == PDL_OK && ferror(f))
        status = pdl_error_errno("cannot read", path);
    free(line);
    fclose(f);
    if (status != PDL_OK) {
        pdl_labels_free(list, n);
        return status;
    }
    *names = list;
    *count = n;
    return PDL_OK;
}

void pdl_labels_free(char **names, int count)
{
    for (int i = 0; i < count; i++)
        free(names[i]);
    free(names);
}

typedef struct key_list {
    char *keys;
    size_t len, cap;
    int64_t *key_at;
    int64_t count;
} key_list;

static pdl_status add_key(void *arg, int64_t index, const void *key, size_t key_size,
                          const void *value, size_t value_size)
{
    (void)value;
    (void)value_size;
    key_list *k = arg;
    if (index >= k->count)
        return pdl_error(PDL_ERR_FORMAT, "more records than the database's count %lld",
                         (long long)k->count);
    if (k->len + key_size + 1 > k->cap) {
        size_t cap = (k->cap ? k->cap * 2 : 4096) + key_size + 1;
        char *grown = realloc(k->keys, cap);
        if (!grown)
            return pdl_error(PDL_ERR_NOMEM, "out of memory listing %lld keys",
                             (long long)k->count);
        k->keys = grown;
        k->cap = cap;
    }
    k->key_at[index] = (int64_t)k->len;
    memcpy(k->keys + k->len, key, key_size);
    k->len += key_size;
    k->keys[k->len++] = '\0';
    k->key_at[index + 1] = (int64_t)k->len;
    return PDL_OK;
}

static pdl_status list_keys(pdl_dataset *ds)
{
    key_list k = {0};
    pdl_status status = pdl_lmdb_count(ds->db, &k.count);
    if (status != PDL_OK)
        return status;
    if (k.count == 0)
        return pdl_error(PDL_ERR_FORMAT, "LMDB database '%s' has no records", ds->path);
    if (!(k.key_at = calloc((size_t)k.count + 1, sizeof *k.key_at)))
        return pdl_error(PDL_ERR_NOMEM, "'%s': out of memory for %lld keys", ds->path,
                         (long long)k.count);
    status = pdl_lmdb_each(ds->db, add_key, &k);
    ds->keys = k.keys;
    ds->key_at = k.key_at;
    ds->info.count = k.count;
    return status;
}

/* "'<db>' record <index> (key '<key>')" for messages. */
static void record_name(const pdl_dataset *ds, int64_t index, char *buf, size_t size)
{
    snprintf(buf, size, "'%s' record %lld (key '%s')", ds->path, (long long)index,
             ds->keys + ds->key_at[index]);
}

typedef struct max_label {
    const pdl_dataset *ds;
    int32_t max;
} max_label;

static pdl_status note_label(void *arg, int64_t index, const void *key, size_t key_size,
                             const void *value, size_t value_size)
{
    (void)key;
    (void)key_size;
    max_label *m = arg;
    char name[512];
    int32_t label = 0;
    record_name(m->ds, index, name, sizeof name);
    pdl_status status = pdl_datum_label(value, value_size, name, &label);
    if (status == PDL_OK && label > m->max)
        m->max = label;
    return status;
}

typedef struct read_call {
    pdl_dataset *ds;
    int64_t index;
    pdl_image *img;
    int channels; /* 0 for the first record, then the first record's */
    pdl_datum_meta meta;
} read_call;

static pdl_status read_value(void *arg, const void *value, size_t size)
{
    read_call *r = arg;
    char name[512];
    record_name(r->ds, r->index, name, sizeof name);
    return pdl_datum_decode(value, size, r->channels, name, r->img, &r->meta);
}

/* Reads the first record into info: shape and encoding. */
static pdl_status read_first(pdl_dataset *ds)
{
    pdl_image img = {0};
    read_call r = {.ds = ds, .index = 0, .img = &img};
    pdl_status status = pdl_lmdb_get(ds->db, ds->keys, (size_t)(ds->key_at[1] - 1), read_value,
                                     &r);
    if (status == PDL_OK) {
        ds->info.channels = img.channels;
        ds->info.height = img.height;
        ds->info.width = img.width;
        ds->info.encoded = r.meta.encoding != PDL_DATUM_RAW;
        ds->info.encoding = pdl_datum_encoding_name(r.meta.encoding);
    }
    pdl_image_free(&img);
    return status;
}

pdl_status pdl_dataset_open(const char *path, const char *split, pdl_dataset **out)
{
    *out = NULL;
    pdl_dataset *ds = calloc(1, sizeof *ds);
    char *labels_path = NULL;
    pdl_status status = PDL_OK;
    if (!ds)
        return pdl_error(PDL_ERR_NOMEM, "dataset '%s': out of memory", path);
    if (split) {
        size_t len = strlen(path) + strlen(split) + 8;
        if ((ds->path = malloc(len)))
            snprintf(ds->path, len, "%s/%s_db", path, split);
        labels_path = pdl_path_join(path, "/", "labels.txt");
    } else {
        ds->path = strdup(path);
    }
    if (!ds->path || (split && !labels_path)) {
        status = pdl_error(PDL_ERR_NOMEM, "dataset '%s': out of memory", path);
        goto fail;
    }
    ds->info.path = ds->path;
    if (split) {
        struct stat st;
        if (stat(path, &st) != 0) {
            status = pdl_error_errno("cannot open the dataset", path);
            goto fail;
        }
        if (stat(ds->path, &st) != 0) {
            status = pdl_error(PDL_ERR_IO, "dataset '%s' has no %s split (no %s_db folder)", path,
                               split, split);
            goto fail;
        }
        if ((status = pdl_labels_read(labels_path, false, &ds->names, &ds->n_names)) != PDL_OK)
            goto fail;
    }
    if ((status = pdl_lmdb_open(ds->path, &ds->db)) != PDL_OK ||
        (status = list_keys(ds)) != PDL_OK || (status = read_first(ds)) != PDL_OK)
        goto fail;
    if (ds->names) {
        ds->info.classes = ds->n_names;
    } else {
        max_label m = {.ds = ds, .max = -1};
        if ((status = pdl_lmdb_each(ds->db, note_label, &m)) != PDL_OK)
            goto fail;
        ds->info.classes = m.max + 1;
    }
    free(labels_path);
    *out = ds;
    return PDL_OK;
fail:
    free(labels_path);
    pdl_dataset_free(ds);
    return status;
}

void pdl_dataset_free(pdl_dataset *ds)
{
    if (!ds)
        return;
    pdl_lmdb_close(ds->db);
    pdl_labels_free(ds->names, ds->n_names);
    free(ds->keys);
    free(ds->key_at);
    free(ds->path);
    free(ds);
}

const pdl_dataset_info *pdl_dataset_get_info(const pdl_dataset *ds)
{
    return &ds->info;
}

const char *pdl_dataset_class_name(const pdl_dataset *ds, int label)
{
    return ds->names && label >= 0 && label < ds->n_names ? ds->names[label] : NULL;
}

const char *pdl_dataset_key(const pdl_dataset *ds, int64_t index)
{
    PDL_ASSERT(index >= 0 && index < ds->info.count);
    return ds->keys + ds->key_at[index];
}

static pdl_status check_index(const pdl_dataset *ds, int64_t index)
{
    if (index < 0 || index >= ds->info.count)
        return pdl_error(PDL_ERR_INVALID, "'%s': record index %lld is outside [0, %lld)",
                         ds->path, (long long)index, (long long)ds->info.count);
    return PDL_OK;
}

/* A label within [0, classes) when labels.txt gives the classes. */
static pdl_status check_label(const pdl_dataset *ds, int64_t index, int32_t label)
{
    if (ds->names && (label < 0 || label >= ds->info.classes)) {
        char name[512];
        record_name(ds, index, name, sizeof name);
        return pdl_error(PDL_ERR_FORMAT, "%s: label %d outside the %d classes of labels.txt",
                         name, (int)label, ds->info.classes);
    }
    return PDL_OK;
}

pdl_status pdl_dataset_read(pdl_dataset *ds, int64_t index, pdl_image *img, int32_t *label)
{
    pdl_status status = check_index(ds, index);
    if (status != PDL_OK)
        return status;
    read_call r = {.ds = ds, .index = index, .img = img, .channels = ds->info.channels};
    const char *key = ds->keys + ds->key_at[index];
    status = pdl_lmdb_get(ds->db, key, (size_t)(ds->key_at[index + 1] - ds->key_at[index] - 1),
                          read_value, &r);
    if (status != PDL_OK)
        return status;
    if (img->width != ds->info.width || img->height != ds->info.height) {
        char name[512];
        record_name(ds, index, name, sizeof name);
        return pdl_error(PDL_ERR_SHAPE, "%s is %dx%d, the first record %dx%d", name, img->width,
                         img->height, ds->info.width, ds->info.height);
    }
    status = check_label(ds, index, r.meta.label);
    if (status == PDL_OK)
        *label = r.meta.label;
    return status;
}

typedef struct label_call {
    const pdl_dataset *ds;
    int64_t index;
    int32_t label;
} label_call;

static pdl_status label_value(void *arg, const void *value, size_t size)
{
    label_call *l = arg;
    char name[512];
    record_name(l->ds, l->index, name, sizeof name);
    return pdl_datum_label(value, size, name, &l->label);
}

pdl_status pdl_dataset_read_label(pdl_dataset *ds, int64_t index, int32_t *label)
{
    pdl_status status = check_index(ds, index);
    if (status != PDL_OK)
        return status;
    label_call l = {.ds = ds, .index = index};
    const char *key = ds->keys + ds->key_at[index];
    status = pdl_lmdb_get(ds->db, key, (size_t)(ds->key_at[index + 1] - ds->key_at[index] - 1),
                          label_value, &l);
    if (status == PDL_OK)
        status = check_label(ds, index, l.label);
    if (status == PDL_OK)
        *label = l.label;
    return status;
}

/* A walk over records [0, n): chunks are decoded in parallel (and handed to work there, when
 * set), then given to serial in index order. */
typedef struct walk {
    pdl_dataset *ds;
    pdl_image images[WALK_CHUNK]; /* reused from chunk to chunk */
    int32_t labels[WALK_CHUNK];
    pdl_status (*work)(struct walk *w, int64_t index, const pdl_image *img, int32_t label);
    pdl_status (*serial)(struct walk *w, int64_t index, const pdl_image *img, int32_t label);
    void *arg;
} walk;

static pdl_status walk_item(void *arg, int64_t index, int64_t i)
{
    walk *w = arg;
    pdl_status status = pdl_dataset_read(w->ds, index, &w->images[i], &w->labels[i]);
    if (status == PDL_OK && w->work)
        status = w->work(w, index, &w->images[i], w->labels[i]);
    return status;
}

static pdl_status walk_commit(void *arg, int64_t index, int64_t i, pdl_status status,
                              const char *message)
{
    walk *w = arg;
    if (status != PDL_OK)
        return pdl_error(status, "%s", message);
    return w->serial ? w->serial(w, index, &w->images[i], w->labels[i]) : PDL_OK;
}

static pdl_status walk_run(walk *w, int64_t n, int threads, const char *stage,
                           pdl_dataset_progress_fn progress, void *user)
{
    pdl_chunked c = {.n = n, .chunk = WALK_CHUNK, .item = walk_item, .commit = walk_commit,
                     .arg = w, .stage = stage, .progress = progress, .user = user};
    pdl_status status = pdl_threadpool_create(threads, &c.pool);
    if (status == PDL_OK)
        status = pdl_chunked_run(&c);
    for (int i = 0; i < WALK_CHUNK; i++)
        pdl_image_free(&w->images[i]);
    pdl_threadpool_free(c.pool);
    return status;
}

static pdl_status add_to_sum(walk *w, int64_t index, const pdl_image *img, int32_t label)
{
    (void)index;
    (void)label;
    uint64_t *sum = w->arg;
    size_t n = (size_t)img->channels * (size_t)img->height * (size_t)img->width;
    for (size_t i = 0; i < n; i++)
        sum[i] += img->data[i];
    return PDL_OK;
}

pdl_status pdl_dataset_mean(pdl_dataset *ds, int threads, pdl_dataset_progress_fn progress,
                            void *user, float **mean, pdl_shape *shape)
{
    *mean = NULL;
    const pdl_dataset_info *info = &ds->info;
    size_t n = (size_t)info->channels * (size_t)info->height * (size_t)info->width;
    uint64_t *sum = calloc(n, sizeof *sum);
    float *out = malloc(n * sizeof *out);
    pdl_status status = PDL_OK;
    if (!sum || !out) {
        status = pdl_error(PDL_ERR_NOMEM, "'%s': out of memory for the mean", ds->path);
        goto done;
    }
    walk w = {.ds = ds, .serial = add_to_sum, .arg = sum};
    status = walk_run(&w, info->count, threads, "mean", progress, user);
    if (status != PDL_OK)
        goto done;
    for (size_t i = 0; i < n; i++)
        out[i] = (float)((double)sum[i] / (double)info->count);
    *mean = out;
    out = NULL;
    *shape = pdl_shape_make(3, (int64_t[]){info->channels, info->height, info->width});
done:
    free(sum);
    free(out);
    return status;
}

/* A class folder name: the labels.txt name with '/' replaced, else the label number. */
static void class_folder(const pdl_dataset *ds, int32_t label, char *buf, size_t size)
{
    const char *name = pdl_dataset_class_name(ds, label);
    if (!name) {
        snprintf(buf, size, "%d", (int)label);
        return;
    }
    snprintf(buf, size, "%s", name);
    for (char *p = buf; *p; p++)
        if (*p == '/')
            *p = '_';
    if (!strcmp(buf, ".") || !strcmp(buf, ".."))
        snprintf(buf, size, "%d", (int)label);
}

static pdl_status make_dir(const char *path)
{
    if (mkdir(path, 0777) == 0 || errno == EEXIST)
        return PDL_OK;
    return pdl_error_errno("cannot create the folder", path);
}

typedef struct export_ctx {
    const char *dir;
} export_ctx;

static pdl_status export_record(walk *w, int64_t index, const pdl_image *img, int32_t label)
{
    export_ctx *e = w->arg;
    char folder[512], key[256];
    class_folder(w->ds, label, folder, sizeof folder);
    snprintf(key, sizeof key, "%s", pdl_dataset_key(w->ds, index));
    for (char *p = key; *p; p++)
        if (*p == '/')
            *p = '_';
    size_t len = strlen(e->dir) + strlen(folder) + strlen(key) + 8;
    char *path = malloc(len);
    if (!path)
        return pdl_error(PDL_ERR_NOMEM, "export: out of memory");
    snprintf(path, len, "%s/%s/%s.png", e->dir, folder, key);
    pdl_status status = pdl_image_write_png(img, path);
    free(path);
    return status;
}

/* Creates the class folders of the labels in records [0, n) before the parallel writes. */
static pdl_status make_class_dirs(pdl_dataset *ds, const char *dir, int64_t n)
{
    pdl_status status = make_dir(dir);
    int classes = ds->info.classes;
    bool *made = calloc((size_t)(classes > 0 ? classes : 1), sizeof *made);
    if (!made)
        return pdl_error(PDL_ERR_NOMEM, "export: out of memory");
    for (int64_t i = 0; i < n && status == PDL_OK; i++) {
        int32_t label = 0;
        status = pdl_dataset_read_label(ds, i, &label);
        bool known = label >= 0 && label < classes;
        if (status != PDL_OK || (known && made[label]))
            continue;
        char folder[512];
        class_folder(ds, label, folder, sizeof folder);
        char *path = pdl_path_join(dir, "/", folder);
        status = path ? make_dir(path) : pdl_error(PDL_ERR_NOMEM, "export: out of memory");
        free(path);
        if (known)
            made[label] = true;
    }
    free(made);
    return status;
}

pdl_status pdl_dataset_export(pdl_dataset *ds, const char *dir, int64_t limit, int threads,
                              pdl_dataset_progress_fn progress, void *user, int64_t *written)
{
    int64_t n = limit > 0 && limit < ds->info.count ? limit : ds->info.count;
    if (written)
        *written = 0;
    pdl_status status = make_class_dirs(ds, dir, n);
    if (status != PDL_OK)
        return status;
    export_ctx e = {.dir = dir};
    walk w = {.ds = ds, .work = export_record, .arg = &e};
    status = walk_run(&w, n, threads, "export", progress, user);
    if (status == PDL_OK && written)
        *written = n;
    return status;
}
