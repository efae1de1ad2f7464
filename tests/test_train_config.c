/* The [train] section and --set overrides: documented defaults, every key read, every kind of
 * bad value refused with file:line:key, constraints between keys, overrides. */
#include "harness.h"
#include "pdl/optim.h"

#include <stdint.h>
#include <string.h>

static void test_defaults(void)
{
    pdl_train_config c = pdl_train_config_default();
    CHECK(c.batch == 64 && c.epochs == 10 && c.seed == 1);
    CHECK(c.optim.kind == PDL_OPTIM_SGD && c.optim.momentum == 0.9f && !c.optim.nesterov);
    CHECK(c.optim.weight_decay == 0.0f && c.optim.beta1 == 0.9f && c.optim.beta2 == 0.999f);
    CHECK(c.optim.eps == 1e-8f);
    CHECK(c.schedule.policy == PDL_LR_FIXED && c.schedule.base_lr == 0.01f);
    CHECK(c.schedule.gamma == 0.1f && c.schedule.step_size == 0 && c.schedule.n_milestones == 0);
    CHECK(c.schedule.power == 1.0f && c.schedule.max_iter == 0 && c.schedule.min_lr == 0.0f);
    CHECK(c.schedule.warmup_iters == 0 && c.schedule.warmup_start == 0.1f);
    CHECK(c.clip_norm == 0.0f && c.accumulate == 1 && c.topk == 5);
    CHECK_OK(pdl_train_config_check(&c));
}

/* No [train] section, or an empty one, gives the defaults; other sections are not read. */
static void test_absent_section(void)
{
    const pdl_train_config d = pdl_train_config_default();
    pdl_train_config c;
    memset(&c, 0xab, sizeof c);
    CHECK_OK(pdl_train_config_from_text("[net]\ninput = 1x28x28\nclasses = 10\n[fc]\noutput = 10\n",
                                        "m.cfg", &c));
    CHECK(c.batch == d.batch && c.schedule.base_lr == d.schedule.base_lr && c.topk == d.topk);
    memset(&c, 0xab, sizeof c);
    CHECK_OK(pdl_train_config_from_text("[train]\n", "m.cfg", &c));
    CHECK(c.epochs == d.epochs && c.optim.kind == d.optim.kind);
}

static void test_every_key(void)
{
    const char *text = "[net]\n"
                       "input = 3x32x32\n"
                       "[train]\n"
                       "batch = 96\n"
                       "epochs = 3\n"
                       "seed = 18446744073709551615\n"
                       "optimizer = adamw\n"
                       "lr = 3e-4   # a comment\n"
                       "momentum = 0.5\n"
                       "nesterov = 0\n"
                       "weight_decay = 0.05\n"
                       "beta1 = 0.8\n"
                       "beta2 = 0.99\n"
                       "eps = 1e-6\n"
                       "lr_policy = multistep\n"
                       "gamma = 0.2\n"
                       "step_size = 5\n"
                       "milestones = 10, 20,30\n"
                       "power = 2\n"
                       "max_iter = 1000\n"
                       "min_lr = 1e-5\n"
                       "warmup_iters = 50\n"
                       "warmup_start = 0.01\n"
                       "clip_norm = 5\n"
                       "accumulate = 4\n"
                       "topk = 3\n";
    pdl_train_config c;
    CHECK_OK(pdl_train_config_from_text(text, "all.cfg", &c));
    CHECK(c.batch == 96 && c.epochs == 3 && c.seed == UINT64_MAX);
    CHECK(c.optim.kind == PDL_OPTIM_ADAMW && c.schedule.base_lr == 3e-4f);
    CHECK(c.optim.momentum == 0.5f && !c.optim.nesterov && c.optim.weight_decay == 0.05f);
    CHECK(c.optim.beta1 == 0.8f && c.optim.beta2 == 0.99f && c.optim.eps == 1e-6f);
    CHECK(c.schedule.policy == PDL_LR_MULTISTEP && c.schedule.gamma == 0.2f);
    CHECK(c.schedule.step_size == 5 && c.schedule.n_milestones == 3);
    CHECK(c.schedule.milestones[0] == 10 && c.schedule.milestones[1] == 20 &&
          c.schedule.milestones[2] == 30);
    CHECK(c.schedule.power == 2.0f && c.schedule.max_iter == 1000 && c.schedule.min_lr == 1e-5f);
    CHECK(c.schedule.warmup_iters == 50 && c.schedule.warmup_start == 0.01f);
    CHECK(c.clip_norm == 5.0f && c.accumulate == 4 && c.topk == 3);

    const char *names[] = {"fixed", "step", "multistep", "exp", "poly", "cosine"};
    for (int p = 0; p < 6; p++) {
        char t[160];
        snprintf(t, sizeof t, "[train]\nlr_policy = %s\nstep_size = 3\nmilestones = 4\n"
                 "optimizer = %s\nnesterov = %s\n", names[p], p % 2 ? "sgd" : "adam",
                 p % 2 ? "yes" : "off");
        CHECK_OK(pdl_train_config_from_text(t, "p.cfg", &c));
        CHECK(c.schedule.policy == (pdl_lr_policy)p);
        CHECK(c.optim.kind == (p % 2 ? PDL_OPTIM_SGD : PDL_OPTIM_ADAM));
        CHECK(c.optim.nesterov == (p % 2 == 1));
    }
}

/* text must fail with PDL_ERR_PARSE and a message holding every fragment of want (NULL-ended). */
static void expect_error(const char *text, const char *const *want)
{
    pdl_train_config c = pdl_train_config_default(), before = c;
    pdl_status st = pdl_train_config_from_text(text, "bad.cfg", &c);
    CHECK(st == PDL_ERR_PARSE);
    CHECK(memcmp(&c, &before, sizeof c) == 0); /* *out untouched on error */
    for (int i = 0; want[i]; i++)
        if (!strstr(pdl_last_error(), want[i])) {
            fprintf(stderr, "  message '%s' lacks '%s' (text: %s)\n", pdl_last_error(), want[i],
                    text);
            CHECK(!"message fragment missing");
        }
}

/* Each key with values it must refuse; the error names file, line 3 and the key. */
static void test_bad_values(void)
{
    static const struct {
        const char *key;
        const char *values[6];
    } cases[] = {
        {"batch", {"0", "-5", "12.5", "abc", "1073741825", NULL}},
        {"epochs", {"0", "1e3", "ten", NULL}},
        {"seed", {"-1", "18446744073709551616", "1.0", "0x10", NULL}},
        {"optimizer", {"SGD", "rmsprop", "adam w", NULL}},
        {"lr", {"-0.1", "nan", "inf", "0.1x", "1e999", NULL}},
        {"momentum", {"1", "-0.1", "1.5", NULL}},
        {"nesterov", {"2", "maybe", NULL}},
        {"weight_decay", {"-1e-4", "x", NULL}},
        {"beta1", {"1", "-0.5", NULL}},
        {"beta2", {"1.0", "2", NULL}},
        {"eps", {"0", "-1e-8", NULL}},
        {"lr_policy", {"linear", "Step", NULL}},
        {"gamma", {"0", "-0.1", NULL}},
        {"step_size", {"-1", "2.5", NULL}},
        {"milestones", {"0", "5, 3", "5, 5", "5,", "5,,6", "a, b"}},
        {"power", {"-1", NULL}},
        {"max_iter", {"-10", NULL}},
        {"min_lr", {"-0.001", NULL}},
        {"warmup_iters", {"-1", "1.5", NULL}},
        {"warmup_start", {"1.01", "-0.1", NULL}},
        {"clip_norm", {"-1", NULL}},
        {"accumulate", {"0", "65537", NULL}},
        {"topk", {"0", "-1", NULL}},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++)
        for (int v = 0; v < 6 && cases[k].values[v]; v++) {
            char text[256], quoted[64];
            snprintf(text, sizeof text, "[train]\nepochs = 2\n%s = %s\n", cases[k].key,
                     cases[k].values[v]);
            snprintf(quoted, sizeof quoted, "'%s'", cases[k].key);
            const char *want[] = {"bad.cfg:3:", quoted, NULL};
            expect_error(text, want);
        }
    const char *many[] = {"bad.cfg:2:", "'milestones'", "at most 16", NULL};
    expect_error("[train]\nmilestones = 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17\n", many);
}

static void test_structure_errors(void)
{
    const char *unknown[] = {"bad.cfg:3:", "'learning_rate'", NULL};
    expect_error("[train]\nlr = 0.1\nlearning_rate = 0.1\n", unknown);
    const char *twice[] = {"bad.cfg:5:", "second [train]", "line 2", NULL};
    expect_error("[net]\n[train]\nlr = 0.1\n[conv]\n[train]\nbatch = 8\n", twice);
}

/* Constraints between keys blame the key the file wrote, on its line. */
static void test_cross_key_errors(void)
{
    const char *step_missing[] = {"bad.cfg:3:", "'lr_policy'", "step_size", NULL};
    expect_error("[train]\nlr = 0.1\nlr_policy = step\n", step_missing);
    const char *step_zero[] = {"bad.cfg:3:", "'step_size'", NULL};
    expect_error("[train]\nlr_policy = step\nstep_size = 0\n", step_zero);
    const char *multistep[] = {"bad.cfg:2:", "'lr_policy'", "milestones", NULL};
    expect_error("[train]\nlr_policy = multistep\n", multistep);
    const char *nesterov_adam[] = {"bad.cfg:3:", "'nesterov'", "sgd", NULL};
    expect_error("[train]\noptimizer = adam\nnesterov = 1\n", nesterov_adam);
    const char *nesterov_zero[] = {"bad.cfg:2:", "'nesterov'", "momentum", NULL};
    expect_error("[train]\nnesterov = 1\nmomentum = 0\n", nesterov_zero);
    const char *accumulate[] = {"bad.cfg:3:", "'accumulate'", "multiple", NULL};
    expect_error("[train]\nbatch = 10\naccumulate = 3\n", accumulate);
    const char *either_order[] = {"bad.cfg:2:", "'accumulate'", "batch 10", NULL};
    expect_error("[train]\naccumulate = 4\nbatch = 10\n", either_order);
}

static void test_set(void)
{
    pdl_train_config c = pdl_train_config_default();
    CHECK_OK(pdl_train_config_set(&c, "lr", "0.5"));
    CHECK_OK(pdl_train_config_set(&c, "optimizer", "adam"));
    CHECK_OK(pdl_train_config_set(&c, "milestones", "3,7"));
    CHECK_OK(pdl_train_config_set(&c, "seed", "42"));
    CHECK_OK(pdl_train_config_set(&c, "nesterov", "TRUE"));
    CHECK(c.schedule.base_lr == 0.5f && c.optim.kind == PDL_OPTIM_ADAM && c.seed == 42);
    CHECK(c.schedule.n_milestones == 2 && c.schedule.milestones[1] == 7 && c.optim.nesterov);
    /* nesterov with adam: set accepts each value, the check after all overrides refuses. */
    CHECK(pdl_train_config_check(&c) == PDL_ERR_INVALID);
    CHECK(strstr(pdl_last_error(), "nesterov") != NULL);
    CHECK_OK(pdl_train_config_set(&c, "optimizer", "sgd"));
    CHECK_OK(pdl_train_config_check(&c));

    /* Order does not matter: policy before its step size. */
    pdl_train_config d = pdl_train_config_default();
    CHECK_OK(pdl_train_config_set(&d, "lr_policy", "step"));
    CHECK(pdl_train_config_check(&d) == PDL_ERR_INVALID);
    CHECK(strstr(pdl_last_error(), "step_size") != NULL);
    CHECK_OK(pdl_train_config_set(&d, "step_size", "100"));
    CHECK_OK(pdl_train_config_check(&d));

    /* A bad value names the key and leaves the config as it was. */
    pdl_train_config before = d;
    CHECK(pdl_train_config_set(&d, "momentum", "1.2") == PDL_ERR_INVALID);
    CHECK(strstr(pdl_last_error(), "'momentum'") && strstr(pdl_last_error(), "1.2"));
    CHECK(pdl_train_config_set(&d, "milestones", "4,2") == PDL_ERR_INVALID);
    CHECK(strstr(pdl_last_error(), "'milestones'") != NULL);
    CHECK(pdl_train_config_set(&d, "seed", "-3") == PDL_ERR_INVALID);
    CHECK(pdl_train_config_set(&d, "batch", "") == PDL_ERR_INVALID);
    CHECK(memcmp(&d, &before, sizeof d) == 0);
    CHECK(pdl_train_config_set(&d, "learning_rate", "0.1") == PDL_ERR_INVALID);
    CHECK(strstr(pdl_last_error(), "'learning_rate'") && strstr(pdl_last_error(), "topk"));
    CHECK(pdl_train_config_set(&d, "batch", "65") == PDL_OK);
    CHECK(pdl_train_config_set(&d, "accumulate", "2") == PDL_OK);
    CHECK(pdl_train_config_check(&d) == PDL_ERR_INVALID);
    CHECK(strstr(pdl_last_error(), "accumulate") != NULL);
}

/* Range edges that must be accepted. */
static void test_edges_accepted(void)
{
    static const char *const ok[][2] = {
        {"momentum", "0"}, {"momentum", "0.999"}, {"warmup_start", "1"}, {"warmup_start", "0"},
        {"lr", "0"}, {"seed", "0"}, {"batch", "1073741824"}, {"topk", "1"}, {"eps", "1e-30"},
        {"beta2", "0"}, {"milestones", ""}, {"milestones", " 1 ,  2 "}, {"lr", "+0.25"},
        {"gamma", "1.5"},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        pdl_train_config c = pdl_train_config_default();
        pdl_status st = pdl_train_config_set(&c, ok[i][0], ok[i][1]);
        CHECK(st == PDL_OK);
        if (st)
            fprintf(stderr, "  %s = '%s': %s\n", ok[i][0], ok[i][1], pdl_last_error());
    }
}

int main(void)
{
    RUN(test_defaults);
    RUN(test_absent_section);
    RUN(test_every_key);
    RUN(test_bad_values);
    RUN(test_structure_errors);
    RUN(test_cross_key_errors);
    RUN(test_set);
    RUN(test_edges_accepted);
    return harness_summary();
}
