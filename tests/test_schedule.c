/* Learning-rate schedules: every policy at chosen iterations against formulas written out here
 * independently (repeated products, not pow), warmup, and torch.optim.lr_scheduler's rates where
 * they coincide (tests/fixtures/optim.safetensors, made by make_optim_fixtures.py). */
#include "graph/safetensors.h"
#include "harness.h"
#include "pdl/optim.h"

#include <string.h>

#define FIXTURE PDL_SOURCE_DIR "/tests/fixtures/optim.safetensors"

static pdl_lr_schedule schedule(pdl_lr_policy policy, float lr)
{
    pdl_lr_schedule s = {.policy = policy, .base_lr = lr, .gamma = 0.1f, .power = 1.0f,
                         .warmup_start = 0.1f};
    return s;
}

/* gamma^k by repeated multiplication. */
static double repeat_mul(double gamma, int64_t k)
{
    double v = 1.0;
    for (int64_t i = 0; i < k; i++)
        v *= gamma;
    return v;
}

static void test_fixed(void)
{
    pdl_lr_schedule s = schedule(PDL_LR_FIXED, 0.25f);
    CHECK(pdl_lr_at(&s, 0) == 0.25f);
    CHECK(pdl_lr_at(&s, 123456789) == 0.25f);
}

static void test_step(void)
{
    pdl_lr_schedule s = schedule(PDL_LR_STEP, 0.5f);
    s.gamma = 0.3f, s.step_size = 7;
    const int64_t iters[] = {0, 6, 7, 13, 14, 20, 21, 100};
    for (int i = 0; i < 8; i++) {
        int64_t drops = 0;
        for (int64_t boundary = 7; boundary <= iters[i]; boundary += 7)
            drops++;
        CHECK_CLOSE(pdl_lr_at(&s, iters[i]), 0.5 * repeat_mul(0.3f, drops), 0, 1e-6);
    }
    CHECK(pdl_lr_at(&s, 6) == 0.5f && pdl_lr_at(&s, 7) < pdl_lr_at(&s, 6));
}

static void test_multistep(void)
{
    pdl_lr_schedule s = schedule(PDL_LR_MULTISTEP, 1.0f);
    s.gamma = 0.5f, s.milestones[0] = 3, s.milestones[1] = 10, s.milestones[2] = 20;
    s.n_milestones = 3;
    const int64_t iters[] = {0, 2, 3, 9, 10, 19, 20, 1000};
    const double expect[] = {1, 1, 0.5, 0.5, 0.25, 0.25, 0.125, 0.125};
    for (int i = 0; i < 8; i++)
        CHECK_CLOSE(pdl_lr_at(&s, iters[i]), expect[i], 0, 1e-7);
}

static void test_exp(void)
{
    pdl_lr_schedule s = schedule(PDL_LR_EXP, 0.1f);
    s.gamma = 0.99f;
    const int64_t iters[] = {0, 1, 2, 50, 500};
    for (int i = 0; i < 5; i++)
        CHECK_CLOSE(pdl_lr_at(&s, iters[i]), (double)0.1f * repeat_mul(0.99f, iters[i]), 0, 1e-5);
}

static void test_poly(void)
{
    pdl_lr_schedule s = schedule(PDL_LR_POLY, 0.2f);
    s.power = 0.5f, s.max_iter = 100;
    CHECK_CLOSE(pdl_lr_at(&s, 0), 0.2, 0, 1e-7);
    CHECK_CLOSE(pdl_lr_at(&s, 75), 0.2 * 0.5, 0, 1e-6);   /* (1 - 0.75)^0.5 */
    CHECK_CLOSE(pdl_lr_at(&s, 96), 0.2 * 0.2, 0, 1e-6);   /* (1 - 0.96)^0.5 */
    CHECK(pdl_lr_at(&s, 100) == 0.0f);
    CHECK(pdl_lr_at(&s, 150) == 0.0f);                    /* stays at the end */
    s.power = 2.0f;
    CHECK_CLOSE(pdl_lr_at(&s, 50), 0.2 * 0.25, 0, 1e-6);
}

static void test_cosine(void)
{
    pdl_lr_schedule s = schedule(PDL_LR_COSINE, 0.1f);
    s.max_iter = 90, s.min_lr = 0.001f;
    const double span = (double)0.1f - (double)0.001f;
    CHECK_CLOSE(pdl_lr_at(&s, 0), 0.1, 0, 1e-7);
    CHECK_CLOSE(pdl_lr_at(&s, 45), 0.001f + span / 2, 0, 1e-6);       /* cos(pi/2) = 0 */
    CHECK_CLOSE(pdl_lr_at(&s, 30), 0.001f + span * 0.75, 0, 1e-6);    /* cos(pi/3) = 1/2 */
    CHECK_CLOSE(pdl_lr_at(&s, 60), 0.001f + span * 0.25, 0, 1e-6);    /* cos(2pi/3) = -1/2 */
    CHECK_CLOSE(pdl_lr_at(&s, 90), 0.001, 0, 1e-6);
    CHECK_CLOSE(pdl_lr_at(&s, 1000), 0.001, 0, 1e-6);                 /* stays at min_lr */
    for (int64_t i = 1; i <= 90; i++)
        CHECK(pdl_lr_at(&s, i) <= pdl_lr_at(&s, i - 1));
}

/* Warmup ramps from warmup_start * lr(0) to lr(warmup_iters), then the policy continues. */
static void test_warmup(void)
{
    pdl_lr_schedule s = schedule(PDL_LR_FIXED, 0.4f);
    s.warmup_iters = 8, s.warmup_start = 0.25f;
    for (int64_t i = 0; i <= 8; i++) {
        double expect = 0.1 + (0.4 - 0.1) * (double)i / 8.0;
        CHECK_CLOSE(pdl_lr_at(&s, i), expect, 0, 1e-6);
    }
    CHECK(pdl_lr_at(&s, 100) == 0.4f);

    /* With cosine: the ramp ends on the cosine curve at warmup_iters, no jump. */
    pdl_lr_schedule c = schedule(PDL_LR_COSINE, 1.0f);
    c.max_iter = 100, c.warmup_iters = 10, c.warmup_start = 0.0f;
    const double pi = 3.14159265358979323846, at10 = (1.0 + cos(pi * 0.1)) / 2.0;
    CHECK(pdl_lr_at(&c, 0) == 0.0f);
    CHECK_CLOSE(pdl_lr_at(&c, 5), at10 / 2.0, 0, 1e-6);
    CHECK_CLOSE(pdl_lr_at(&c, 10), at10, 0, 1e-6);
    CHECK_CLOSE(pdl_lr_at(&c, 9), at10 * 0.9, 0, 1e-6);

    /* With step: starts from warmup_start * lr(0) and ends at lr(warmup_iters), after a drop. */
    pdl_lr_schedule st = schedule(PDL_LR_STEP, 1.0f);
    st.step_size = 4, st.gamma = 0.5f, st.warmup_iters = 6, st.warmup_start = 0.1f;
    CHECK_CLOSE(pdl_lr_at(&st, 0), 0.1, 0, 1e-7);
    CHECK_CLOSE(pdl_lr_at(&st, 3), 0.1 + (0.5 - 0.1) * 0.5, 0, 1e-6);
    CHECK_CLOSE(pdl_lr_at(&st, 6), 0.5, 0, 1e-7);
    CHECK_CLOSE(pdl_lr_at(&st, 8), 0.25, 0, 1e-7);
}

static float *load(pdl_safetensors *fx, const char *name, int64_t *count)
{
    pdl_shape shape;
    const unsigned char *bytes;
    if (pdl_safetensors_f32(fx, name, &shape, &bytes)) {
        fprintf(stderr, "%s\n", pdl_last_error());
        return NULL;
    }
    *count = pdl_shape_count(&shape);
    float *out = malloc((size_t)(*count ? *count : 1) * sizeof *out);
    memcpy(out, bytes, (size_t)*count * sizeof *out);
    return out;
}

/* torch's StepLR, MultiStepLR, ExponentialLR, PolynomialLR, CosineAnnealingLR (up to T_max)
 * and LinearLR (our warmup of the fixed policy). */
static void test_matches_torch(void)
{
    const char *names[] = {"step", "multistep", "exp", "poly", "cosine", "warmup"};
    pdl_safetensors *fx = NULL;
    CHECK_OK(pdl_safetensors_read(FIXTURE, false, &fx));
    for (int k = 0; fx && k < 6; k++) {
        char name[64];
        int64_t n_config = 0, n_milestones = 0, n_lr = 0;
        snprintf(name, sizeof name, "sched.%s.config", names[k]);
        float *c = load(fx, name, &n_config);
        snprintf(name, sizeof name, "sched.%s.milestones", names[k]);
        float *m = load(fx, name, &n_milestones);
        snprintf(name, sizeof name, "sched.%s.lr", names[k]);
        float *lr = load(fx, name, &n_lr);
        CHECK(c && m && lr && n_config == 9 && n_lr > 5 && n_milestones <= PDL_MAX_MILESTONES);
        if (c && m && lr && n_config == 9) {
            pdl_lr_schedule s = {.policy = (pdl_lr_policy)(int)c[0], .base_lr = c[1],
                                 .gamma = c[2], .step_size = (int64_t)c[3], .power = c[4],
                                 .max_iter = (int64_t)c[5], .min_lr = c[6],
                                 .warmup_iters = (int64_t)c[7], .warmup_start = c[8],
                                 .n_milestones = (int)n_milestones};
            for (int i = 0; i < s.n_milestones; i++)
                s.milestones[i] = (int64_t)m[i];
            for (int64_t i = 0; i < n_lr; i++)
                CHECK_CLOSE(pdl_lr_at(&s, i), lr[i], 1e-9, 1e-5);
        }
        free(c);
        free(m);
        free(lr);
    }
    pdl_safetensors_free(fx);
}

int main(void)
{
    RUN(test_fixed);
    RUN(test_step);
    RUN(test_multistep);
    RUN(test_exp);
    RUN(test_poly);
    RUN(test_cosine);
    RUN(test_warmup);
    RUN(test_matches_torch);
    return harness_summary();
}
