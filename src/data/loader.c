/* The prefetching loader: reader threads claim rows of upcoming batches in order (a few rows
 * at a time), read them through the data source straight into a ring of prefetch + 1 batch
 * buffers, and pdl_loader_next hands out completed batches in order. Batch s lives in slot
 * s % slots and is written only after batch s - slots was given back, so at most prefetch
 * batches are ahead of the one in use. Each sample lands at a fixed row and its augmentation
 * depends on (seed, epoch, index) only: the bits never depend on the thread count or timing.
 * Owns threads and buffers; no storage format, no augmentation. */
#include "core/error.h"
#include "pdl/loader.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_DEFAULT_THREADS 32
#define CLAIMS_PER_THREAD 4 /* a batch is split into about threads * this many claims */
#define MESSAGE_SIZE 1024

typedef struct slot {
    float *x;        /* (rows, sample) */
    int32_t *labels; /* (rows) */
    int64_t *index;  /* (rows) the samples' indices */
    int64_t seq;     /* the batch it holds (-1: none yet) */
    int64_t epoch, batch_index;
    int64_t n;         /* valid rows */
    int64_t claimed;   /* rows handed to readers */
    int64_t done;      /* rows finished (read or failed) */
    int64_t error_row; /* the first failed row (n when none) */
    pdl_status status;
    char message[MESSAGE_SIZE];
} slot;

struct pdl_loader {
    pdl_data_source *src;
    pdl_loader_options o;
    int64_t sample;    /* floats per sample */
    int64_t per_epoch; /* batches per epoch */
    int64_t total;     /* batches this loader delivers */
    int64_t chunk;     /* rows per claim */
    int n_slots;
    slot *slots;
    int64_t *order; /* (count) the order of order_epoch (training) */
    int64_t order_epoch;
    pthread_mutex_t lock;
    pthread_cond_t work;  /* readers wait for claimable rows */
    pthread_cond_t ready; /* the consumer waits for a complete batch */
    int64_t open_seq;     /* the batch whose rows are being claimed */
    int64_t next_seq;     /* the batch pdl_loader_next hands out next */
    bool holding;         /* batch next_seq - 1 is in the caller's hands */
    bool stop;
    pdl_status failed; /* sticky: every call after a failed batch repeats its error */
    char failed_message[MESSAGE_SIZE];
    int n_threads; /* started */
    pthread_t *threads;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int pdl_loader_default_threads(void)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    return cores < 1 ? 1 : cores > MAX_DEFAULT_THREADS ? MAX_DEFAULT_THREADS : (int)cores;
}

static bool claimable(const pdl_loader *l)
{
    int64_t limit = l->next_seq + l->n_slots - (l->holding ? 1 : 0);
    return l->open_seq < l->total && l->open_seq < limit;
}

/* Points slot s at batch seq: its sample indices, valid rows and zeroed padding. Called with
 * the lock held, by the reader that claims the batch's first rows. */
static void open_batch(pdl_loader *l, slot *s, int64_t seq)
{
    const pdl_loader_options *o = &l->o;
    int64_t pos = o->batch_index + seq;
    int64_t epoch = o->epoch + pos / l->per_epoch, b = pos % l->per_epoch;
    int64_t first = b * o->batch + o->row0, count = l->src->count;
    if (o->training && l->order_epoch != epoch) {
        pdl_epoch_order(o->seed, epoch, count, l->order);
        l->order_epoch = epoch;
    }
    int64_t n = first >= count ? 0 : count - first < o->rows ? count - first : o->rows;
    for (int64_t i = 0; i < n; i++)
        s->index[i] = o->training ? l->order[first + i] : first + i;
    if (n < o->rows) {
        memset(s->x + n * l->sample, 0, (size_t)((o->rows - n) * l->sample) * sizeof *s->x);
        for (int64_t i = n; i < o->rows; i++)
            s->labels[i] = -1;
    }
    s->seq = seq;
    s->epoch = epoch;
    s->batch_index = b;
    s->n = n;
    s->claimed = s->done = 0;
    s->error_row = n;
    s->status = PDL_OK;
    s->message[0] = '\0';
}

/* Reads rows [r0, r1) of slot s without the lock; on an error stops at the failed row. */
static void read_rows(pdl_loader *l, slot *s, int64_t r0, int64_t r1, int64_t *error_row,
                      pdl_status *status, char *message)
{
    pdl_sample_ctx ctx = {.seed = l->o.seed, .epoch = s->epoch};
    for (int64_t i = r0; i < r1; i++) {
        pdl_status st = pdl_data_source_read(l->src, l->o.training ? &ctx : NULL, s->index[i],
                                             s->x + i * l->sample, &s->labels[i]);
        if (st != PDL_OK) {
            *error_row = i;
            *status = st;
            snprintf(message, MESSAGE_SIZE, "%s", pdl_last_error());
            return;
        }
    }
}

static void *reader(void *arg)
{
    pdl_loader *l = arg;
    char message[MESSAGE_SIZE];
    pthread_mutex_lock(&l->lock);
    for (;;) {
        while (!l->stop && !claimable(l))
            pthread_cond_wait(&l->work, &l->lock);
        if (l->stop)
            break;
        slot *s = &l->slots[l->open_seq % l->n_slots];
        if (s->seq != l->open_seq)
            open_batch(l, s, l->open_seq);
        int64_t r0 = s->claimed, r1 = r0 + l->chunk < s->n ? r0 + l->chunk : s->n;
        s->claimed = r1;
        if (r1 == s->n)
            l->open_seq++;
        pthread_mutex_unlock(&l->lock);
        int64_t error_row = r1;
        pdl_status status = PDL_OK;
        read_rows(l, s, r0, r1, &error_row, &status, message);
        pthread_mutex_lock(&l->lock);
        if (status != PDL_OK && error_row < s->error_row) {
            s->error_row = error_row;
            s->status = status;
            memcpy(s->message, message, sizeof message);
        }
        s->done += r1 - r0;
        if (s->done == s->n)
            pthread_cond_broadcast(&l->ready);
    }
    pthread_mutex_unlock(&l->lock);
    return NULL;
}

static pdl_status check_options(const pdl_data_source *src, pdl_loader_options *o,
                                int64_t *per_epoch)
{
    if (o->rows == 0 && o->row0 == 0)
        o->rows = o->batch;
    if (o->batch < 1 || o->row0 < 0 || o->rows < 1 || o->row0 + o->rows > o->batch)
        return pdl_error(
            PDL_ERR_INVALID, "loader '%s': rows [%lld, %lld) are not a part of a batch of %lld",
            src->name, (long long)o->row0, (long long)(o->row0 + o->rows), (long long)o->batch);
    if (o->threads < 0 || o->prefetch < 0 || o->epoch < 0 || o->batches < 0 || o->max_batches < 0)
        return pdl_error(PDL_ERR_INVALID,
                         "loader '%s': negative threads, prefetch, epoch, "
                         "batches or max_batches",
                         src->name);
    int64_t full = src->count / o->batch;
    *per_epoch = o->batches    ? o->batches
                 : o->training ? full
                               : (src->count + o->batch - 1) / o->batch;
    if (*per_epoch < 1 || (o->training && *per_epoch > full) ||
        (!o->training && *per_epoch > (src->count + o->batch - 1) / o->batch))
        return pdl_error(PDL_ERR_INVALID,
                         "loader '%s': %lld samples do not make %lld batch%s of "
                         "%lld",
                         src->name, (long long)src->count, (long long)(*per_epoch ? *per_epoch : 1),
                         *per_epoch > 1 ? "es" : "", (long long)o->batch);
    if (o->batch_index < 0 || o->batch_index > *per_epoch)
        return pdl_error(PDL_ERR_INVALID, "loader '%s': batch %lld is outside an epoch of %lld",
                         src->name, (long long)o->batch_index, (long long)*per_epoch);
    return PDL_OK;
}

static pdl_status alloc_slots(pdl_loader *l)
{
    int64_t rows = l->o.rows;
    if (!(l->slots = calloc((size_t)l->n_slots, sizeof *l->slots)))
        return pdl_error(PDL_ERR_NOMEM, "loader '%s': out of memory", l->src->name);
    for (int i = 0; i < l->n_slots; i++) {
        slot *s = &l->slots[i];
        s->seq = -1;
        s->x = malloc((size_t)(rows * l->sample) * sizeof *s->x);
        s->labels = malloc((size_t)rows * sizeof *s->labels);
        s->index = malloc((size_t)rows * sizeof *s->index);
        if (!s->x || !s->labels || !s->index)
            return pdl_error(PDL_ERR_NOMEM,
                             "loader '%s': out of memory for %d batch buffers of %lld samples",
                             l->src->name, l->n_slots, (long long)rows);
    }
    if (l->o.training && !(l->order = malloc((size_t)l->src->count * sizeof *l->order)))
        return pdl_error(PDL_ERR_NOMEM, "loader '%s': out of memory for the epoch order",
                         l->src->name);
    return PDL_OK;
}

static pdl_status start_threads(pdl_loader *l, int threads)
{
    if (!(l->threads = calloc((size_t)threads, sizeof *l->threads)))
        return pdl_error(PDL_ERR_NOMEM, "loader '%s': out of memory", l->src->name);
    for (int i = 0; i < threads; i++) {
        int err = pthread_create(&l->threads[i], NULL, reader, l);
        if (err)
            return pdl_error(PDL_ERR_NOMEM, "loader '%s': cannot start reader thread %d of %d: %s",
                             l->src->name, i + 1, threads, strerror(err));
        l->n_threads++;
    }
    return PDL_OK;
}

pdl_status pdl_loader_create(pdl_data_source *src, const pdl_loader_options *options,
                             pdl_loader **out)
{
    *out = NULL;
    pdl_loader_options o = *options;
    int64_t per_epoch = 0;
    pdl_status status = check_options(src, &o, &per_epoch);
    if (status != PDL_OK)
        return status;
    pdl_loader *l = calloc(1, sizeof *l);
    if (!l)
        return pdl_error(PDL_ERR_NOMEM, "loader '%s': out of memory", src->name);
    l->src = src;
    l->o = o;
    l->sample = pdl_shape_count(&src->sample);
    l->per_epoch = per_epoch;
    int64_t end = o.training && o.epochs > o.epoch ? o.epochs : o.epoch + 1;
    l->total = (end - o.epoch) * per_epoch - o.batch_index;
    if (o.max_batches && o.max_batches < l->total)
        l->total = o.max_batches;
    l->n_slots = (o.prefetch ? o.prefetch : PDL_LOADER_DEFAULT_PREFETCH) + 1;
    l->order_epoch = -1;
    pthread_mutex_init(&l->lock, NULL);
    pthread_cond_init(&l->work, NULL);
    pthread_cond_init(&l->ready, NULL);
    int threads = o.threads ? o.threads : pdl_loader_default_threads();
    l->chunk = o.rows / ((int64_t)threads * CLAIMS_PER_THREAD);
    l->chunk = l->chunk < 1 ? 1 : l->chunk;
    status = alloc_slots(l);
    if (status == PDL_OK)
        status = start_threads(l, threads);
    if (status != PDL_OK) {
        pdl_loader_free(l);
        return status;
    }
    *out = l;
    return PDL_OK;
}

pdl_status pdl_loader_next(pdl_loader *l, pdl_batch *out)
{
    memset(out, 0, sizeof *out);
    double t0 = now_s();
    pthread_mutex_lock(&l->lock);
    if (l->holding) {
        l->holding = false;
        pthread_cond_broadcast(&l->work);
    }
    if (l->failed == PDL_OK && l->next_seq < l->total) {
        slot *s = &l->slots[l->next_seq % l->n_slots];
        while (s->seq != l->next_seq || s->done < s->n)
            pthread_cond_wait(&l->ready, &l->lock);
        if (s->status != PDL_OK) {
            l->failed = s->status;
            memcpy(l->failed_message, s->message, sizeof s->message);
        } else {
            *out = (pdl_batch){.x = s->x,
                               .labels = s->labels,
                               .n = s->n,
                               .epoch = s->epoch,
                               .index = s->batch_index};
            l->next_seq++;
            l->holding = true;
        }
    }
    pdl_status failed = l->failed;
    pthread_mutex_unlock(&l->lock);
    if (failed != PDL_OK)
        return pdl_error(failed, "%s", l->failed_message);
    out->wait_s = now_s() - t0;
    return PDL_OK;
}

void pdl_loader_free(pdl_loader *l)
{
    if (!l)
        return;
    pthread_mutex_lock(&l->lock);
    l->stop = true;
    pthread_cond_broadcast(&l->work);
    pthread_cond_broadcast(&l->ready);
    pthread_mutex_unlock(&l->lock);
    for (int i = 0; i < l->n_threads; i++)
        pthread_join(l->threads[i], NULL);
    for (int i = 0; l->slots && i < l->n_slots; i++) {
        free(l->slots[i].x);
        free(l->slots[i].labels);
        free(l->slots[i].index);
    }
    free(l->slots);
    free(l->order);
    free(l->threads);
    pthread_cond_destroy(&l->work);
    pthread_cond_destroy(&l->ready);
    pthread_mutex_destroy(&l->lock);
    free(l);
}
