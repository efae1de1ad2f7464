/* Optimizers and gradient clipping against torch.optim (tests/fixtures/optim.safetensors, made by
 * tests/fixtures/make_optim_fixtures.py), plus state layout, resume and argument errors.
 * Learning-rate schedules are tested in test_schedule.c. */
#include "graph/safetensors.h"
#include "harness.h"
#include "pdl/optim.h"

#include <string.h>

#define FIXTURE PDL_SOURCE_DIR "/tests/fixtures/optim.safetensors"

static pdl_safetensors *fixture;

/* The F32 tensor name of the fixture as floats (caller frees); *count receives its size. */
static float *load(const char *name, int64_t *count)
{
    pdl_shape shape;
    const unsigned char *bytes;
    if (pdl_safetensors_f32(fixture, name, &shape, &bytes)) {
        fprintf(stderr, "%s\n", pdl_last_error());
        return NULL;
    }
    *count = pdl_shape_count(&shape);
    float *out = malloc((size_t)(*count ? *count : 1) * sizeof *out);
    memcpy(out, bytes, (size_t)*count * sizeof *out);
    return out;
}

/* Runs the optimizer of the fixture entry prefix over all steps and compares every step's
 * parameters and the final state with torch. */
static void check_against_torch(const char *prefix, const float *params0, const float *grads,
                                const float *lrs, int64_t n, int64_t steps)
{
    char name[160];
    int64_t n_config = 0, n_expect = 0, n_state = 0;
    snprintf(name, sizeof name, "%s.config", prefix);
    float *c = load(name, &n_config);
    snprintf(name, sizeof name, "%s.params", prefix);
    float *expect = load(name, &n_expect);
    snprintf(name, sizeof name, "%s.state", prefix);
    float *state = load(name, &n_state);
    CHECK(c && expect && state && n_config == 7 && n_expect == n * steps);
    if (!c || !expect || !state || n_config != 7 || n_expect != n * steps)
        goto done;
    pdl_optim_config config = {
        .kind = (pdl_optim_kind)(int)c[0], .momentum = c[1], .nesterov = c[2] != 0.0f,
        .weight_decay = c[3], .beta1 = c[4], .beta2 = c[5], .eps = c[6]};
    pdl_optimizer *opt = NULL;
    CHECK_OK(pdl_optimizer_create(&config, n, &opt));
    if (!opt)
        goto done;
    float *p = malloc((size_t)n * sizeof *p);
    memcpy(p, params0, (size_t)n * sizeof *p);
    int failures_before = harness_checks_failed;
    for (int64_t k = 0; k < steps; k++) {
        pdl_optimizer_step(opt, p, grads + k * n, lrs[k]);
        for (int64_t i = 0; i < n; i++)
            CHECK_CLOSE(p[i], expect[k * n + i], 1e-7, 2e-6);
    }
    CHECK(pdl_optimizer_steps(opt) == steps);
    CHECK(pdl_optimizer_state_count(opt) == n_state);
    if (pdl_optimizer_state_count(opt) == n_state)
        for (int64_t i = 0; i < n_state; i++)
            CHECK_CLOSE(pdl_optimizer_state(opt)[i], state[i], 1e-7, 2e-6);
    if (harness_checks_failed != failures_before)
        fprintf(stderr, "  in fixture %s\n", prefix);
    free(p);
    pdl_optimizer_free(opt);
done:
    free(c);
    free(expect);
    free(state);
}

/* Every "<name>.config" of the fixture that is not a schedule is an optimizer run. */
static void test_matches_torch(void)
{
    int64_t n = 0, n_grads = 0, n_lrs = 0;
    float *params0 = load("params0", &n), *grads = load("grads", &n_grads);
    float *lrs = load("lrs", &n_lrs);
    int runs = 0;
    CHECK(params0 && grads && lrs && n_grads == n * n_lrs);
    for (int t = 0; params0 && grads && lrs && t < fixture->n_tensors; t++) {
        const char *name = fixture->tensors[t].name;
        size_t len = strlen(name);
        if (strncmp(name, "sched.", 6) && strncmp(name, "clip.", 5) && len > 7 &&
            !strcmp(name + len - 7, ".config")) {
            char prefix[128];
            snprintf(prefix, sizeof prefix, "%.*s", (int)(len - 7), name);
            check_against_torch(prefix, params0, grads, lrs, n, n_lrs);
            runs++;
        }
    }
    CHECK(runs == 10); /* sgd x6, adam x2, adamw x2 */
    free(params0);
    free(grads);
    free(lrs);
}

static void test_clip_matches_torch(void)
{
    const char *cases[] = {"clip.tight", "clip.loose"};
    int64_t n = 0, one = 0;
    float *grads = load("clip.grads", &n);
    CHECK(grads != NULL);
    for (int c = 0; grads && c < 2; c++) {
        char name[64];
        int64_t n_clipped = 0;
        snprintf(name, sizeof name, "%s.max_norm", cases[c]);
        float *max_norm = load(name, &one);
        snprintf(name, sizeof name, "%s.norm", cases[c]);
        float *norm = load(name, &one);
        snprintf(name, sizeof name, "%s.clipped", cases[c]);
        float *clipped = load(name, &n_clipped);
        float *g = malloc((size_t)n * sizeof *g);
        memcpy(g, grads, (size_t)n * sizeof *g);
        CHECK(max_norm && norm && clipped && n_clipped == n);
        if (max_norm && norm && clipped && n_clipped == n) {
            CHECK_CLOSE(pdl_clip_grad_norm(g, n, max_norm[0]), norm[0], 0, 1e-6);
            for (int64_t i = 0; i < n; i++)
                CHECK_CLOSE(g[i], clipped[i], 1e-7, 1e-6);
        }
        free(max_norm);
        free(norm);
        free(clipped);
        free(g);
    }
    free(grads);
}

/* Clipping against the formula: 3-4-12 has norm 13. */
static void test_clip_formula(void)
{
    float g[5] = {3, 4, 12, 0, 0};
    CHECK_CLOSE(pdl_clip_grad_norm(g, 5, 0.0f), 13.0, 0, 1e-7); /* measure only */
    CHECK(g[0] == 3 && g[2] == 12);
    CHECK_CLOSE(pdl_clip_grad_norm(g, 5, 20.0f), 13.0, 0, 1e-7); /* below the limit: untouched */
    CHECK(g[0] == 3 && g[1] == 4 && g[2] == 12);
    CHECK_CLOSE(pdl_clip_grad_norm(g, 5, 6.5f), 13.0, 0, 1e-7);
    CHECK_CLOSE(g[0], 3.0 * 6.5 / (13.0 + 1e-6), 0, 1e-6);
    CHECK_CLOSE(g[2], 12.0 * 6.5 / (13.0 + 1e-6), 0, 1e-6);
    CHECK_CLOSE(pdl_clip_grad_norm(g, 5, 0.0f), 6.5, 0, 1e-6);
    CHECK(pdl_clip_grad_norm(g, 0, 1.0f) == 0.0f);
    /* A non-finite norm is reported and the gradients are left for the caller to judge. */
    float bad[3] = {1, INFINITY, 2};
    CHECK(isinf(pdl_clip_grad_norm(bad, 3, 1.0f)));
    CHECK(bad[0] == 1 && bad[2] == 2);
    /* Large n exercises the unrolled sum: 1001 ones have norm sqrt(1001). */
    float *ones = malloc(1001 * sizeof *ones);
    for (int i = 0; i < 1001; i++)
        ones[i] = 1.0f;
    CHECK_CLOSE(pdl_clip_grad_norm(ones, 1001, -1.0f), sqrt(1001.0), 0, 1e-7);
    free(ones);
}

static pdl_optimizer *make(pdl_optim_kind kind, float momentum, bool nesterov, int64_t n)
{
    pdl_optim_config c = {kind, momentum, nesterov, 0.01f, 0.9f, 0.999f, 1e-8f};
    pdl_optimizer *opt = NULL;
    CHECK_OK(pdl_optimizer_create(&c, n, &opt));
    return opt;
}

static void test_state_sizes(void)
{
    pdl_optimizer *plain = make(PDL_OPTIM_SGD, 0.0f, false, 10);
    pdl_optimizer *mom = make(PDL_OPTIM_SGD, 0.9f, true, 10);
    pdl_optimizer *adam = make(PDL_OPTIM_ADAM, 0.0f, false, 10);
    pdl_optimizer *adamw = make(PDL_OPTIM_ADAMW, 0.0f, false, 10);
    CHECK(plain && mom && adam && adamw);
    if (plain && mom && adam && adamw) {
        CHECK(pdl_optimizer_state_count(plain) == 0);
        CHECK(pdl_optimizer_state_count(mom) == 10);
        CHECK(pdl_optimizer_state_count(adam) == 20 && pdl_optimizer_state_count(adamw) == 20);
        for (int i = 0; i < 20; i++)
            CHECK(pdl_optimizer_state(adam)[i] == 0.0f);
        CHECK(pdl_optimizer_steps(adam) == 0);
    }
    pdl_optimizer_free(plain);
    pdl_optimizer_free(mom);
    pdl_optimizer_free(adam);
    pdl_optimizer_free(adamw);
}

/* Copying state and step count into a fresh optimizer continues bit for bit. */
static void test_resume_is_exact(void)
{
    enum { N = 37, STEPS = 6, SPLIT = 2 };
    const pdl_optim_kind kinds[] = {PDL_OPTIM_SGD, PDL_OPTIM_ADAM, PDL_OPTIM_ADAMW};
    for (int k = 0; k < 3; k++) {
        float a[N], b[N], grads[STEPS][N];
        for (int i = 0; i < N; i++) {
            a[i] = b[i] = (float)(i % 7) - 3.0f;
            for (int s = 0; s < STEPS; s++)
                grads[s][i] = (float)((i * 13 + s * 5) % 11) / 4.0f - 1.2f;
        }
        pdl_optimizer *whole = make(kinds[k], 0.9f, false, N);
        pdl_optimizer *first = make(kinds[k], 0.9f, false, N);
        pdl_optimizer *second = make(kinds[k], 0.9f, false, N);
        if (!whole || !first || !second)
            return;
        for (int s = 0; s < STEPS; s++)
            pdl_optimizer_step(whole, a, grads[s], 0.05f);
        for (int s = 0; s < SPLIT; s++)
            pdl_optimizer_step(first, b, grads[s], 0.05f);
        memcpy(pdl_optimizer_state(second), pdl_optimizer_state(first),
               (size_t)pdl_optimizer_state_count(first) * sizeof(float));
        pdl_optimizer_set_steps(second, pdl_optimizer_steps(first));
        for (int s = SPLIT; s < STEPS; s++)
            pdl_optimizer_step(second, b, grads[s], 0.05f);
        CHECK(memcmp(a, b, sizeof a) == 0);
        CHECK(memcmp(pdl_optimizer_state(whole), pdl_optimizer_state(second),
                     (size_t)pdl_optimizer_state_count(whole) * sizeof(float)) == 0);
        CHECK(pdl_optimizer_steps(second) == STEPS);
        pdl_optimizer_free(whole);
        pdl_optimizer_free(first);
        pdl_optimizer_free(second);
    }
}

static void expect_invalid(pdl_optim_config c, int64_t n, const char *word)
{
    pdl_optimizer *opt = (pdl_optimizer *)&c; /* must be reset to NULL */
    CHECK(pdl_optimizer_create(&c, n, &opt) == PDL_ERR_INVALID);
    CHECK(opt == NULL);
    CHECK(strstr(pdl_last_error(), word) != NULL);
}

static void test_bad_configs(void)
{
    const pdl_optim_config good = {PDL_OPTIM_SGD, 0.9f, false, 0.0f, 0.9f, 0.999f, 1e-8f};
    pdl_optim_config c = good;
    c.nesterov = true, c.momentum = 0.0f;
    expect_invalid(c, 4, "nesterov");
    c = good, c.kind = PDL_OPTIM_ADAM, c.nesterov = true;
    expect_invalid(c, 4, "nesterov");
    c = good, c.momentum = 1.0f;
    expect_invalid(c, 4, "momentum");
    c = good, c.weight_decay = -0.1f;
    expect_invalid(c, 4, "weight_decay");
    c = good, c.kind = PDL_OPTIM_ADAMW, c.beta2 = 1.0f;
    expect_invalid(c, 4, "beta");
    c = good, c.kind = PDL_OPTIM_ADAM, c.eps = 0.0f;
    expect_invalid(c, 4, "eps");
    c = good, c.kind = (pdl_optim_kind)7;
    expect_invalid(c, 4, "kind");
    expect_invalid(good, -1, "negative");
    pdl_optimizer *empty = make(PDL_OPTIM_ADAM, 0.0f, false, 0);
    CHECK(empty && pdl_optimizer_state_count(empty) == 0);
    if (empty)
        pdl_optimizer_step(empty, NULL, NULL, 0.1f);
    pdl_optimizer_free(empty);
}

int main(void)
{
    if (pdl_safetensors_read(FIXTURE, false, &fixture)) {
        fprintf(stderr, "cannot read the fixture: %s\n", pdl_last_error());
        return 1;
    }
    RUN(test_matches_torch);
    RUN(test_clip_matches_torch);
    RUN(test_clip_formula);
    RUN(test_state_sizes);
    RUN(test_resume_is_exact);
    RUN(test_bad_configs);
    pdl_safetensors_free(fixture);
    return harness_summary();
}
