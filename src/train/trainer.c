/* The training loop: epoch order -> micro-batches -> forward/backward -> gradient scaling and
 * clipping -> optimizer step, with validation, checkpoints, progress and an exact resume. Owns
 * no file format (checkpoint.c), no optimizer math (src/optim), no data-parallel machinery
 * (src/dist: with workers, a step hands them its micro-batches) and no printing.
 *
 * Determinism: the samples of epoch e are visited in pdl_epoch_order(seed, e); the c-th
 * micro-batch of optimizer step s runs its stochastic layers with counter s * accumulate + c; the
 * learning rate is a function of s. A state saved at any batch boundary therefore continues with
 * exactly the bits an uninterrupted run computes. The last incomplete batch of every epoch
 * (count % batch samples, a different subset each epoch) is dropped. */
#include "core/error.h"
#include "core/log.h"
#include "dist/workers.h"
#include "graph/net_internal.h"
#include "pdl/loader.h"
#include "train/train_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PROGRESS_INTERVAL_S 0.1

typedef struct run {
    pdl_net *net;
    pdl_data_source *train, *val;
    const pdl_train_options *opt;
    pdl_train_config cfg;
    pdl_lr_schedule schedule; /* the config's, with max_iter filled in */
    pdl_optimizer *optimizer;
    pdl_train_position pos;
    int64_t micro;   /* samples per forward: batch / accumulate */
    int64_t batches; /* optimizer steps per epoch */
    int64_t target;  /* the step this session ends at: the whole run or max_steps */
    pdl_loader *loader; /* the training source's micro-batches in epoch order */
    float *x;           /* (rows, C, H, W), the loader's current batch */
    int32_t *labels;    /* (rows) */
    pdl_workers *workers; /* data-parallel workers (src/dist), or NULL for one */
    int64_t row0, rows;   /* the rows of each micro-batch this process reads (MPI: its shard) */
    bool writer;          /* this process validates, reports and saves (rank 0) */
    bool stop_agreed;     /* with workers: all processes agreed to stop after the last step */
    float lr;        /* of the last step */
    /* This session's timing, for images/s and the ETA. */
    int64_t session_steps;
    double session_seconds;
    /* The epoch in progress, counted from where this session entered it. */
    double epoch_start, epoch_data_seconds, last_progress;
    double epoch_loss_sum;
    int64_t epoch_micro_batches, epoch_steps;
} run;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static pdl_status checkpoint(run *r)
{
    const pdl_train_options *o = r->opt;
    pdl_status status = PDL_OK;
    if (!r->writer)
        return PDL_OK;
    if (o->state_path)
        status = pdl_state_save(r->net, r->optimizer, &r->pos, o->state_path);
    if (status == PDL_OK && o->weights_path)
        status = pdl_weights_save(r->net, o->weights_path);
    return status;
}

static pdl_status check_options(const pdl_net *net, const pdl_data_source *train,
                                const pdl_data_source *val, const pdl_train_options *o)
{
    const pdl_train_config *c = &o->config;
    if (c->batch < 1 || c->accumulate < 1 || c->epochs < 1 || c->topk < 1)
        return pdl_error(PDL_ERR_INVALID,
                         "train: batch (%lld), accumulate (%d), epochs (%d) and topk (%d) must "
                         "be >= 1",
                         (long long)c->batch, c->accumulate, c->epochs, c->topk);
    if (c->batch % c->accumulate)
        return pdl_error(PDL_ERR_INVALID,
                         "train: batch %lld is not divisible by accumulate %d (each optimizer "
                         "step runs accumulate equal micro-batches)",
                         (long long)c->batch, c->accumulate);
    if ((o->resume || o->checkpoint_every_iters || o->checkpoint_every_epochs) && !o->state_path)
        return pdl_error(PDL_ERR_INVALID, "train: resume and checkpoints need a state path");
    if (o->checkpoint_every_iters < 0 || o->checkpoint_every_epochs < 0 || o->max_steps < 0)
        return pdl_error(PDL_ERR_INVALID, "train: checkpoint intervals and max_steps must be >= 0");
    pdl_status status = pdl_train_check_source(net, train);
    if (status == PDL_OK && val)
        status = pdl_train_check_source(net, val);
    if (status != PDL_OK)
        return status;
    if (train->count < c->batch)
        return pdl_error(PDL_ERR_INVALID, "'%s' has %lld samples, fewer than one batch of %lld",
                         train->name, (long long)train->count, (long long)c->batch);
    return PDL_OK;
}

/* Fresh parameters, or the net, optimizer and position of the saved state (read by rank 0
 * alone, pdl_workers_sync hands it to the others). */
static pdl_status start_or_resume(run *r)
{
    const int64_t world = r->workers ? pdl_workers_world(r->workers) : 1;
    r->pos = (pdl_train_position){.seed = r->cfg.seed, .workers = world};
    if (!r->opt->resume || !r->writer)
        return pdl_net_init_params(r->net, r->cfg.seed);
    pdl_status status = pdl_state_load(r->net, r->optimizer, &r->pos, r->opt->state_path);
    if (status != PDL_OK)
        return status;
    if (r->pos.workers != world)
        return pdl_error(PDL_ERR_INVALID,
                         "state '%s' was trained by %lld data-parallel workers, this run has "
                         "%lld: a resume needs the same number (--workers, mpirun -np)",
                         r->opt->state_path, (long long)r->pos.workers, (long long)world);
    if (r->pos.epoch < 0 || r->pos.step < 0 || r->pos.batch_index < 0 ||
        r->pos.batch_index > r->batches)
        return pdl_error(PDL_ERR_INVALID,
                         "state '%s' stands at batch %lld of epoch %lld, but an epoch of '%s' "
                         "has %lld batches of %lld (other data or batch size?)",
                         r->opt->state_path, (long long)r->pos.batch_index,
                         (long long)r->pos.epoch, r->train->name, (long long)r->batches,
                         (long long)r->cfg.batch);
    pdl_net_set_seed(r->net, r->pos.seed);
    if (r->pos.seed != r->cfg.seed)
        pdl_log(PDL_LOG_WARN, "resuming with the seed %llu of '%s' (the config says %llu)",
                (unsigned long long)r->pos.seed, r->opt->state_path,
                (unsigned long long)r->cfg.seed);
    return PDL_OK;
}

static void report_progress(run *r, double t)
{
    if (!r->opt->on_progress)
        return;
    r->last_progress = t;
    double elapsed = t - r->epoch_start;
    double total_s = r->session_seconds + elapsed;
    int64_t total_steps = r->session_steps + r->epoch_steps;
    pdl_train_progress p = {
        .epoch = r->pos.epoch,
        .epochs = r->cfg.epochs,
        .batch_index = r->pos.batch_index,
        .batches = r->batches,
        .step = r->pos.step,
        .loss = r->epoch_micro_batches ? (float)(r->epoch_loss_sum / r->epoch_micro_batches) : NAN,
        .lr = r->lr,
        .images_per_s = elapsed > 0 ? (double)(r->epoch_steps * r->cfg.batch) / elapsed : 0,
        .eta_s = total_steps ? total_s / (double)total_steps * (double)(r->target - r->pos.step)
                             : NAN,
    };
    r->opt->on_progress(&p, r->opt->user);
}

/* Points r->x and r->labels at micro-batch c of the current optimizer step, as the loader
 * read it ahead, adding the time spent waiting for it to the epoch's data time. */
static pdl_status fetch_micro_batch(run *r, int c)
{
    pdl_batch b;
    pdl_status status = pdl_loader_next(r->loader, &b);
    if (status != PDL_OK)
        return status;
    PDL_ASSERT(b.x && b.n == r->rows && b.epoch == r->pos.epoch &&
               b.index == r->pos.batch_index * r->cfg.accumulate + c);
    r->x = b.x;
    r->labels = b.labels;
    r->epoch_data_seconds += b.wait_s;
    return PDL_OK;
}

/* Forward and backward of the micro-batch in r->x / r->labels: the gradients are added into the
 * net's gradient buffer, *loss is the micro-batch's mean loss. counter numbers the micro-batch
 * for the stochastic layers. */
static pdl_status forward_backward(run *r, uint64_t counter, float *loss)
{
    pdl_status status = pdl_net_forward(r->net, r->x, r->labels, true, counter);
    if (status != PDL_OK)
        return status;
    *loss = pdl_net_loss(r->net);
    if (!isfinite(*loss))
        return pdl_error(PDL_ERR_INVALID,
                         "training diverged: the loss is %g at epoch %lld, batch %lld (step "
                         "%lld); try a lower learning rate or clip_norm",
                         (double)*loss, (long long)r->pos.epoch, (long long)r->pos.batch_index,
                         (long long)r->pos.step);
    return pdl_net_backward(r->net);
}

/* One optimizer step of data-parallel workers: each micro-batch's rows go to the workers, the
 * last one also reduces the gradients and updates every replica. */
static pdl_status step_workers(run *r)
{
    const int accumulate = r->cfg.accumulate;
    pdl_workers_batch b = {.step = r->pos.step,
                           .lr = pdl_lr_at(&r->schedule, r->pos.step),
                           .clip_norm = r->cfg.clip_norm,
                           .stop = r->opt->stop && *r->opt->stop};
    pdl_workers_result result = {0};
    for (int c = 0; c < accumulate; c++) {
        pdl_status status = fetch_micro_batch(r, c);
        if (status != PDL_OK)
            return status;
        b.x = r->x;
        b.labels = r->labels;
        b.counter = (uint64_t)r->pos.step * (uint64_t)accumulate + (uint64_t)c;
        b.first = c == 0;
        b.last = c == accumulate - 1;
        if ((status = pdl_workers_run(r->workers, &b, &result)) != PDL_OK)
            return pdl_error_context(status, "epoch %lld, batch %lld (step %lld)",
                                     (long long)r->pos.epoch, (long long)r->pos.batch_index,
                                     (long long)r->pos.step);
    }
    r->lr = b.lr;
    r->stop_agreed = result.stop;
    r->epoch_loss_sum += result.loss;
    r->epoch_micro_batches += accumulate;
    return PDL_OK;
}

/* One optimizer step of the net alone. */
static pdl_status step_alone(run *r)
{
    pdl_net *net = r->net;
    int accumulate = r->cfg.accumulate;
    pdl_net_zero_grad(net);
    for (int c = 0; c < accumulate; c++) {
        pdl_status status = fetch_micro_batch(r, c);
        if (status != PDL_OK)
            return status;
        uint64_t counter = (uint64_t)r->pos.step * (uint64_t)accumulate + (uint64_t)c;
        float loss;
        status = forward_backward(r, counter, &loss);
        if (status != PDL_OK)
            return status;
        r->epoch_loss_sum += loss;
        r->epoch_micro_batches++;
    }
    float *grads = pdl_net_grads(net);
    int64_t n = pdl_net_param_count(net);
    if (accumulate > 1) {
        float scale = 1.0f / (float)accumulate;
        for (int64_t i = 0; i < n; i++)
            grads[i] *= scale;
    }
    if (r->cfg.clip_norm > 0)
        pdl_clip_grad_norm(grads, n, r->cfg.clip_norm);
    r->lr = pdl_lr_at(&r->schedule, r->pos.step);
    pdl_optimizer_step(r->optimizer, pdl_net_params(net), grads, r->lr);
    return PDL_OK;
}

/* One optimizer step over batch pos.batch_index of the epoch order. */
static pdl_status train_step(run *r)
{
    pdl_status status = r->workers ? step_workers(r) : step_alone(r);
    if (status != PDL_OK)
        return status;
    r->pos.step++;
    r->pos.batch_index++;
    r->epoch_steps++;
    return PDL_OK;
}

/* Reports the epoch (or the part of it this session ran), validating when asked. */
static pdl_status finish_epoch(run *r, bool validate)
{
    double seconds = now_s() - r->epoch_start;
    pdl_epoch_result e = {
        .epoch = r->pos.epoch,
        .train_loss =
            r->epoch_micro_batches ? (float)(r->epoch_loss_sum / r->epoch_micro_batches) : NAN,
        .val_loss = NAN,
        .val_top1 = NAN,
        .val_topk = NAN,
        .seconds = seconds,
        .images_per_s = seconds > 0 ? (double)(r->epoch_steps * r->cfg.batch) / seconds : 0,
        .data_share = seconds > 0 ? r->epoch_data_seconds / seconds : 0,
    };
    report_progress(r, now_s());
    r->session_seconds += seconds;
    r->session_steps += r->epoch_steps;
    if (validate && r->val) {
        pdl_eval_result v;
        pdl_status status = pdl_evaluate(r->net, r->val, r->micro, r->cfg.topk, &v);
        if (status == PDL_OK)
            status = pdl_net_set_batch(r->net, r->micro);
        if (status != PDL_OK) {
            pdl_eval_result_free(&v);
            return pdl_error_context(status, "validation after epoch %lld",
                                     (long long)r->pos.epoch);
        }
        e.val_loss = (float)v.loss;
        e.val_top1 = (float)v.top1;
        e.val_topk = (float)v.topk;
        pdl_eval_result_free(&v);
    }
    if (r->opt->on_epoch)
        r->opt->on_epoch(&e, r->opt->user);
    return PDL_OK;
}

static void begin_epoch(run *r)
{
    r->epoch_start = r->last_progress = now_s();
    r->epoch_data_seconds = 0;
    r->epoch_loss_sum = 0;
    r->epoch_micro_batches = 0;
    r->epoch_steps = 0;
}

/* Starts reading this session's micro-batches ahead, from pos to the target step: micro-batch c
 * of step s is the loader's batch s * accumulate + c of the epoch. None when nothing is left. */
static pdl_status start_loader(run *r)
{
    int64_t accumulate = r->cfg.accumulate;
    if (r->pos.step >= r->target)
        return PDL_OK;
    pdl_loader_options o = {
        .batch = r->micro,
        .row0 = r->row0,
        .rows = r->rows,
        .training = true,
        .seed = r->pos.seed,
        .epoch = r->pos.epoch,
        .batch_index = r->pos.batch_index * accumulate,
        .epochs = r->cfg.epochs,
        .batches = r->batches * accumulate,
        .max_batches = (r->target - r->pos.step) * accumulate,
        .threads = r->opt->data_threads,
        .prefetch = r->opt->prefetch,
    };
    return pdl_loader_create(r->train, &o, &r->loader);
}

/* Runs epochs from pos until the end, max_steps or a stop request. */
static pdl_status loop(run *r)
{
    const pdl_train_options *o = r->opt;
    pdl_status status = PDL_OK;
    while (r->pos.epoch < r->cfg.epochs) {
        begin_epoch(r);
        while (r->pos.batch_index < r->batches) {
            /* Workers stop together, on the flag they agreed on in the last step. */
            bool stopped = r->workers ? r->stop_agreed : o->stop && *o->stop;
            if (stopped || (o->max_steps && r->pos.step >= o->max_steps)) {
                if (r->epoch_steps)
                    status = finish_epoch(r, !stopped);
                if (status == PDL_OK)
                    status = checkpoint(r);
                if (status == PDL_OK && stopped)
                    status = pdl_error(PDL_ERR_INTERRUPTED,
                                       "stopped at epoch %lld, batch %lld (step %lld)",
                                       (long long)r->pos.epoch, (long long)r->pos.batch_index,
                                       (long long)r->pos.step);
                return status;
            }
            status = train_step(r);
            if (status == PDL_OK && o->checkpoint_every_iters &&
                r->pos.step % o->checkpoint_every_iters == 0)
                status = checkpoint(r);
            if (status != PDL_OK)
                return status;
            double t = now_s();
            if (t - r->last_progress >= PROGRESS_INTERVAL_S)
                report_progress(r, t);
        }
        status = finish_epoch(r, true);
        if (status != PDL_OK)
            return status;
        r->pos.epoch++;
        r->pos.batch_index = 0;
        if (o->checkpoint_every_epochs && r->pos.epoch % o->checkpoint_every_epochs == 0 &&
            r->pos.epoch < r->cfg.epochs) {
            status = checkpoint(r);
            if (status != PDL_OK)
                return status;
        }
    }
    return checkpoint(r);
}

/* The data-parallel workers options->dist asks for, and this process's rows of each
 * micro-batch. A process other than rank 0 neither validates nor reports: r->opt becomes
 * quiet, a copy without the callbacks. */
static pdl_status start_workers(run *r, pdl_train_options *quiet)
{
    const pdl_dist_options *dist = r->opt->dist;
    r->row0 = 0;
    r->rows = r->micro;
    r->writer = true;
    if (!dist || (!dist->comm && pdl_dist_world(dist) == 1))
        return PDL_OK;
    pdl_status status = pdl_workers_create(r->net, r->optimizer, &r->cfg, dist, &r->workers);
    if (status != PDL_OK)
        return status;
    pdl_workers_rows(r->workers, &r->row0, &r->rows);
    r->writer = pdl_workers_rank(r->workers) == 0;
    if (!r->writer) {
        *quiet = *r->opt;
        quiet->on_progress = NULL;
        quiet->on_epoch = NULL;
        r->opt = quiet;
        r->val = NULL;
    }
    return PDL_OK;
}

pdl_status pdl_train(pdl_net *net, pdl_data_source *train, pdl_data_source *val,
                     const pdl_train_options *options)
{
    run r = {.net = net, .train = train, .val = val, .opt = options, .cfg = options->config};
    pdl_status status = check_options(net, train, val, options);
    if (status != PDL_OK)
        return status;
    r.micro = r.cfg.batch / r.cfg.accumulate;
    r.batches = train->count / r.cfg.batch;
    r.schedule = r.cfg.schedule;
    if (r.schedule.max_iter == 0)
        r.schedule.max_iter = r.batches * r.cfg.epochs;
    r.target = r.batches * r.cfg.epochs;
    if (options->max_steps && options->max_steps < r.target)
        r.target = options->max_steps;
    status = pdl_net_set_batch(net, r.micro);
    if (status == PDL_OK)
        status = pdl_optimizer_create(&r.cfg.optim, pdl_net_param_count(net), &r.optimizer);
    if (status != PDL_OK)
        return status;
    pdl_train_options quiet;
    status = start_workers(&r, &quiet);
    if (status == PDL_OK) {
        status = start_or_resume(&r);
        if (r.workers)
            status = pdl_workers_sync(r.workers, &r.pos, status);
    }
    if (status == PDL_OK)
        status = start_loader(&r);
    if (status == PDL_OK)
        status = loop(&r);
    pdl_loader_free(r.loader);
    if (r.workers && options->dist->stats)
        pdl_workers_stats(r.workers, options->dist->stats);
    pdl_workers_free(r.workers);
    pdl_optimizer_free(r.optimizer);
    return status;
}
