/* The persistent thread pool behind pdl_parallel_for: workers wait for a new generation, each
 * runs its one static range, and the caller runs range 0. Waiting spins (yielding the core) for
 * SPIN_NS before it sleeps on a condition variable, as OpenMP runtimes and OpenBLAS do: a kernel
 * issues parallel loops back to back, and waking a sleeping thread costs tens of microseconds
 * (milliseconds on a loaded machine). Does not decide how work is split beyond contiguous
 * ranges; callers own determinism. */
#include "core/threadpool.h"

#include "core/error.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

enum { THREADS_MAX = 256 };
/* Worker stacks: fixed, so that kernels keeping packed blocks on the stack (gemm.c, ~1.2 MB)
 * do not depend on the process's stack limit. */
#define WORKER_STACK_BYTES ((size_t)4 << 20)
/* How long a waiting thread spins before it sleeps. */
#define SPIN_NS 200000

typedef struct worker {
    pdl_threadpool *pool;
    int index; /* 1..threads-1; range 0 belongs to the caller */
    pthread_t thread;
} worker;

struct pdl_threadpool {
    int threads;              /* workers + the calling thread */
    worker *workers;          /* threads - 1 */
    int started;              /* workers actually running (for cleanup after a failed create) */

    pthread_mutex_t run_lock; /* serializes callers of pdl_parallel_for */
    pthread_mutex_t lock;     /* guards everything below */
    pthread_cond_t wake;      /* a new generation or shutdown */
    pthread_cond_t done;      /* pending reached 0 */
    _Atomic uint64_t generation; /* written under lock; read by spinning threads without it */
    atomic_int pending;       /* workers still running the current generation */
    bool shutdown;

    /* The current job, valid for one generation. */
    pdl_range_fn fn;
    void *arg;
    int64_t n;
    int chunks;               /* ranges in this generation; workers with index >= chunks idle */
};

/* Range i of chunks contiguous ranges over [0, n). */
static void range_of(int64_t n, int chunks, int i, int64_t *begin, int64_t *end)
{
    *begin = n * i / chunks;
    *end = n * (i + 1) / chunks;
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Spins, yielding the core, while *value == unchanged, for at most SPIN_NS. */
static void spin_while_u64(_Atomic uint64_t *value, uint64_t unchanged)
{
    int64_t deadline = now_ns() + SPIN_NS;
    while (atomic_load_explicit(value, memory_order_acquire) == unchanged && now_ns() < deadline)
        sched_yield();
}

static void spin_while_positive(atomic_int *value)
{
    int64_t deadline = now_ns() + SPIN_NS;
    while (atomic_load_explicit(value, memory_order_acquire) > 0 && now_ns() < deadline)
        sched_yield();
}

static void *worker_main(void *p)
{
    worker *self = (worker *)p;
    pdl_threadpool *pool = self->pool;
    uint64_t seen = 0;
    for (;;) {
        spin_while_u64(&pool->generation, seen);
        pthread_mutex_lock(&pool->lock);
        while (!pool->shutdown && atomic_load(&pool->generation) == seen)
            pthread_cond_wait(&pool->wake, &pool->lock);
        if (pool->shutdown) {
            pthread_mutex_unlock(&pool->lock);
            break;
        }
        seen = atomic_load(&pool->generation);
        bool idle = self->index >= pool->chunks;
        pdl_range_fn fn = pool->fn;
        void *arg = pool->arg;
        int64_t begin = 0, end = 0;
        if (!idle)
            range_of(pool->n, pool->chunks, self->index, &begin, &end);
        pthread_mutex_unlock(&pool->lock);
        if (idle)
            continue;
        fn(arg, begin, end);
        if (atomic_fetch_sub_explicit(&pool->pending, 1, memory_order_acq_rel) == 1) {
            pthread_mutex_lock(&pool->lock);
            pthread_cond_signal(&pool->done);
            pthread_mutex_unlock(&pool->lock);
        }
    }
    return NULL;
}

static int threads_default(void)
{
    const char *env = getenv("PDL_NUM_THREADS");
    if (env && *env) {
        char *end = NULL;
        long value = strtol(env, &end, 10);
        if (*end == '\0' && value > 0)
            return value > THREADS_MAX ? THREADS_MAX : (int)value;
    }
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    return cores < 1 ? 1 : cores > THREADS_MAX ? THREADS_MAX : (int)cores;
}

pdl_status pdl_threadpool_create(int threads, pdl_threadpool **out)
{
    *out = NULL;
    if (threads <= 0)
        threads = threads_default();
    if (threads > THREADS_MAX)
        return pdl_error(PDL_ERR_INVALID, "thread pool: %d threads requested, at most %d",
                         threads, THREADS_MAX);
    pdl_threadpool *pool = calloc(1, sizeof *pool);
    if (!pool)
        return pdl_error(PDL_ERR_NOMEM, "thread pool: out of memory");
    pool->threads = threads;
    pthread_mutex_init(&pool->run_lock, NULL);
    pthread_mutex_init(&pool->lock, NULL);
    pthread_cond_init(&pool->wake, NULL);
    pthread_cond_init(&pool->done, NULL);
    pdl_status status = PDL_OK;
    if (threads > 1) {
        pool->workers = calloc((size_t)threads - 1, sizeof *pool->workers);
        if (!pool->workers) {
            status = pdl_error(PDL_ERR_NOMEM, "thread pool: out of memory");
            goto fail;
        }
    }
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, WORKER_STACK_BYTES);
    for (int i = 0; i < threads - 1; i++) {
        pool->workers[i].pool = pool;
        pool->workers[i].index = i + 1;
        if (pthread_create(&pool->workers[i].thread, &attr, worker_main, &pool->workers[i]) !=
            0) {
            status = pdl_error(PDL_ERR_NOMEM, "thread pool: cannot start thread %d of %d", i + 2,
                               threads);
            break;
        }
        pool->started++;
    }
    pthread_attr_destroy(&attr);
    if (status != PDL_OK)
        goto fail;
    *out = pool;
    return PDL_OK;
fail:
    pdl_threadpool_free(pool);
    return status;
}

void pdl_threadpool_free(pdl_threadpool *pool)
{
    if (!pool)
        return;
    pthread_mutex_lock(&pool->lock);
    pool->shutdown = true;
    pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->lock);
    for (int i = 0; i < pool->started; i++)
        pthread_join(pool->workers[i].thread, NULL);
    pthread_cond_destroy(&pool->done);
    pthread_cond_destroy(&pool->wake);
    pthread_mutex_destroy(&pool->lock);
    pthread_mutex_destroy(&pool->run_lock);
    free(pool->workers);
    free(pool);
}

int pdl_threadpool_threads(const pdl_threadpool *pool) { return pool ? pool->threads : 1; }

void pdl_parallel_for(pdl_threadpool *pool, int64_t n, int64_t grain, pdl_range_fn fn, void *arg)
{
    if (n <= 0)
        return;
    if (grain < 1)
        grain = 1;
    int64_t chunks = pool ? (n + grain - 1) / grain : 1;
    if (pool && chunks > pool->threads)
        chunks = pool->threads;
    if (chunks <= 1) {
        fn(arg, 0, n);
        return;
    }
    pthread_mutex_lock(&pool->run_lock);
    pthread_mutex_lock(&pool->lock);
    pool->fn = fn;
    pool->arg = arg;
    pool->n = n;
    pool->chunks = (int)chunks;
    atomic_store(&pool->pending, (int)chunks - 1);
    atomic_fetch_add_explicit(&pool->generation, 1, memory_order_release);
    pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->lock);

    int64_t begin, end;
    range_of(n, (int)chunks, 0, &begin, &end);
    fn(arg, begin, end);

    spin_while_positive(&pool->pending);
    pthread_mutex_lock(&pool->lock);
    while (atomic_load(&pool->pending) > 0)
        pthread_cond_wait(&pool->done, &pool->lock);
    pthread_mutex_unlock(&pool->lock);
    pthread_mutex_unlock(&pool->run_lock);
}
