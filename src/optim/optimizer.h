/* Library-internal additions to pdl/optim.h: the names of optimizer kinds and learning-rate
 * policies (one spelling for [train], checkpoints and messages) and an optimizer's kind. */
#ifndef PDL_OPTIM_OPTIMIZER_H
#define PDL_OPTIM_OPTIMIZER_H

#include "pdl/optim.h"

enum { PDL_OPTIM_KIND_COUNT = 3, PDL_LR_POLICY_COUNT = 6 };

/* "sgd", "adam", "adamw"; "?" outside the enum. */
const char *pdl_optim_kind_name(pdl_optim_kind kind);
/* "fixed", "step", "multistep", "exp", "poly", "cosine"; "?" outside the enum. */
const char *pdl_lr_policy_name(pdl_lr_policy policy);

pdl_optim_kind pdl_optimizer_kind(const pdl_optimizer *opt);

#endif
