/* Data-parallel workers (workers.h): the replicas, a thread per extra replica in this process
 * (worker 0 runs on the caller's thread), a reduction thread per worker that sums the gradient
 * buckets as backward completes them, the injected failures of the tests, and failure
 * propagation (the first failing worker's message wins; the others stop). Owns no reducer
 * (reduce.c), no transport (transport_*.c) and no training loop (src/train/trainer.c). */
#include "dist/workers.h"

#include "core/error.h"
#include "core/threadpool.h"
#include "dist/reduce.h"
#include "graph/net_internal.h"

#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* As the thread pool's workers: kernels keep packed blocks on the stack. */
#define WORKER_STACK_BYTES ((size_t)4 << 20)
#define MESSAGE_SIZE 512

typedef enum job_kind { JOB_RUN, JOB_SYNC, JOB_EXIT } job_kind;

/* What pdl_workers_sync sends from rank 0 before the tensors. */
enum { H_STATUS, H_EPOCH, H_BATCH, H_STEP, H_SEED, H_WORKERS, H_OPT_STEPS, HEADER };

/* A range of the flat gradient buffer reduced as one. */
typedef struct bucket {
    int64_t begin, end;
} bucket;

typedef struct worker {
    pdl_workers *w;
    int index, rank; /* in this process, in the whole job */
    pdl_net *net;
    pdl_optimizer *optimizer;
    int64_t row0, rows; /* of every micro-batch */
    float weight;       /* rows / batch: its share of the batch's mean loss */
    pthread_t thread, reducer;
    bool thread_started, reducer_started;

    /* The reduction thread's handshake, under lock. */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int posted, reduced; /* buckets of this step that backward completed / that are summed */
    bool reducing;       /* the hook posts buckets (last micro-batch); worker's thread only */
    bool exit;
    pdl_status reduce_status;
    double reduce_seconds; /* busy reducing */

    double loss_sum;   /* this step's shard losses, weighted by rows / micro */
    double loss_total; /* summed over the workers */
    bool stop_total;
    double wait_seconds; /* backward done, reduction not yet */
    int64_t header[HEADER];
} worker;

struct pdl_workers {
    int world, local, first_rank;
    pdl_comm *comm;
    pdl_reduce_algo algo;
    pdl_transport *transport;
    worker *workers;       /* (local) */
    int started;           /* workers whose fields are initialized */
    int64_t micro, sample; /* rows per micro-batch, floats per sample */
    bucket *buckets;
    int n_buckets;
    int *trigger;       /* per layer: the bucket complete after its backward, or -1 */
    int threads_before; /* of the caller's net, restored by free */
    int fail_rank;      /* injected failure: rank, step, kill (fail_rank -1: none) */
    int64_t fail_step;
    bool fail_kill;

    pthread_mutex_t lock; /* the job and the failure record */
    pthread_cond_t wake, done;
    uint64_t generation;
    int pending;
    job_kind job;
    const pdl_workers_batch *batch;
    bool failed;
    int failed_rank;
    pdl_status failed_status;
    char failed_message[MESSAGE_SIZE];

    int64_t steps;
    double step_seconds;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void scale(float *x, int64_t n, float factor)
{
    if (factor != 1.0f)
        for (int64_t i = 0; i < n; i++)
            x[i] *= factor;
}

/* Called on the thread whose call failed (pdl_last_error() is the reason): the first failure
 * is recorded, and every rank waiting on this one is released with an error. */
static void fail_worker(worker *k, pdl_status status)
{
    pdl_workers *w = k->w;
    char message[MESSAGE_SIZE];
    snprintf(message, sizeof message, "%s", pdl_last_error());
    pthread_mutex_lock(&w->lock);
    if (!w->failed) {
        w->failed = true;
        w->failed_rank = k->rank;
        w->failed_status = status;
        snprintf(w->failed_message, sizeof w->failed_message, "%s", message);
    }
    pthread_mutex_unlock(&w->lock);
    w->transport->ops->fail(w->transport, k->rank, message);
}

/* ---- reduction overlapping backward ------------------------------------------------------ */

static void on_backward(void *user, int layer)
{
    worker *k = user;
    int b = k->w->trigger[layer];
    if (!k->reducing || b < 0)
        return;
    pthread_mutex_lock(&k->lock);
    k->posted = b + 1;
    pthread_cond_signal(&k->cond);
    pthread_mutex_unlock(&k->lock);
}

static void *reducer_main(void *arg)
{
    worker *k = arg;
    pdl_workers *w = k->w;
    pthread_mutex_lock(&k->lock);
    for (;;) {
        while (!k->exit && k->reduced >= k->posted)
            pthread_cond_wait(&k->cond, &k->lock);
        if (k->exit)
            break;
        const bucket *b = &w->buckets[k->reduced];
        pthread_mutex_unlock(&k->lock);
        double t0 = now_s();
        float *g = pdl_net_grads(k->net) + b->begin;
        scale(g, b->end - b->begin, k->weight);
        pdl_status status = pdl_reduce_sum(w->transport, k->rank, w->algo, g, b->end - b->begin);
        if (status != PDL_OK)
            fail_worker(k, status);
        pthread_mutex_lock(&k->lock);
        k->reduce_seconds += now_s() - t0;
        k->reduce_status = status;
        k->reduced = status == PDL_OK ? k->reduced + 1 : w->n_buckets;
        pthread_cond_broadcast(&k->cond);
    }
    pthread_mutex_unlock(&k->lock);
    return NULL;
}

static void start_reducing(worker *k)
{
    if (k->w->world == 1)
        return;
    pthread_mutex_lock(&k->lock);
    k->posted = k->reduced = 0;
    k->reduce_status = PDL_OK;
    pthread_mutex_unlock(&k->lock);
    k->reducing = true;
}

/* Waits until every bucket is summed (with one worker: scales the gradient alone). After a
 * failed backward the remaining buckets are posted too: the failed transport ends them. */
static pdl_status finish_reducing(worker *k, bool backward_failed)
{
    pdl_workers *w = k->w;
    if (w->world == 1) {
        scale(pdl_net_grads(k->net), pdl_net_param_count(k->net), k->weight);
        return PDL_OK;
    }
    double t0 = now_s();
    pthread_mutex_lock(&k->lock);
    if (backward_failed) {
        k->posted = w->n_buckets;
        pthread_cond_signal(&k->cond);
    }
    while (k->reduced < w->n_buckets)
        pthread_cond_wait(&k->cond, &k->lock);
    pdl_status status = k->reduce_status;
    pthread_mutex_unlock(&k->lock);
    k->reducing = false;
    k->wait_seconds += now_s() - t0;
    return status == PDL_OK ? PDL_OK : pdl_error(status, "the gradient reduction failed");
}

/* Gradient buckets of about bucket_bytes: layers' parameter ranges from the last layer down,
 * each complete once the backward of its lowest layer has run. */
static pdl_status make_buckets(pdl_workers *w, pdl_net *net, int64_t bucket_bytes)
{
    const int n_layers = net->n_layers;
    const float *base = pdl_net_grads(net);
    const int64_t limit =
        bucket_bytes / (int64_t)sizeof(float) > 0 ? bucket_bytes / (int64_t)sizeof(float) : 1;
    w->trigger = malloc((size_t)n_layers * sizeof *w->trigger);
    w->buckets = malloc((size_t)n_layers * sizeof *w->buckets);
    if (!w->trigger || !w->buckets)
        return pdl_error(PDL_ERR_NOMEM, "workers: out of memory for the gradient buckets");
    int lowest = n_layers; /* the lowest layer with trainable parameters */
    for (int i = 0; i < n_layers; i++)
        for (int j = 0; j < net->layers[i].n_params && lowest == n_layers; j++)
            if (net->layers[i].params[j].trainable)
                lowest = i;
    bucket open = {-1, -1};
    for (int i = n_layers - 1; i >= 0; i--) {
        const pdl_layer *l = &net->layers[i];
        bucket layer = {-1, -1};
        for (int j = 0; j < l->n_params; j++) {
            const pdl_param *p = &l->params[j];
            if (!p->trainable)
                continue;
            int64_t begin = p->grad - base, end = begin + pdl_shape_count(&p->shape);
            layer.begin = layer.begin < 0 || begin < layer.begin ? begin : layer.begin;
            layer.end = end > layer.end ? end : layer.end;
        }
        w->trigger[i] = -1;
        if (layer.begin >= 0) {
            /* Parameters are laid out in layer order: this layer ends where the next begins. */
            PDL_ASSERT(open.begin < 0 || layer.end == open.begin);
            open.begin = layer.begin;
            open.end = open.end < 0 ? layer.end : open.end;
        }
        if (open.begin >= 0 && (open.end - open.begin >= limit || i == lowest)) {
            w->buckets[w->n_buckets] = open;
            w->trigger[i] = w->n_buckets++;
            open = (bucket){-1, -1};
        }
    }
    return PDL_OK;
}

/* ---- the jobs ------------------------------------------------------------------------------ */

static pdl_status run_worker(worker *k, const pdl_workers_batch *b)
{
    pdl_workers *w = k->w;
    pdl_status status;
    if (b->first && k->rank == w->fail_rank && b->step == w->fail_step) {
        if (w->fail_kill)
            raise(SIGKILL);
        return pdl_error(PDL_ERR_INVALID,
                         "injected failure at step %lld (PDL_TEST_FAIL_RANK=%d "
                         "PDL_TEST_FAIL_STEP=%lld)",
                         (long long)b->step, w->fail_rank, (long long)w->fail_step);
    }
    if (b->first) {
        pdl_net_zero_grad(k->net);
        k->loss_sum = 0;
    }
    if (pdl_net_batch(k->net) != k->rows && (status = pdl_net_set_batch(k->net, k->rows)))
        return status;
    /* Distinct counters, so that the workers' dropout masks are independent. */
    const uint64_t counter = b->counter * (uint64_t)w->world + (uint64_t)k->rank;
    const int64_t offset = k->row0 - w->workers[0].row0;
    status = pdl_net_forward(k->net, b->x + offset * w->sample, b->labels + offset, true, counter);
    if (status != PDL_OK)
        return status;
    float loss = pdl_net_loss(k->net);
    if (!isfinite(loss))
        return pdl_error(PDL_ERR_INVALID,
                         "training diverged: the loss of rows %lld..%lld is %g "
                         "at step %lld; try a lower learning rate or clip_norm",
                         (long long)k->row0, (long long)(k->row0 + k->rows - 1), (double)loss,
                         (long long)b->step);
    k->loss_sum += (double)k->rows / (double)w->micro * (double)loss;
    if (b->last)
        start_reducing(k);
    status = pdl_net_backward(k->net);
    if (status != PDL_OK && k->reducing)
        fail_worker(k, status);
    if (!b->last)
        return status;
    pdl_status reduced = finish_reducing(k, status != PDL_OK);
    if (status == PDL_OK)
        status = reduced;
    if (status != PDL_OK)
        return status;
    float totals[2] = {(float)k->loss_sum, k->index == 0 && b->stop ? 1.0f : 0.0f};
    if ((status = pdl_reduce_sum(w->transport, k->rank, w->algo, totals, 2)))
        return status;
    k->loss_total = totals[0];
    k->stop_total = totals[1] > 0;
    float *grads = pdl_net_grads(k->net);
    if (b->clip_norm > 0)
        pdl_clip_grad_norm(grads, pdl_net_param_count(k->net), b->clip_norm);
    pdl_optimizer_step(k->optimizer, pdl_net_params(k->net), grads, b->lr);
    return PDL_OK;
}

static pdl_status sync_worker(worker *k)
{
    pdl_transport *t = k->w->transport;
    pdl_status status = pdl_reduce_broadcast(t, k->rank, k->header, sizeof k->header);
    if (status != PDL_OK || k->header[H_STATUS] != PDL_OK)
        return status;
    pdl_optimizer *o = k->optimizer;
    if ((status = pdl_reduce_broadcast(t, k->rank, pdl_net_params(k->net),
                                       (size_t)pdl_net_param_count(k->net) * sizeof(float))) ||
        (status = pdl_reduce_broadcast(t, k->rank, pdl_net_buffers(k->net),
                                       (size_t)pdl_net_buffer_count(k->net) * sizeof(float))) ||
        (status = pdl_reduce_broadcast(t, k->rank, pdl_optimizer_state(o),
                                       (size_t)pdl_optimizer_state_count(o) * sizeof(float))))
        return status;
    pdl_optimizer_set_steps(o, k->header[H_OPT_STEPS]);
    pdl_net_set_seed(k->net, (uint64_t)k->header[H_SEED]);
    return PDL_OK;
}

static void do_job(worker *k, job_kind job)
{
    pdl_status status = job == JOB_RUN ? run_worker(k, k->w->batch) : sync_worker(k);
    if (status != PDL_OK)
        fail_worker(k, status);
}

static void *worker_main(void *arg)
{
    worker *k = arg;
    pdl_workers *w = k->w;
    uint64_t seen = 0;
    pthread_mutex_lock(&w->lock);
    for (;;) {
        while (w->generation == seen)
            pthread_cond_wait(&w->wake, &w->lock);
        seen = w->generation;
        job_kind job = w->job;
        if (job == JOB_EXIT)
            break;
        pthread_mutex_unlock(&w->lock);
        do_job(k, job);
        pthread_mutex_lock(&w->lock);
        if (--w->pending == 0)
            pthread_cond_signal(&w->done);
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

/* Runs job on every worker of this process (worker 0 on this thread) and waits for all. */
static pdl_status run_job(pdl_workers *w, job_kind job)
{
    pthread_mutex_lock(&w->lock);
    w->job = job;
    w->pending = w->local - 1;
    w->generation++;
    pthread_cond_broadcast(&w->wake);
    pthread_mutex_unlock(&w->lock);
    if (job == JOB_EXIT)
        return PDL_OK;
    do_job(&w->workers[0], job);
    pthread_mutex_lock(&w->lock);
    while (w->pending > 0)
        pthread_cond_wait(&w->done, &w->lock);
    pthread_mutex_unlock(&w->lock);
    if (!w->failed)
        return PDL_OK;
    return pdl_error(w->failed_status, "%s %d of %d: %s", w->comm ? "rank" : "worker",
                     w->failed_rank, w->world, w->failed_message);
}

pdl_status pdl_workers_run(pdl_workers *w, const pdl_workers_batch *b, pdl_workers_result *res)
{
    double t0 = now_s();
    w->batch = b;
    pdl_status status = run_job(w, JOB_RUN);
    w->step_seconds += now_s() - t0;
    w->steps += b->last;
    if (status == PDL_OK && b->last)
        *res = (pdl_workers_result){w->workers[0].loss_total, w->workers[0].stop_total};
    return status;
}

pdl_status pdl_workers_sync(pdl_workers *w, pdl_train_position *pos, pdl_status root_status)
{
    char root_message[MESSAGE_SIZE] = "";
    if (root_status != PDL_OK)
        snprintf(root_message, sizeof root_message, "%s", pdl_last_error());
    worker *k = &w->workers[0];
    int64_t h[HEADER] = {[H_STATUS] = root_status,
                         [H_EPOCH] = pos->epoch,
                         [H_BATCH] = pos->batch_index,
                         [H_STEP] = pos->step,
                         [H_SEED] = (int64_t)pos->seed,
                         [H_WORKERS] = pos->workers,
                         [H_OPT_STEPS] = pdl_optimizer_steps(k->optimizer)};
    memcpy(k->header, h, sizeof h);
    pdl_status status = run_job(w, JOB_SYNC);
    if (status != PDL_OK)
        return status;
    if (k->header[H_STATUS] != PDL_OK)
        return w->first_rank == 0
                   ? pdl_error(root_status, "%s", root_message)
                   : pdl_error((pdl_status)k->header[H_STATUS], "rank 0 could not start the run "
                                                                "(its message says why)");
    *pos = (pdl_train_position){k->header[H_EPOCH], k->header[H_BATCH], k->header[H_STEP],
                                (uint64_t)k->header[H_SEED], k->header[H_WORKERS]};
    return PDL_OK;
}

/* ---- creation ------------------------------------------------------------------------------ */

static int env_int(const char *name, int fallback)
{
    const char *text = getenv(name);
    return text && *text ? atoi(text) : fallback;
}

static pdl_status check_options(const pdl_train_config *config, const pdl_dist_options *o,
                                int world, pdl_reduce_algo *algo)
{
    int64_t micro = config->batch / config->accumulate;
    *algo = o->reduce != PDL_REDUCE_DEFAULT ? o->reduce
            : o->comm                       ? PDL_REDUCE_MPI
                                            : PDL_REDUCE_RING;
    if (o->comm && o->workers > 1)
        return pdl_error(PDL_ERR_INVALID,
                         "workers: %d workers per process and %d MPI ranks: "
                         "under MPI each rank is one worker (leave --workers out)",
                         o->workers, pdl_comm_size(o->comm));
    if (*algo == PDL_REDUCE_MPI && !o->comm)
        return pdl_error(PDL_ERR_INVALID, "workers: reduce 'mpi' needs MPI ranks (mpirun); "
                                          "workers in one process use 'tree' or 'ring'");
    if (*algo < PDL_REDUCE_TREE || *algo > PDL_REDUCE_MPI)
        return pdl_error(PDL_ERR_INVALID, "workers: unknown reducer %d", (int)*algo);
    if (micro < world)
        return pdl_error(PDL_ERR_INVALID,
                         "workers: %d workers need at least %d samples per "
                         "micro-batch, batch %lld / accumulate %d gives %lld",
                         world, world, (long long)config->batch, config->accumulate,
                         (long long)micro);
    if (o->bucket_bytes < 0)
        return pdl_error(PDL_ERR_INVALID, "workers: bucket size %lld is negative",
                         (long long)o->bucket_bytes);
    return PDL_OK;
}

/* Worker i's replica, optimizer, shard, threads and synchronization. */
static pdl_status init_worker(pdl_workers *w, int i, pdl_net *net, pdl_optimizer *optimizer,
                              const pdl_train_config *config, int threads)
{
    worker *k = &w->workers[i];
    k->w = w;
    k->index = i;
    k->rank = w->first_rank + i;
    k->row0 = w->micro * k->rank / w->world;
    k->rows = w->micro * (k->rank + 1) / w->world - k->row0;
    k->weight = (float)((double)k->rows / (double)config->batch);
    pthread_mutex_init(&k->lock, NULL);
    pthread_cond_init(&k->cond, NULL);
    w->started = i + 1;
    pdl_status status = PDL_OK;
    if (i == 0) {
        k->net = net;
        k->optimizer = optimizer;
    } else if (!(status = pdl_net_from_text(pdl_net_source_text(net), pdl_net_source_name(net),
                                            &k->net))) {
        status = pdl_optimizer_create(&config->optim, pdl_net_param_count(net), &k->optimizer);
    }
    if (status == PDL_OK && pdl_threadpool_threads(k->net->pool) != threads)
        status = pdl_net_set_threads(k->net, threads);
    if (status == PDL_OK)
        status = pdl_net_set_batch(k->net, k->rows);
    if (status == PDL_OK)
        pdl_net_set_backward_hook(k->net, on_backward, k);
    return status;
}

static pdl_status start_threads(pdl_workers *w)
{
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, WORKER_STACK_BYTES);
    pdl_status status = PDL_OK;
    for (int i = 0; i < w->local && status == PDL_OK; i++) {
        worker *k = &w->workers[i];
        if (w->world > 1 &&
            !(k->reducer_started = pthread_create(&k->reducer, NULL, reducer_main, k) == 0))
            status = pdl_error(PDL_ERR_NOMEM, "workers: cannot start reduction thread %d", i);
        if (status == PDL_OK && i > 0 &&
            !(k->thread_started = pthread_create(&k->thread, &attr, worker_main, k) == 0))
            status = pdl_error(PDL_ERR_NOMEM, "workers: cannot start worker thread %d", i);
    }
    pthread_attr_destroy(&attr);
    return status;
}

pdl_status pdl_workers_create(pdl_net *net, pdl_optimizer *optimizer,
                              const pdl_train_config *config, const pdl_dist_options *options,
                              pdl_workers **out)
{
    const int world = pdl_dist_world(options);
    pdl_reduce_algo algo;
    *out = NULL;
    pdl_status status = check_options(config, options, world, &algo);
    if (status != PDL_OK)
        return status;
    pdl_workers *w = calloc(1, sizeof *w);
    if (!w)
        return pdl_error(PDL_ERR_NOMEM, "workers: out of memory");
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->wake, NULL);
    pthread_cond_init(&w->done, NULL);
    w->world = world;
    w->comm = options->comm;
    w->local = w->comm ? 1 : world;
    w->first_rank = pdl_comm_rank(w->comm);
    w->algo = algo;
    w->micro = config->batch / config->accumulate;
    pdl_shape input = pdl_net_input_shape(net);
    w->sample = pdl_shape_count(&input);
    w->threads_before = pdl_threadpool_threads(net->pool);
    w->fail_rank = env_int("PDL_TEST_FAIL_STEP", -1) >= 0 ? env_int("PDL_TEST_FAIL_RANK", 0) : -1;
    w->fail_step = env_int("PDL_TEST_FAIL_STEP", -1);
    w->fail_kill = env_int("PDL_TEST_FAIL_KILL", 0) != 0;
    /* Under MPI the ranks of a machine share its cores unless PDL_NUM_THREADS says otherwise. */
    int total = w->threads_before;
    if (w->comm && !getenv("PDL_NUM_THREADS"))
        total = total / pdl_comm_local_size(w->comm);
    w->workers = calloc((size_t)w->local, sizeof *w->workers);
    if (!w->workers) {
        status = pdl_error(PDL_ERR_NOMEM, "workers: out of memory");
        goto fail;
    }
    status = w->comm ? pdl_transport_mpi_create(w->comm, &w->transport)
                     : pdl_transport_threads_create(world, &w->transport);
    if (status == PDL_OK)
        status = make_buckets(
            w, net, options->bucket_bytes ? options->bucket_bytes : PDL_DIST_BUCKET_BYTES);
    for (int i = 0; i < w->local && status == PDL_OK; i++) {
        int threads = total / w->local + (i < total % w->local);
        status = init_worker(w, i, net, optimizer, config, threads > 0 ? threads : 1);
    }
    if (status == PDL_OK)
        status = start_threads(w);
    if (status != PDL_OK)
        goto fail;
    *out = w;
    return PDL_OK;
fail:
    pdl_workers_free(w);
    return status;
}

void pdl_workers_free(pdl_workers *w)
{
    if (!w)
        return;
    run_job(w, JOB_EXIT);
    for (int i = 0; i < w->started; i++) {
        worker *k = &w->workers[i];
        if (k->thread_started)
            pthread_join(k->thread, NULL);
        if (k->reducer_started) {
            pthread_mutex_lock(&k->lock);
            k->exit = true;
            pthread_cond_signal(&k->cond);
            pthread_mutex_unlock(&k->lock);
            pthread_join(k->reducer, NULL);
        }
        if (i > 0) {
            pdl_net_free(k->net);
            pdl_optimizer_free(k->optimizer);
        } else {
            /* The caller's net as pdl_train leaves it: its threads, batch the micro-batch. */
            pdl_net_set_backward_hook(k->net, NULL, NULL);
            if (pdl_threadpool_threads(k->net->pool) != w->threads_before)
                pdl_net_set_threads(k->net, w->threads_before);
            if (pdl_net_batch(k->net) != w->micro)
                pdl_net_set_batch(k->net, w->micro);
        }
        pthread_cond_destroy(&k->cond);
        pthread_mutex_destroy(&k->lock);
    }
    if (w->transport)
        w->transport->ops->free(w->transport);
    pthread_cond_destroy(&w->done);
    pthread_cond_destroy(&w->wake);
    pthread_mutex_destroy(&w->lock);
    free(w->workers);
    free(w->buckets);
    free(w->trigger);
    free(w);
}

int pdl_workers_world(const pdl_workers *w)
{
    return w->world;
}
int pdl_workers_rank(const pdl_workers *w)
{
    return w->first_rank;
}

void pdl_workers_rows(const pdl_workers *w, int64_t *row0, int64_t *rows)
{
    if (w->comm) {
        *row0 = w->workers[0].row0;
        *rows = w->workers[0].rows;
    } else {
        *row0 = 0;
        *rows = w->micro;
    }
}

void pdl_workers_stats(const pdl_workers *w, pdl_dist_stats *out)
{
    worker *k = &w->workers[0];
    pthread_mutex_lock(&k->lock);
    *out = (pdl_dist_stats){.world = w->world,
                            .algo = w->algo,
                            .buckets = w->n_buckets,
                            .steps = w->steps,
                            .step_seconds = w->step_seconds,
                            .reduce_seconds = k->reduce_seconds,
                            .reduce_wait_seconds = k->wait_seconds};
    pthread_mutex_unlock(&k->lock);
}
