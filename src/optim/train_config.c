/* The training hyper-parameters: the [train] section of a model file and "--set key=value"
 * overrides, both read through one table of keys (type, default, accepted range). Knows nothing
 * of the cfg syntax itself (graph/cfg.c) nor of what the values do (optimizer.c, schedule.c). */
#include "graph/cfg.h"
#include "optim/optimizer.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef enum key_type {
    T_I64,        /* int64_t field */
    T_INT,        /* int field */
    T_U64,        /* uint64_t field, the full range */
    T_F32,        /* float field */
    T_BOOL,       /* bool field: 0/1, true/false, yes/no, on/off */
    T_OPTIM,      /* pdl_optim_kind field, by name */
    T_POLICY,     /* pdl_lr_policy field, by name */
    T_MILESTONES, /* schedule.milestones and schedule.n_milestones: increasing integers >= 1 */
} key_type;

enum { OPEN_LO = 1, OPEN_HI = 2 }; /* range ends that are excluded */

typedef struct train_key {
    const char *name;
    key_type type;
    size_t offset;   /* of the field in pdl_train_config */
    const char *def; /* the default, written as in a model file */
    double lo, hi;   /* accepted range of T_I64, T_INT and T_F32 values */
    int open;        /* OPEN_LO | OPEN_HI */
} train_key;

#define FIELD(f) offsetof(pdl_train_config, f)
#define BIG 1e15 /* "no upper limit" for counts, exactly representable in double */

static const train_key keys[] = {
    {"batch", T_I64, FIELD(batch), "64", 1, 1 << 30, 0},
    {"epochs", T_INT, FIELD(epochs), "10", 1, 1000000, 0},
    {"seed", T_U64, FIELD(seed), "1", 0, 0, 0},
    {"optimizer", T_OPTIM, FIELD(optim.kind), "sgd", 0, 0, 0},
    {"lr", T_F32, FIELD(schedule.base_lr), "0.01", 0, HUGE_VAL, OPEN_HI},
    {"momentum", T_F32, FIELD(optim.momentum), "0.9", 0, 1, OPEN_HI},
    {"nesterov", T_BOOL, FIELD(optim.nesterov), "0", 0, 0, 0},
    {"weight_decay", T_F32, FIELD(optim.weight_decay), "0", 0, HUGE_VAL, OPEN_HI},
    {"beta1", T_F32, FIELD(optim.beta1), "0.9", 0, 1, OPEN_HI},
    {"beta2", T_F32, FIELD(optim.beta2), "0.999", 0, 1, OPEN_HI},
    {"eps", T_F32, FIELD(optim.eps), "1e-8", 0, HUGE_VAL, OPEN_LO | OPEN_HI},
    {"lr_policy", T_POLICY, FIELD(schedule.policy), "fixed", 0, 0, 0},
    {"gamma", T_F32, FIELD(schedule.gamma), "0.1", 0, HUGE_VAL, OPEN_LO | OPEN_HI},
    {"step_size", T_I64, FIELD(schedule.step_size), "0", 0, BIG, 0},
    {"milestones", T_MILESTONES, FIELD(schedule.milestones), "", 0, 0, 0},
    {"power", T_F32, FIELD(schedule.power), "1", 0, HUGE_VAL, OPEN_HI},
    {"max_iter", T_I64, FIELD(schedule.max_iter), "0", 0, BIG, 0},
    {"min_lr", T_F32, FIELD(schedule.min_lr), "0", 0, HUGE_VAL, OPEN_HI},
    {"warmup_iters", T_I64, FIELD(schedule.warmup_iters), "0", 0, BIG, 0},
    {"warmup_start", T_F32, FIELD(schedule.warmup_start), "0.1", 0, 1, 0},
    {"clip_norm", T_F32, FIELD(clip_norm), "0", 0, HUGE_VAL, OPEN_HI},
    {"accumulate", T_INT, FIELD(accumulate), "1", 1, 65536, 0},
    {"topk", T_INT, FIELD(topk), "5", 1, 1000000, 0},
};
enum { N_KEYS = sizeof keys / sizeof keys[0], WHY_MAX = 256 };

static const train_key *find_key(const char *name)
{
    for (int k = 0; k < N_KEYS; k++)
        if (!strcmp(keys[k].name, name))
            return &keys[k];
    return NULL;
}

/* "[lo, hi)" style text of a key's range. */
static void format_range(const train_key *k, char *buf, size_t cap)
{
    if (k->hi == HUGE_VAL)
        snprintf(buf, cap, "%s %g", k->open & OPEN_LO ? ">" : ">=", k->lo);
    else
        snprintf(buf, cap, "in %c%g, %g%c", k->open & OPEN_LO ? '(' : '[', k->lo, k->hi,
                 k->open & OPEN_HI ? ')' : ']');
}

static bool in_range(const train_key *k, double v)
{
    bool lo_ok = k->open & OPEN_LO ? v > k->lo : v >= k->lo;
    bool hi_ok = k->open & OPEN_HI ? v < k->hi : v <= k->hi;
    return lo_ok && hi_ok;
}

/* A whole decimal integer (optional '-'), no spaces. */
static bool parse_i64(const char *s, int64_t *out)
{
    char *end;
    if (!((*s >= '0' && *s <= '9') || (*s == '-' && s[1] >= '0' && s[1] <= '9')))
        return false;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end)
        return false;
    *out = v;
    return true;
}

static bool parse_u64(const char *s, uint64_t *out)
{
    char *end;
    if (!(*s >= '0' && *s <= '9'))
        return false;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end)
        return false;
    *out = v;
    return true;
}

static bool parse_f64(const char *s, double *out)
{
    char *end;
    if (!*s || *s == ' ' || *s == '\t')
        return false;
    errno = 0;
    double v = strtod(s, &end);
    if (*end || !isfinite(v) || (errno == ERANGE && fabs(v) > 1.0))
        return false;
    *out = v;
    return true;
}

static bool parse_name(const char *s, const char *(*name_of)(int), int n, int *out)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(s, name_of(i))) {
            *out = i;
            return true;
        }
    return false;
}

static const char *optim_name(int i) { return pdl_optim_kind_name((pdl_optim_kind)i); }
static const char *policy_name(int i) { return pdl_lr_policy_name((pdl_lr_policy)i); }

/* "a, b, c" of the names of an enum. */
static void format_names(const char *(*name_of)(int), int n, char *buf, size_t cap)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < n && used < cap; i++)
        used += (size_t)snprintf(buf + used, cap - used, i ? ", %s" : "%s", name_of(i));
}

/* Comma list of increasing integers >= 1 ("" = none). */
static bool parse_milestones(const char *s, pdl_lr_schedule *out, char *why, size_t cap)
{
    int64_t m[PDL_MAX_MILESTONES];
    int n = 0;
    while (*s) {
        char item[32];
        size_t len = strcspn(s, ",");
        size_t b = 0, e = len;
        while (b < e && (s[b] == ' ' || s[b] == '\t'))
            b++;
        while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t'))
            e--;
        if (n == PDL_MAX_MILESTONES) {
            snprintf(why, cap, "at most %d milestones", PDL_MAX_MILESTONES);
            return false;
        }
        if (e - b >= sizeof item) {
            snprintf(why, cap, "milestone %d is not an integer", n + 1);
            return false;
        }
        memcpy(item, s + b, e - b);
        item[e - b] = '\0';
        if (!parse_i64(item, &m[n]) || m[n] < 1) {
            snprintf(why, cap, "milestone %d: expected an integer >= 1, got '%s'", n + 1, item);
            return false;
        }
        if (n > 0 && m[n] <= m[n - 1]) {
            snprintf(why, cap, "milestones must increase (%" PRId64 " after %" PRId64 ")", m[n],
                     m[n - 1]);
            return false;
        }
        n++;
        s += len + (s[len] == ',');
        if (s[-1] == ',' && !*s) {
            snprintf(why, cap, "a comma ends the list");
            return false;
        }
    }
    memcpy(out->milestones, m, (size_t)n * sizeof *m);
    out->n_milestones = n;
    return true;
}

/* Parses value for key k and stores it in c; on a bad value writes why and leaves c alone. */
static bool apply(pdl_train_config *c, const train_key *k, const char *value, char *why,
                  size_t cap)
{
    char *field = (char *)c + k->offset;
    char range[64];
    format_range(k, range, sizeof range);
    switch (k->type) {
    case T_I64:
    case T_INT: {
        int64_t v;
        if (!parse_i64(value, &v) || !in_range(k, (double)v)) {
            snprintf(why, cap, "expected an integer %s, got '%.60s'", range, value);
            return false;
        }
        if (k->type == T_I64)
            *(int64_t *)(void *)field = v;
        else
            *(int *)(void *)field = (int)v;
        return true;
    }
    case T_U64:
        if (!parse_u64(value, (uint64_t *)(void *)field)) {
            snprintf(why, cap, "expected an integer in [0, %" PRIu64 "], got '%.60s'", UINT64_MAX,
                     value);
            return false;
        }
        return true;
    case T_F32: {
        double v;
        if (!parse_f64(value, &v) || !in_range(k, v) || !isfinite((float)v)) {
            snprintf(why, cap, "expected a number %s, got '%.60s'", range, value);
            return false;
        }
        *(float *)(void *)field = (float)v;
        return true;
    }
    case T_BOOL: {
        /* The words of pdl_cfg_bool, so that every boolean key reads alike. */
        static const char *const words[] = {"1", "true", "yes", "on", "0", "false", "no", "off"};
        for (int i = 0; i < 8; i++)
            if (!strcasecmp(value, words[i])) {
                *(bool *)(void *)field = i < 4;
                return true;
            }
        snprintf(why, cap, "expected a boolean (1, 0, true, false, yes, no, on, off), "
                 "got '%.60s'", value);
        return false;
    }
    case T_OPTIM:
    case T_POLICY: {
        const char *(*name_of)(int) = k->type == T_OPTIM ? optim_name : policy_name;
        int n = k->type == T_OPTIM ? PDL_OPTIM_KIND_COUNT : PDL_LR_POLICY_COUNT, v;
        if (!parse_name(value, name_of, n, &v)) {
            char names[96];
            format_names(name_of, n, names, sizeof names);
            snprintf(why, cap, "expected one of %s, got '%.60s'", names, value);
            return false;
        }
        if (k->type == T_OPTIM)
            *(pdl_optim_kind *)(void *)field = (pdl_optim_kind)v;
        else
            *(pdl_lr_policy *)(void *)field = (pdl_lr_policy)v;
        return true;
    }
    case T_MILESTONES:
        return parse_milestones(value, &c->schedule, why, cap);
    }
    PDL_ASSERT(!"unknown key type");
    return false;
}

/* The constraints between keys. On a violation writes why and the keys to blame, most specific
 * first (the second may be NULL). */
static bool check_keys(const pdl_train_config *c, const char *blame[2], char *why, size_t cap)
{
    const pdl_lr_schedule *s = &c->schedule;
    blame[1] = NULL;
    if (s->policy == PDL_LR_STEP && s->step_size <= 0) {
        blame[0] = "step_size", blame[1] = "lr_policy";
        snprintf(why, cap, "lr_policy = step needs step_size > 0");
    } else if (s->policy == PDL_LR_MULTISTEP && s->n_milestones == 0) {
        blame[0] = "milestones", blame[1] = "lr_policy";
        snprintf(why, cap, "lr_policy = multistep needs milestones");
    } else if (c->optim.nesterov && c->optim.kind != PDL_OPTIM_SGD) {
        blame[0] = "nesterov", blame[1] = "optimizer";
        snprintf(why, cap, "nesterov applies to optimizer = sgd only, not %s",
                 pdl_optim_kind_name(c->optim.kind));
    } else if (c->optim.nesterov && c->optim.momentum == 0.0f) {
        blame[0] = "nesterov", blame[1] = "momentum";
        snprintf(why, cap, "nesterov needs momentum > 0");
    } else if (c->batch % c->accumulate != 0) {
        blame[0] = "accumulate", blame[1] = "batch";
        snprintf(why, cap, "batch %" PRId64 " is not a multiple of accumulate %d", c->batch,
                 c->accumulate);
    } else {
        return true;
    }
    return false;
}

pdl_train_config pdl_train_config_default(void)
{
    pdl_train_config c;
    char why[WHY_MAX];
    memset(&c, 0, sizeof c);
    for (int k = 0; k < N_KEYS; k++) {
        bool ok = apply(&c, &keys[k], keys[k].def, why, sizeof why);
        PDL_ASSERT(ok);
    }
    return c;
}

pdl_status pdl_train_config_check(const pdl_train_config *config)
{
    const char *blame[2];
    char why[WHY_MAX];
    PDL_ASSERT(config);
    if (!check_keys(config, blame, why, sizeof why))
        return pdl_error(PDL_ERR_INVALID, "[train] key '%s': %s", blame[0], why);
    return PDL_OK;
}

pdl_status pdl_train_config_from_text(const char *text, const char *filename,
                                      pdl_train_config *out)
{
    PDL_ASSERT(text && out);
    pdl_train_config c = pdl_train_config_default();
    pdl_cfg *cfg = NULL;
    pdl_cfg_section *sec = NULL;
    const char *blame[2];
    char why[WHY_MAX];
    pdl_status st = pdl_cfg_parse(text, strlen(text), filename, &cfg);
    if (st)
        goto done;
    for (int s = 0; s < cfg->n_sections; s++) {
        if (strcmp(cfg->sections[s].type, "train"))
            continue;
        if (sec) {
            st = pdl_cfg_error(&cfg->sections[s], NULL, PDL_ERR_PARSE,
                               "a second [train] section (the first is at line %d)", sec->line);
            goto done;
        }
        sec = &cfg->sections[s];
    }
    if (!sec)
        goto done;
    for (int k = 0; k < N_KEYS; k++) {
        pdl_cfg_entry *e = pdl_cfg_find(sec, keys[k].name);
        if (e && !apply(&c, &keys[k], e->value, why, sizeof why)) {
            st = pdl_cfg_error(sec, keys[k].name, PDL_ERR_PARSE, "%s", why);
            goto done;
        }
    }
    if ((st = pdl_cfg_check_unused(sec)))
        goto done;
    if (!check_keys(&c, blame, why, sizeof why)) {
        /* Blame the key the file spells out: the default of the other one cannot be wrong. */
        const char *key = pdl_cfg_find(sec, blame[0]) || !blame[1] ? blame[0] : blame[1];
        st = pdl_cfg_error(sec, key, PDL_ERR_PARSE, "%s", why);
    }
done:
    pdl_cfg_free(cfg);
    if (!st)
        *out = c;
    return st;
}

pdl_status pdl_train_config_set(pdl_train_config *config, const char *key, const char *value)
{
    PDL_ASSERT(config && key && value);
    const train_key *k = find_key(key);
    char why[WHY_MAX];
    if (!k) {
        char names[512];
        size_t used = 0;
        for (int i = 0; i < N_KEYS && used < sizeof names; i++)
            used += (size_t)snprintf(names + used, sizeof names - used, i ? ", %s" : "%s",
                                     keys[i].name);
        return pdl_error(PDL_ERR_INVALID, "[train] key '%s': unknown key (known: %s)", key,
                         names);
    }
    if (!apply(config, k, value, why, sizeof why))
        return pdl_error(PDL_ERR_INVALID, "[train] key '%s': %s", key, why);
    return PDL_OK;
}
