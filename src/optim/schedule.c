/* Learning-rate schedules: the rate at an optimizer step for each policy of pdl_lr_policy, with
 * an optional linear warmup. Closed forms in double; no state, so a resumed run gets the same
 * rates. The [train] keys that fill pdl_lr_schedule are read in train_config.c. */
#include "optim/optimizer.h"

#include "core/error.h"

#include <math.h>

static const char *const policy_names[PDL_LR_POLICY_COUNT] = {"fixed", "step", "multistep",
                                                              "exp",   "poly", "cosine"};

const char *pdl_lr_policy_name(pdl_lr_policy policy)
{
    return (unsigned)policy < PDL_LR_POLICY_COUNT ? policy_names[policy] : "?";
}

/* iter / max_iter clamped to [0, 1]: poly and cosine stay at their final rate after max_iter. */
static double progress(const pdl_lr_schedule *s, int64_t iter)
{
    PDL_ASSERT(s->max_iter > 0); /* the trainer replaces 0 (= the whole run) before use */
    return iter >= s->max_iter ? 1.0 : (double)iter / (double)s->max_iter;
}

/* The policy's rate at iter, without warmup. */
static double policy_lr(const pdl_lr_schedule *s, int64_t iter)
{
    const double lr = s->base_lr, gamma = s->gamma;
    int passed = 0;
    switch (s->policy) {
    case PDL_LR_FIXED:
        return lr;
    case PDL_LR_STEP:
        PDL_ASSERT(s->step_size > 0);
        return lr * pow(gamma, (double)(iter / s->step_size));
    case PDL_LR_MULTISTEP:
        while (passed < s->n_milestones && s->milestones[passed] <= iter)
            passed++;
        return lr * pow(gamma, passed);
    case PDL_LR_EXP:
        return lr * pow(gamma, (double)iter);
    case PDL_LR_POLY:
        return lr * pow(1.0 - progress(s, iter), (double)s->power);
    case PDL_LR_COSINE: {
        const double pi = 3.14159265358979323846, min_lr = s->min_lr;
        return min_lr + (lr - min_lr) * (1.0 + cos(pi * progress(s, iter))) / 2.0;
    }
    }
    PDL_ASSERT(!"unknown learning-rate policy");
    return lr;
}

float pdl_lr_at(const pdl_lr_schedule *schedule, int64_t iter)
{
    PDL_ASSERT(schedule && iter >= 0);
    const int64_t warmup = schedule->warmup_iters;
    if (iter < warmup) {
        double from = schedule->warmup_start * policy_lr(schedule, 0);
        double to = policy_lr(schedule, warmup);
        return (float)(from + (to - from) * (double)iter / (double)warmup);
    }
    return (float)policy_lr(schedule, iter);
}
