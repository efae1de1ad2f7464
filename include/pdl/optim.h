/* Optimizers over the flat parameter buffer, learning-rate schedules, gradient clipping, and the
 * training hyper-parameters read from a model file's [train] section. */
#ifndef PDL_OPTIM_H
#define PDL_OPTIM_H

#include "pdl/status.h"
#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum pdl_optim_kind { PDL_OPTIM_SGD = 0, PDL_OPTIM_ADAM, PDL_OPTIM_ADAMW } pdl_optim_kind;

typedef struct pdl_optim_config {
    pdl_optim_kind kind;
    float momentum;     /* SGD; 0 = plain SGD */
    bool nesterov;      /* SGD */
    float weight_decay; /* L2 added to the gradient (SGD, Adam) or decoupled (AdamW) */
    float beta1, beta2, eps; /* Adam/AdamW */
} pdl_optim_config;

typedef enum pdl_lr_policy {
    PDL_LR_FIXED = 0,
    PDL_LR_STEP,      /* lr * gamma^floor(iter / step_size) */
    PDL_LR_MULTISTEP, /* lr * gamma^(number of milestones <= iter) */
    PDL_LR_EXP,       /* lr * gamma^iter */
    PDL_LR_POLY,      /* lr * (1 - iter/max_iter)^power */
    PDL_LR_COSINE,    /* min_lr + (lr - min_lr) * (1 + cos(pi * iter/max_iter)) / 2 */
} pdl_lr_policy;

#define PDL_MAX_MILESTONES 16

/* Iterations here are optimizer steps. Warmup: for iter < warmup_iters the rate ramps linearly
 * from warmup_start * lr(0) to lr(warmup_iters). */
typedef struct pdl_lr_schedule {
    pdl_lr_policy policy;
    float base_lr;
    float gamma;
    int64_t step_size;
    int64_t milestones[PDL_MAX_MILESTONES];
    int n_milestones;
    float power;
    int64_t max_iter;
    float min_lr;
    int64_t warmup_iters;
    float warmup_start;
} pdl_lr_schedule;

/* The learning rate at optimizer step iter (0-based). */
float pdl_lr_at(const pdl_lr_schedule *schedule, int64_t iter);

typedef struct pdl_optimizer pdl_optimizer;

/* An optimizer for n parameters; its state (momentum, Adam moments) is zeroed. Caller frees. */
pdl_status pdl_optimizer_create(const pdl_optim_config *config, int64_t n, pdl_optimizer **out);
void pdl_optimizer_free(pdl_optimizer *opt);
/* One update of params (n) from grads (n) at learning rate lr. grads is read only. */
void pdl_optimizer_step(pdl_optimizer *opt, float *params, const float *grads, float lr);
/* The optimizer's state as one flat buffer (for checkpoints) and its length in floats;
 * the step counter (Adam's bias correction) separately. */
float *pdl_optimizer_state(pdl_optimizer *opt);
int64_t pdl_optimizer_state_count(const pdl_optimizer *opt);
int64_t pdl_optimizer_steps(const pdl_optimizer *opt);
void pdl_optimizer_set_steps(pdl_optimizer *opt, int64_t steps);

/* Scales grads (n) so that their global L2 norm is at most max_norm; returns the norm before
 * scaling. max_norm <= 0 only measures. */
float pdl_clip_grad_norm(float *grads, int64_t n, float max_norm);

/* Everything a training run needs besides the net and the data. */
typedef struct pdl_train_config {
    int64_t batch;        /* images per optimizer step (per accumulation micro-batch: batch/accumulate) */
    int epochs;
    uint64_t seed;        /* parameter init, shuffling, dropout */
    pdl_optim_config optim;
    pdl_lr_schedule schedule;
    float clip_norm;      /* 0 = off */
    int accumulate;       /* micro-batches per optimizer step, 1 = off */
    int topk;             /* k of the top-k accuracy reported */
} pdl_train_config;

/* The defaults every key of [train] documents (docs/model-files.md). */
pdl_train_config pdl_train_config_default(void);
/* Reads the [train] section of the model file text (defaults where absent); errors name
 * file:line:key. A missing section gives the defaults. */
pdl_status pdl_train_config_from_text(const char *text, const char *filename, pdl_train_config *out);
/* Applies one "key=value" override (the same keys as [train]), e.g. from --set lr=0.1. */
pdl_status pdl_train_config_set(pdl_train_config *config, const char *key, const char *value);
/* Checks the constraints between keys (step needs step_size > 0, multistep needs milestones,
 * nesterov needs sgd with momentum > 0, batch a multiple of accumulate): call it after the
 * overrides, whose order must not matter. _from_text checks them itself. */
pdl_status pdl_train_config_check(const pdl_train_config *config);

#ifdef __cplusplus
}
#endif
#endif
