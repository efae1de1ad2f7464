/* The optimizers over the flat parameter buffer: SGD (momentum, Nesterov, L2 weight decay), Adam
 * and AdamW, each step computed in the order torch.optim computes it. Owns the optimizer state
 * buffer; learning-rate schedules and clipping live in schedule.c and clip.c. */
#include "optim/optimizer.h"

#include "core/error.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

struct pdl_optimizer {
    pdl_optim_config config;
    int64_t n;           /* parameters */
    int64_t steps;       /* updates done (Adam's bias correction; SGD's first-step buffer) */
    int64_t state_count; /* SGD with momentum: buffer (n); Adam/AdamW: m (n) then v (n) */
    float *state;
    double beta1, beta2; /* the betas as decimals, see decimal_of */
};

static const char *const kind_names[] = {"sgd", "adam", "adamw"};

const char *pdl_optim_kind_name(pdl_optim_kind kind)
{
    return (unsigned)kind < sizeof kind_names / sizeof *kind_names ? kind_names[kind] : "?";
}

pdl_optim_kind pdl_optimizer_kind(const pdl_optimizer *opt) { return opt->config.kind; }

static pdl_status check_config(const pdl_optim_config *c)
{
    if (c->kind != PDL_OPTIM_SGD && c->kind != PDL_OPTIM_ADAM && c->kind != PDL_OPTIM_ADAMW)
        return pdl_error(PDL_ERR_INVALID, "optimizer: unknown kind %d", (int)c->kind);
    if (!(c->weight_decay >= 0.0f && isfinite(c->weight_decay)))
        return pdl_error(PDL_ERR_INVALID, "optimizer: weight_decay %g must be >= 0",
                         (double)c->weight_decay);
    if (c->kind == PDL_OPTIM_SGD) {
        if (!(c->momentum >= 0.0f && c->momentum < 1.0f))
            return pdl_error(PDL_ERR_INVALID, "optimizer: momentum %g must be in [0, 1)",
                             (double)c->momentum);
        if (c->nesterov && c->momentum == 0.0f)
            return pdl_error(PDL_ERR_INVALID, "optimizer: nesterov needs momentum > 0");
        return PDL_OK;
    }
    if (c->nesterov)
        return pdl_error(PDL_ERR_INVALID, "optimizer: nesterov applies to sgd only, not %s",
                         pdl_optim_kind_name(c->kind));
    if (!(c->beta1 >= 0.0f && c->beta1 < 1.0f) || !(c->beta2 >= 0.0f && c->beta2 < 1.0f))
        return pdl_error(PDL_ERR_INVALID, "optimizer: beta1 %g and beta2 %g must be in [0, 1)",
                         (double)c->beta1, (double)c->beta2);
    if (!(c->eps > 0.0f && isfinite(c->eps)))
        return pdl_error(PDL_ERR_INVALID, "optimizer: eps %g must be > 0", (double)c->eps);
    return PDL_OK;
}

/* The shortest decimal that rounds to f, as a double: 0.999f gives 0.999. PyTorch's betas are
 * Python doubles, and 1 - beta and 1 - beta^t cancel: from the float (0.99900001) they would be
 * 1.3e-5 off in relative terms, from the decimal they are what PyTorch computes. */
static double decimal_of(float f)
{
    char text[32];
    for (int digits = 1; digits < 9; digits++) {
        snprintf(text, sizeof text, "%.*g", digits, (double)f);
        if (strtof(text, NULL) == f)
            return strtod(text, NULL);
    }
    return (double)f;
}

pdl_status pdl_optimizer_create(const pdl_optim_config *config, int64_t n, pdl_optimizer **out)
{
    PDL_ASSERT(config && out);
    pdl_status st;
    pdl_optimizer *opt = NULL;
    *out = NULL;
    if (n < 0)
        return pdl_error(PDL_ERR_INVALID, "optimizer: negative parameter count %lld",
                         (long long)n);
    if ((st = check_config(config)))
        return st;
    opt = calloc(1, sizeof *opt);
    if (!opt)
        goto nomem;
    opt->config = *config;
    opt->n = n;
    opt->beta1 = decimal_of(config->beta1);
    opt->beta2 = decimal_of(config->beta2);
    if (config->kind == PDL_OPTIM_SGD)
        opt->state_count = config->momentum != 0.0f ? n : 0;
    else
        opt->state_count = 2 * n;
    if (opt->state_count > 0 && !(opt->state = calloc((size_t)opt->state_count, sizeof(float))))
        goto nomem;
    *out = opt;
    return PDL_OK;
nomem:
    free(opt);
    return pdl_error(PDL_ERR_NOMEM, "optimizer: out of memory for the state of %lld parameters",
                     (long long)n);
}

void pdl_optimizer_free(pdl_optimizer *opt)
{
    if (!opt)
        return;
    free(opt->state);
    free(opt);
}

/* torch.optim.SGD with dampening 0: d = g + wd*p; buf = d (first step) or momentum*buf + d;
 * d = nesterov ? d + momentum*buf : buf; p -= lr*d. */
static void sgd_step(pdl_optimizer *opt, float *params, const float *grads, float lr)
{
    const float wd = opt->config.weight_decay, mom = opt->config.momentum;
    const bool nesterov = opt->config.nesterov, first = opt->steps == 0;
    float *buf = opt->state;
    for (int64_t i = 0; i < opt->n; i++) {
        float d = grads[i];
        if (wd != 0.0f)
            d = d + wd * params[i];
        if (mom != 0.0f) {
            float b = first ? d : mom * buf[i] + d;
            buf[i] = b;
            d = nesterov ? d + mom * b : b;
        }
        params[i] = params[i] - lr * d;
    }
}

/* torch.optim.Adam / AdamW: the bias corrections in double, as Python computes them; then per
 * element m = beta1*m + (1-beta1)*g, v = beta2*v + (1-beta2)*g*g,
 * p += -(lr/bc1) * m / (sqrt(v)/sqrt(bc2) + eps). Adam adds wd*p to g; AdamW first scales p by
 * (1 - lr*wd). */
static void adam_step(pdl_optimizer *opt, float *params, const float *grads, float lr)
{
    const pdl_optim_config *c = &opt->config;
    const bool decoupled = c->kind == PDL_OPTIM_ADAMW;
    const double step = (double)(opt->steps + 1);
    const float step_size = (float)((double)lr / (1.0 - pow(opt->beta1, step)));
    const float bc2_sqrt = (float)sqrt(1.0 - pow(opt->beta2, step));
    const float decay = (float)(1.0 - (double)lr * (double)c->weight_decay);
    const float b1 = c->beta1, b2 = c->beta2;
    const float a1 = (float)(1.0 - opt->beta1), a2 = (float)(1.0 - opt->beta2);
    const float wd = c->weight_decay, eps = c->eps;
    float *m = opt->state, *v = opt->state + opt->n;
    for (int64_t i = 0; i < opt->n; i++) {
        float g = grads[i], p = params[i];
        if (decoupled)
            p = p * decay;
        else if (wd != 0.0f)
            g = g + wd * p;
        float mi = b1 * m[i] + a1 * g;
        float vi = b2 * v[i] + a2 * g * g;
        float denom = sqrtf(vi) / bc2_sqrt + eps;
        m[i] = mi;
        v[i] = vi;
        params[i] = p + -step_size * mi / denom;
    }
}

void pdl_optimizer_step(pdl_optimizer *opt, float *params, const float *grads, float lr)
{
    PDL_ASSERT(opt && (opt->n == 0 || (params && grads)));
    if (opt->config.kind == PDL_OPTIM_SGD)
        sgd_step(opt, params, grads, lr);
    else
        adam_step(opt, params, grads, lr);
    opt->steps++;
}

float *pdl_optimizer_state(pdl_optimizer *opt) { return opt->state; }
int64_t pdl_optimizer_state_count(const pdl_optimizer *opt) { return opt->state_count; }
int64_t pdl_optimizer_steps(const pdl_optimizer *opt) { return opt->steps; }

void pdl_optimizer_set_steps(pdl_optimizer *opt, int64_t steps)
{
    PDL_ASSERT(steps >= 0);
    opt->steps = steps;
}
