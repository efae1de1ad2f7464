/* The shared-memory transport between threads of one process: a sender posts a pointer to its
 * message in the slot (sender, receiver) and waits until the receiver has copied (or added)
 * it straight from the sender's memory; no intermediate buffer. Failure of one rank wakes
 * every waiter. Owns no reduction logic (reduce.c). */
#include "dist/transport.h"

#include "core/error.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct slot {
    const void *data; /* the posted message, valid while posted */
    size_t bytes;
    bool posted;
    bool reading; /* the receiver is copying from data */
} slot;

typedef struct threads_transport {
    pdl_transport base;
    pthread_mutex_t lock;
    pthread_cond_t *changed; /* (size) per rank: a slot it waits on changed, or a failure */
    slot *slots;             /* (size * size) slots[from * size + to] */
    int failed_rank;         /* -1 while nobody failed */
    char message[512];       /* of the failed rank */
} threads_transport;

static pdl_status failure(const threads_transport *t, int self, int peer)
{
    if (t->failed_rank == self)
        return pdl_error(PDL_ERR_INTERRUPTED, "worker %d gave up: %s", self, t->message);
    return pdl_error(PDL_ERR_INTERRUPTED, "stopped waiting for worker %d: worker %d failed: %s",
                     peer, t->failed_rank, t->message);
}

static void add_floats(float *restrict dst, const float *restrict src, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dst[i] += src[i];
}

static pdl_status exchange(pdl_transport *base, int self, int to, const void *send,
                           size_t send_bytes, int from, void *recv, size_t recv_bytes, bool add)
{
    threads_transport *t = (threads_transport *)base;
    const int size = base->size;
    PDL_ASSERT(self >= 0 && self < size && to < size && from < size && to != self && from != self);
    pthread_mutex_lock(&t->lock);
    bool failed = t->failed_rank >= 0;
    slot *out = to >= 0 && !failed ? &t->slots[self * size + to] : NULL;
    if (out) {
        PDL_ASSERT(!out->posted);
        *out = (slot){.data = send, .bytes = send_bytes, .posted = true};
        pthread_cond_broadcast(&t->changed[to]);
    }
    if (from >= 0 && !failed) {
        slot *in = &t->slots[from * size + self];
        while (!in->posted && t->failed_rank < 0)
            pthread_cond_wait(&t->changed[self], &t->lock);
        failed = !in->posted;
        if (!failed) {
            PDL_ASSERT(in->bytes == recv_bytes);
            in->reading = true;
            pthread_mutex_unlock(&t->lock);
            if (add)
                add_floats(recv, in->data, recv_bytes / sizeof(float));
            else if (recv_bytes)
                memcpy(recv, in->data, recv_bytes);
            pthread_mutex_lock(&t->lock);
            in->reading = in->posted = false;
            pthread_cond_broadcast(&t->changed[from]);
        }
    }
    if (out) {
        /* Also after a failure: never return while the receiver still reads from send. */
        while (out->posted && (t->failed_rank < 0 || out->reading))
            pthread_cond_wait(&t->changed[self], &t->lock);
        failed = failed || out->posted;
        out->posted = false;
    }
    pdl_status status = failed ? failure(t, self, from >= 0 ? from : to) : PDL_OK;
    pthread_mutex_unlock(&t->lock);
    return status;
}

static void fail(pdl_transport *base, int self, const char *message)
{
    threads_transport *t = (threads_transport *)base;
    pthread_mutex_lock(&t->lock);
    if (t->failed_rank < 0) {
        t->failed_rank = self;
        snprintf(t->message, sizeof t->message, "%s", message);
    }
    for (int r = 0; r < base->size; r++)
        pthread_cond_broadcast(&t->changed[r]);
    pthread_mutex_unlock(&t->lock);
}

static void transport_free(pdl_transport *base)
{
    threads_transport *t = (threads_transport *)base;
    if (!t)
        return;
    for (int r = 0; r < base->size; r++)
        pthread_cond_destroy(&t->changed[r]);
    pthread_mutex_destroy(&t->lock);
    free(t->changed);
    free(t->slots);
    free(t);
}

static const pdl_transport_ops threads_ops = {
    .exchange = exchange, .allreduce = NULL, .fail = fail, .free = transport_free};

pdl_status pdl_transport_threads_create(int size, pdl_transport **out)
{
    PDL_ASSERT(size >= 1);
    threads_transport *t = calloc(1, sizeof *t);
    *out = NULL;
    if (!t)
        return pdl_error(PDL_ERR_NOMEM, "transport: out of memory");
    t->base = (pdl_transport){.ops = &threads_ops, .size = size, .kind = "threads"};
    t->failed_rank = -1;
    t->changed = malloc((size_t)size * sizeof *t->changed);
    t->slots = calloc((size_t)size * (size_t)size, sizeof *t->slots);
    if (!t->changed || !t->slots) {
        free(t->changed);
        free(t->slots);
        free(t);
        return pdl_error(PDL_ERR_NOMEM, "transport: out of memory for %d workers", size);
    }
    pthread_mutex_init(&t->lock, NULL);
    for (int r = 0; r < size; r++)
        pthread_cond_init(&t->changed[r], NULL);
    *out = &t->base;
    return PDL_OK;
}
