/* Every layer against PyTorch: for each case of tests/fixtures/pytorch/cases.txt, builds the layer
 * standalone from its options, loads input and parameters from the fixture, and compares the
 * forward output, loss, updated buffers, input gradient and parameter gradients with torch's.
 * The fixtures themselves come from tests/fixtures/make_torch_fixtures.py. */
#include "harness.h"
#include "layer_harness.h"
#include "torch_fixture.h"

#include <ctype.h>

#define FIXTURE_DIR PDL_SOURCE_DIR "/tests/fixtures/pytorch"

/* Backward must ADD into din and param grads: both start at this value and it is subtracted. */
#define PREFILL 0.25f

/* float32 tolerance against the correctly rounded float64 answer: 1e-5 absolute + 1e-4 relative,
 * the absolute part scaled by the tensor's largest magnitude (at least 1), because the error of a
 * float32 reduction grows with its terms, not with the (possibly cancelled) result. */
#define ATOL 1e-5
#define RTOL 1e-4

typedef struct fixture_case {
    char name[64];
    bool training;
    char type[32];
    char options[512];
} fixture_case;

static const fixture_case *current;
static int cases_run;

static double largest(const tf_tensor *t)
{
    double m = 1.0;
    for (int64_t i = 0; i < t->count; i++)
        if (fabs((double)t->data[i]) > m)
            m = fabs((double)t->data[i]);
    return m;
}

/* Compares got with the fixture tensor name (which must exist with the same count) and prints
 * its max error as part of the case line. */
static void compare(const torch_fixture *f, const char *name, const float *got, int64_t count)
{
    const tf_tensor *want = tf_find(f, name);
    CHECK(want != NULL);
    if (!want)
        return;
    CHECK(want->count == count);
    if (want->count != count) {
        fprintf(stderr, "  %s: %s has %lld values, torch %lld\n", current->name, name,
                (long long)count, (long long)want->count);
        return;
    }
    char what[160];
    snprintf(what, sizeof what, "%s %s", current->name, name);
    double max_abs = 0.0;
    int64_t bad = tf_compare(what, got, want->data, count, ATOL * largest(want), RTOL, &max_abs);
    CHECK(bad == 0);
    printf(" %s %.1e", name, max_abs);
}

/* Copies the fixture tensor name into dst (count values); false when absent or sized wrong. */
static bool load(const torch_fixture *f, const char *name, float *dst, int64_t count)
{
    const tf_tensor *t = tf_find(f, name);
    if (!t || t->count != count) {
        fprintf(stderr, "  %s: fixture tensor '%s' %s\n", current->name, name,
                t ? "has the wrong size" : "is missing");
        return false;
    }
    memcpy(dst, t->data, (size_t)count * sizeof(float));
    return true;
}

static void backward_and_compare(layer_harness *h, const torch_fixture *f)
{
    pdl_layer *l = &h->layer;
    if (!l->ops->is_loss)
        CHECK(load(f, "dout", h->dout, lh_out_count(h)));
    int64_t n_in = lh_in_count(h, 0);
    for (int64_t i = 0; i < n_in; i++)
        h->din[0][i] = PREFILL;
    for (int j = 0; j < l->n_params; j++)
        for (int64_t i = 0; l->params[j].grad && i < lh_param_count(h, j); i++)
            l->params[j].grad[i] = PREFILL;
    l->ops->backward(l, &h->ctx);
    for (int64_t i = 0; i < n_in; i++)
        h->din[0][i] -= PREFILL;
    compare(f, "din", h->din[0], n_in);
    for (int j = 0; j < l->n_params; j++) {
        pdl_param *p = &l->params[j];
        if (!p->trainable)
            continue;
        for (int64_t i = 0; i < lh_param_count(h, j); i++)
            p->grad[i] -= PREFILL;
        char name[64];
        snprintf(name, sizeof name, "%s.grad", p->name);
        compare(f, name, p->grad, lh_param_count(h, j));
    }
}

static void run_case(void)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s.safetensors", FIXTURE_DIR, current->name);
    torch_fixture *f = tf_load(path);
    layer_harness *h = NULL;
    const pdl_layer_ops *ops = pdl_layer_ops_find(current->type);
    CHECK(f != NULL);
    CHECK(ops != NULL);
    const tf_tensor *in = f ? tf_find(f, "in") : NULL;
    CHECK(in != NULL);
    if (!ops || !in)
        goto done;
    h = lh_create(ops, current->options, 1, &in->shape, 1);
    CHECK(h != NULL);
    if (!h)
        goto done;
    pdl_layer *l = &h->layer;
    CHECK(load(f, "in", h->in[0], lh_in_count(h, 0)));
    for (int j = 0; j < l->n_params; j++)
        CHECK(load(f, l->params[j].name, l->params[j].data, lh_param_count(h, j)));
    const tf_tensor *labels = tf_find(f, "labels");
    for (int64_t i = 0; labels && i < labels->count && i < l->in_shape[0].dim[0]; i++)
        h->labels[i] = (int32_t)labels->data[i];
    h->ctx.training = current->training;
    printf("%-26s", current->name);
    lh_forward(h);
    compare(f, "out", h->out, lh_out_count(h));
    if (l->ops->is_loss)
        compare(f, "loss", &l->loss, 1);
    for (int j = 0; j < l->n_params; j++) {
        char name[64];
        snprintf(name, sizeof name, "%s.after", l->params[j].name);
        if (tf_find(f, name))
            compare(f, name, l->params[j].data, lh_param_count(h, j));
    }
    if (current->training)
        backward_and_compare(h, f);
    printf("\n");
    cases_run++;
done:
    lh_free(h);
    tf_free(f);
}

/* Parses "<case> <train|eval> <type> [options...]"; false for comments and blank lines. */
static bool parse_line(const char *line, fixture_case *c)
{
    while (isspace((unsigned char)*line))
        line++;
    if (*line == '#' || *line == '\0')
        return false;
    char mode[16] = "";
    int used = 0;
    memset(c, 0, sizeof *c);
    if (sscanf(line, "%63s %15s %31s %n", c->name, mode, c->type, &used) < 3)
        return false;
    c->training = strcmp(mode, "train") == 0;
    if (!c->training && strcmp(mode, "eval") != 0) {
        fprintf(stderr, "cases.txt: case '%s' has mode '%s', not train or eval\n", c->name, mode);
        harness_checks_failed++;
        return false;
    }
    snprintf(c->options, sizeof c->options, "%s", line + used);
    size_t len = strlen(c->options);
    while (len > 0 && isspace((unsigned char)c->options[len - 1]))
        c->options[--len] = '\0';
    return true;
}

int main(void)
{
    FILE *list = fopen(FIXTURE_DIR "/cases.txt", "r");
    CHECK(list != NULL);
    char line[1024];
    int listed = 0;
    while (list && fgets(line, sizeof line, list)) {
        fixture_case c;
        if (!parse_line(line, &c))
            continue;
        listed++;
        current = &c;
        RUN(run_case);
    }
    if (list)
        fclose(list);
    CHECK(listed >= 40);
    CHECK(cases_run == listed);
    printf("%d of %d PyTorch layer cases compared\n", cases_run, listed);
    return harness_summary() || harness_checks_failed != 0;
}
