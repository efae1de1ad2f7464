/* Writing a dataset folder (dataset_build.h): the out.partial-<pid> folder and its lock, one
 * LMDB per non-empty split with DIGITS' keys, the train mean, labels.txt, manifest.json and the
 * final rename; plus the chunked thread runner and the report helpers. Which files become
 * records (folders, lists, IDX) is decided by dataset_build.c and dataset_idx.c. */
#include "data/dataset_build.h"

#include "core/error.h"
#include "data/lmdb_db.h"
#include "graph/json.h"
#include "pdl/pdl.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define LOCK_NAME ".pdl-build.lock"
/* Keys "%08d_..." stay in ascending order (MDB_APPEND) below this many records. */
#define APPEND_LIMIT 100000000

const char *pdl_split_name(int split)
{
    static const char *const names[PDL_SPLITS] = {"train", "val", "test"};
    return names[split];
}

char *pdl_path_join(const char *a, const char *sep, const char *b)
{
    size_t len = strlen(a) + strlen(sep) + strlen(b) + 1;
    char *s = malloc(len);
    if (s)
        snprintf(s, len, "%s%s%s", a, sep, b);
    return s;
}

typedef struct chunk_job {
    const pdl_chunked *c;
    int64_t begin, count;
    pdl_status *status;
    char **message;
    atomic_llong next;
} chunk_job;

/* Each thread takes the next item until none is left (items differ much in cost). */
static void chunk_range(void *arg, int64_t begin, int64_t end)
{
    (void)begin;
    (void)end;
    chunk_job *job = arg;
    for (long long i; (i = atomic_fetch_add(&job->next, 1)) < job->count;) {
        pdl_status status = job->c->item(job->c->arg, job->begin + i, i);
        job->status[i] = status;
        job->message[i] = status == PDL_OK ? NULL : strdup(pdl_last_error());
    }
}

pdl_status pdl_chunked_run(const pdl_chunked *c)
{
    chunk_job job = {.c = c};
    job.status = calloc((size_t)c->chunk, sizeof *job.status);
    job.message = calloc((size_t)c->chunk, sizeof *job.message);
    pdl_status result = job.status && job.message
                            ? PDL_OK
                            : pdl_error(PDL_ERR_NOMEM, "%s: out of memory", c->stage);
    int64_t total = c->total ? c->total : c->n;
    for (job.begin = 0; job.begin < c->n && result == PDL_OK; job.begin += c->chunk) {
        job.count = c->n - job.begin < c->chunk ? c->n - job.begin : c->chunk;
        atomic_init(&job.next, 0);
        pdl_parallel_for(c->pool, job.count, 1, chunk_range, &job);
        for (int64_t i = 0; i < job.count; i++) {
            const char *message = job.message[i] ? job.message[i] : "(message lost: no memory)";
            if (result == PDL_OK)
                result = c->commit(c->arg, job.begin + i, i, job.status[i],
                                   job.status[i] == PDL_OK ? NULL : message);
            free(job.message[i]);
            job.message[i] = NULL;
        }
        int64_t done = c->done_before + job.begin + job.count;
        if (result == PDL_OK && c->progress && !c->progress(c->user, c->stage, done, total))
            result = pdl_error(PDL_ERR_INTERRUPTED, "%s stopped after %lld of %lld items",
                               c->stage, (long long)done, (long long)total);
    }
    free(job.status);
    free(job.message);
    return result;
}

pdl_status pdl_report_skip(pdl_dataset_report *report, const char *path, const char *reason)
{
    pdl_dataset_skip *grown =
        realloc(report->skipped, (size_t)(report->skipped_count + 1) * sizeof *grown);
    if (!grown)
        return pdl_error(PDL_ERR_NOMEM, "out of memory listing skipped files");
    report->skipped = grown;
    pdl_dataset_skip *s = &grown[report->skipped_count];
    s->path = strdup(path);
    s->reason = strdup(reason);
    if (!s->path || !s->reason) {
        free(s->path);
        free(s->reason);
        return pdl_error(PDL_ERR_NOMEM, "out of memory listing skipped files");
    }
    report->skipped_count++;
    return PDL_OK;
}

pdl_status pdl_report_drop(pdl_dataset_report *report, const char *name)
{
    char **grown = realloc(report->dropped, (size_t)(report->dropped_count + 1) * sizeof *grown);
    if (!grown)
        return pdl_error(PDL_ERR_NOMEM, "out of memory listing dropped classes");
    report->dropped = grown;
    if (!(grown[report->dropped_count] = strdup(name)))
        return pdl_error(PDL_ERR_NOMEM, "out of memory listing dropped classes");
    report->dropped_count++;
    return PDL_OK;
}

void pdl_dataset_report_free(pdl_dataset_report *report)
{
    if (!report)
        return;
    for (int64_t i = 0; i < report->skipped_count; i++) {
        free(report->skipped[i].path);
        free(report->skipped[i].reason);
    }
    for (int i = 0; i < report->dropped_count; i++)
        free(report->dropped[i]);
    free(report->skipped);
    free(report->dropped);
    *report = (pdl_dataset_report){0};
}

void pdl_dataset_options_init(pdl_dataset_options *o)
{
    *o = (pdl_dataset_options){
        .channels = 3,
        .width = 256,
        .height = 256,
        .resize = "squash",
        .encoding = "png",
        .jpeg_quality = 90,
        .png_level = 1,
        .val_pct = 25,
        .test_pct = 0,
        .min_per_class = 2,
        .shuffle = true,
        .seed = 1,
        .map_size = (size_t)64 << 20,
    };
}

typedef struct pending {
    pdl_lmdb_item items[PDL_BUILD_BATCH];
    char keys[PDL_BUILD_BATCH][32];
    int n;
} pending;

struct pdl_build {
    const pdl_dataset_options *o;
    char *out, *partial;
    int lock_fd;
    pdl_lmdb *db[PDL_SPLITS];
    pending batch[PDL_SPLITS];
    int64_t count[PDL_SPLITS];
    int64_t *per_class[PDL_SPLITS]; /* records per label, classes_cap entries */
    int classes_cap;
    uint64_t *sum; /* train pixels, (C, H, W) */
    int sum_c, sum_h, sum_w;
};

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* rm -rf path; true when it is gone. */
static bool remove_tree(const char *path)
{
    return nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS) == 0 || errno == ENOENT;
}

/* Removes out.partial-* folders of dead builds: a live build holds the flock of its lock file. */
static pdl_status remove_stale(const char *out)
{
    char *copy = strdup(out), *dir = NULL, *base = NULL;
    if (!copy)
        return pdl_error(PDL_ERR_NOMEM, "'%s': out of memory", out);
    char *slash = strrchr(copy, '/');
    if (slash) {
        *slash = '\0';
        dir = slash == copy ? "/" : copy;
        base = slash + 1;
    } else {
        dir = ".";
        base = copy;
    }
    char *prefix = pdl_path_join(base, ".partial-", "");
    DIR *d = prefix ? opendir(dir) : NULL;
    pdl_status status = PDL_OK;
    if (!prefix) {
        status = pdl_error(PDL_ERR_NOMEM, "'%s': out of memory", out);
        goto done;
    }
    if (!d) {
        status = pdl_error_errno("cannot list the folder", dir);
        goto done;
    }
    size_t plen = strlen(prefix);
    struct dirent *e;
    while (status == PDL_OK && (e = readdir(d))) {
        if (strncmp(e->d_name, prefix, plen) != 0)
            continue;
        char *path = pdl_path_join(dir, "/", e->d_name);
        char *lock = path ? pdl_path_join(path, "/", LOCK_NAME) : NULL;
        if (!lock) {
            free(path);
            status = pdl_error(PDL_ERR_NOMEM, "'%s': out of memory", out);
            break;
        }
        int fd = open(lock, O_RDONLY | O_CLOEXEC);
        bool live = fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK;
        if (fd >= 0)
            close(fd);
        if (live)
            status = pdl_error(PDL_ERR_INVALID, "another build is writing '%s' (its '%s' is "
                               "locked)", out, path);
        else if (!remove_tree(path))
            status = pdl_error_errno("cannot remove the unfinished build", path);
        free(lock);
        free(path);
    }
done:
    if (d)
        closedir(d);
    free(prefix);
    free(copy);
    return status;
}

static void build_free(pdl_build *b)
{
    for (int s = 0; s < PDL_SPLITS; s++) {
        pdl_lmdb_close(b->db[s]);
        for (int i = 0; i < b->batch[s].n; i++)
            free((void *)b->batch[s].items[i].value);
        free(b->per_class[s]);
    }
    if (b->lock_fd >= 0)
        close(b->lock_fd);
    free(b->sum);
    free(b->out);
    free(b->partial);
    free(b);
}

pdl_status pdl_build_begin(const char *out, const pdl_dataset_options *o, pdl_build **result)
{
    *result = NULL;
    pdl_build *b = calloc(1, sizeof *b);
    if (!b)
        return pdl_error(PDL_ERR_NOMEM, "'%s': out of memory", out);
    b->o = o;
    b->lock_fd = -1;
    char pid[32], *lock = NULL;
    snprintf(pid, sizeof pid, "%ld", (long)getpid());
    pdl_status status = PDL_OK;
    struct stat st;
    if (!(b->out = strdup(out)))
        goto oom;
    for (size_t len = strlen(b->out); len > 1 && b->out[len - 1] == '/'; len--)
        b->out[len - 1] = '\0'; /* "flowers/" is the folder flowers */
    if (!(b->partial = pdl_path_join(b->out, ".partial-", pid)) ||
        !(lock = pdl_path_join(b->partial, "/", LOCK_NAME)))
        goto oom;
    if (stat(b->out, &st) == 0 && !o->force) {
        status = pdl_error(PDL_ERR_INVALID, "'%s' exists already (force, --force, replaces it)",
                           b->out);
        goto fail;
    }
    if ((status = remove_stale(b->out)) != PDL_OK)
        goto fail;
    if (mkdir(b->partial, 0777) != 0) {
        status = pdl_error_errno("cannot create the folder", b->partial);
        goto fail;
    }
    b->lock_fd = open(lock, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (b->lock_fd < 0 || flock(b->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        status = pdl_error_errno("cannot lock", lock);
        remove_tree(b->partial);
        goto fail;
    }
    free(lock);
    *result = b;
    return PDL_OK;
oom:
    status = pdl_error(PDL_ERR_NOMEM, "'%s': out of memory", out);
fail:
    free(lock);
    build_free(b);
    return status;
}

static pdl_status flush(pdl_build *b, int split)
{
    pending *p = &b->batch[split];
    if (p->n == 0)
        return PDL_OK;
    pdl_status status =
        pdl_lmdb_put_batch(b->db[split], p->items, (size_t)p->n, b->count[split] <= APPEND_LIMIT);
    for (int i = 0; i < p->n; i++)
        free((void *)p->items[i].value);
    p->n = 0;
    return status;
}

/* Counts a record of label in split, growing the per-class tables. */
static pdl_status count_label(pdl_build *b, int split, int32_t label)
{
    if (label < 0)
        return pdl_error(PDL_ERR_INVALID, "'%s': negative label %d", b->out, (int)label);
    if (label >= b->classes_cap) {
        int cap = label + 1 > 2 * b->classes_cap ? label + 1 : 2 * b->classes_cap;
        for (int s = 0; s < PDL_SPLITS; s++) {
            int64_t *grown = realloc(b->per_class[s], (size_t)cap * sizeof *grown);
            if (!grown)
                return pdl_error(PDL_ERR_NOMEM, "'%s': out of memory", b->out);
            memset(grown + b->classes_cap, 0, (size_t)(cap - b->classes_cap) * sizeof *grown);
            b->per_class[s] = grown;
        }
        b->classes_cap = cap;
    }
    b->per_class[split][label]++;
    return PDL_OK;
}

static pdl_status add_to_mean(pdl_build *b, const pdl_image *img)
{
    size_t n = (size_t)img->channels * (size_t)img->height * (size_t)img->width;
    if (!b->sum) {
        if (!(b->sum = calloc(n, sizeof *b->sum)))
            return pdl_error(PDL_ERR_NOMEM, "'%s': out of memory for the mean", b->out);
        b->sum_c = img->channels;
        b->sum_h = img->height;
        b->sum_w = img->width;
    }
    PDL_ASSERT(img->channels == b->sum_c && img->height == b->sum_h && img->width == b->sum_w);
    for (size_t i = 0; i < n; i++)
        b->sum[i] += img->data[i];
    return PDL_OK;
}

pdl_status pdl_build_put(pdl_build *b, int split, uint8_t *datum, size_t size, int32_t label,
                         const pdl_image *img)
{
    pdl_status status = count_label(b, split, label);
    if (status == PDL_OK && !b->db[split]) {
        char name[16];
        snprintf(name, sizeof name, "%s_db", pdl_split_name(split));
        char *path = pdl_path_join(b->partial, "/", name);
        status = path ? pdl_lmdb_create(path, b->o->map_size, &b->db[split])
                      : pdl_error(PDL_ERR_NOMEM, "'%s': out of memory", b->out);
        free(path);
    }
    if (status == PDL_OK && split == PDL_SPLIT_TRAIN)
        status = add_to_mean(b, img);
    if (status != PDL_OK) {
        free(datum);
        return status;
    }
    pending *p = &b->batch[split];
    int len = snprintf(p->keys[p->n], sizeof p->keys[p->n], "%08lld_%d",
                       (long long)b->count[split], (int)label);
    p->items[p->n] = (pdl_lmdb_item){
        .key = p->keys[p->n], .key_size = (size_t)len, .value = datum, .value_size = size};
    p->n++;
    b->count[split]++;
    return p->n == PDL_BUILD_BATCH ? flush(b, split) : PDL_OK;
}

int64_t pdl_build_count(const pdl_build *b, int split)
{
    return b->count[split];
}

size_t pdl_build_map_size(const pdl_build *b, int split)
{
    return b->db[split] ? pdl_lmdb_map_size(b->db[split]) : 0;
}

void pdl_build_abort(pdl_build *b)
{
    if (!b)
        return;
    for (int s = 0; s < PDL_SPLITS; s++) {
        pdl_lmdb_close(b->db[s]);
        b->db[s] = NULL;
    }
    remove_tree(b->partial);
    build_free(b);
}

static pdl_status write_text(const char *path, const char *text, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return pdl_error_errno("cannot create", path);
    bool ok = fwrite(text, 1, len, f) == len;
    ok = fclose(f) == 0 && ok;
    return ok ? PDL_OK : pdl_error_errno("cannot write", path);
}

static pdl_status write_labels(pdl_build *b, char **names, int classes)
{
    pdl_json_buf text = {0};
    for (int i = 0; i < classes; i++) {
        pdl_json_put(&text, names[i], strlen(names[i]));
        pdl_json_put(&text, "\n", 1);
    }
    char *path = pdl_path_join(b->partial, "/", "labels.txt");
    pdl_status status = !path || text.failed
                            ? pdl_error(PDL_ERR_NOMEM, "'%s': out of memory", b->out)
                            : write_text(path, text.data ? text.data : "", text.len);
    free(path);
    free(text.data);
    return status;
}

static pdl_status write_mean(pdl_build *b)
{
    int64_t n = b->count[PDL_SPLIT_TRAIN];
    size_t count = (size_t)b->sum_c * (size_t)b->sum_h * (size_t)b->sum_w;
    float *mean = malloc(count * sizeof *mean);
    char *proto = pdl_path_join(b->partial, "/", "mean.binaryproto");
    char *png = pdl_path_join(b->partial, "/", "mean.png");
    pdl_status status = PDL_OK;
    if (!mean || !proto || !png) {
        status = pdl_error(PDL_ERR_NOMEM, "'%s': out of memory", b->out);
    } else {
        for (size_t i = 0; i < count; i++)
            mean[i] = (float)((double)b->sum[i] / (double)n);
        pdl_shape shape = pdl_shape_make(3, (int64_t[]){b->sum_c, b->sum_h, b->sum_w});
        status = pdl_mean_save(proto, png, mean, &shape);
    }
    free(mean);
    free(proto);
    free(png);
    return status;
}

/* A string that may not be UTF-8 (paths), made valid. */
static void put_text(pdl_json_buf *j, const char *s)
{
    char *copy = strdup(s);
    if (!copy) {
        j->failed = true;
        return;
    }
    pdl_json_utf8_sanitize(copy);
    pdl_json_put_string(j, copy);
    free(copy);
}

static void put_raw(pdl_json_buf *j, const char *s)
{
    pdl_json_put(j, s, strlen(s));
}

static void put_number(pdl_json_buf *j, const char *key, double value)
{
    char buf[64];
    snprintf(buf, sizeof buf, ", \"%s\": %.15g", key, value);
    put_raw(j, buf);
}

static void put_options(pdl_json_buf *j, const pdl_dataset_options *o)
{
    put_raw(j, "  \"options\": {\"resize\": ");
    put_text(j, o->resize);
    put_raw(j, ", \"encoding\": ");
    put_text(j, o->encoding);
    put_number(j, "channels", o->channels);
    put_number(j, "width", o->width);
    put_number(j, "height", o->height);
    put_number(j, "val_pct", o->val_pct);
    put_number(j, "test_pct", o->test_pct);
    put_number(j, "min_per_class", (double)o->min_per_class);
    put_number(j, "max_per_class", (double)o->max_per_class);
    put_number(j, "seed", (double)o->seed);
    put_raw(j, o->shuffle ? ", \"shuffle\": true},\n" : ", \"shuffle\": false},\n");
}

static pdl_status write_manifest(pdl_build *b, const char *source, char **names, int classes,
                                 const pdl_dataset_report *report)
{
    pdl_json_buf j = {0};
    put_raw(&j, "{\n  \"format\": \"pdl-dataset-1\",\n  \"created_by\": \"pdl " PDL_VERSION
                "\",\n  \"source\": ");
    put_text(&j, source);
    put_raw(&j, ",\n");
    put_options(&j, b->o);
    put_raw(&j, "  \"records\": {");
    for (int s = 0; s < PDL_SPLITS; s++) {
        put_raw(&j, s ? ", \"" : "\"");
        put_raw(&j, pdl_split_name(s));
        put_raw(&j, "\": ");
        pdl_json_put_uint(&j, (uint64_t)b->count[s]);
    }
    put_raw(&j, "},\n  \"classes\": [");
    for (int c = 0; c < classes; c++) {
        put_raw(&j, c ? ",\n    {\"label\": " : "\n    {\"label\": ");
        pdl_json_put_uint(&j, (uint64_t)c);
        put_raw(&j, ", \"name\": ");
        put_text(&j, names[c]);
        for (int s = 0; s < PDL_SPLITS; s++) {
            put_raw(&j, ", \"");
            put_raw(&j, pdl_split_name(s));
            put_raw(&j, "\": ");
            pdl_json_put_uint(&j, c < b->classes_cap ? (uint64_t)b->per_class[s][c] : 0);
        }
        put_raw(&j, "}");
    }
    put_raw(&j, "],\n  \"dropped_classes\": [");
    for (int i = 0; i < report->dropped_count; i++) {
        put_raw(&j, i ? ", " : "");
        put_text(&j, report->dropped[i]);
    }
    put_raw(&j, "],\n  \"skipped\": [");
    for (int64_t i = 0; i < report->skipped_count; i++) {
        put_raw(&j, i ? ",\n    {\"path\": " : "\n    {\"path\": ");
        put_text(&j, report->skipped[i].path);
        put_raw(&j, ", \"reason\": ");
        put_text(&j, report->skipped[i].reason);
        put_raw(&j, "}");
    }
    put_raw(&j, "]\n}\n");
    char *path = pdl_path_join(b->partial, "/", "manifest.json");
    pdl_status status = !path || j.failed
                            ? pdl_error(PDL_ERR_NOMEM, "'%s': out of memory", b->out)
                            : write_text(path, j.data, j.len);
    free(path);
    free(j.data);
    return status;
}

/* Moves the finished folder to out (an existing out, when forced, is removed afterwards). */
static pdl_status move_into_place(pdl_build *b)
{
    char *lock = pdl_path_join(b->partial, "/", LOCK_NAME);
    char *old = pdl_path_join(b->partial, ".replaced", "");
    pdl_status status = PDL_OK;
    struct stat st;
    if (!lock || !old) {
        status = pdl_error(PDL_ERR_NOMEM, "'%s': out of memory", b->out);
        goto done;
    }
    remove(lock);
    bool replace = stat(b->out, &st) == 0;
    if (replace && !b->o->force) {
        status = pdl_error(PDL_ERR_INVALID, "'%s' appeared during the build", b->out);
        goto done;
    }
    if (replace && rename(b->out, old) != 0) {
        status = pdl_error_errno("cannot move the old dataset away", b->out);
        goto done;
    }
    if (rename(b->partial, b->out) != 0) {
        status = pdl_error_errno("cannot rename the finished build to", b->out);
        if (replace)
            rename(old, b->out);
        goto done;
    }
    if (replace)
        remove_tree(old);
done:
    free(lock);
    free(old);
    return status;
}

pdl_status pdl_build_finish(pdl_build *b, const char *source, char **names, int classes,
                            pdl_dataset_report *report)
{
    pdl_status status = PDL_OK;
    for (int s = 0; s < PDL_SPLITS && status == PDL_OK; s++) {
        status = flush(b, s);
        if (status == PDL_OK)
            status = pdl_lmdb_close(b->db[s]);
        b->db[s] = NULL;
    }
    if (status == PDL_OK && b->count[PDL_SPLIT_TRAIN] == 0)
        status = pdl_error(PDL_ERR_INVALID, "'%s': no training records were written", b->out);
    if (status == PDL_OK)
        status = write_labels(b, names, classes);
    if (status == PDL_OK)
        status = write_mean(b);
    if (status == PDL_OK)
        status = write_manifest(b, source, names, classes, report);
    if (status == PDL_OK)
        status = move_into_place(b);
    if (status != PDL_OK) {
        pdl_build_abort(b);
        return status;
    }
    for (int s = 0; s < PDL_SPLITS; s++)
        report->records[s] = b->count[s];
    report->classes = classes;
    build_free(b);
    return PDL_OK;
}
