/* Weights and training-state files: round trips, a weights file written by Python (PyTorch names,
 * no checksum), and refusals that change nothing: truncation and single-byte corruption at every
 * position, missing tensor, wrong shape or dtype, wrong format or optimizer. Temp files go under
 * the working directory. */
#include "graph/safetensors.h"
#include "harness.h"
#include "pdl/checkpoint.h"

#include <dirent.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DIR_PATH "test_checkpoint.tmp"

/* The model of tests/fixtures/make_optim_fixtures.py's Tiny module. */
static const char *const TINY = "[net]\n"
                                "name = tiny\n"
                                "input = 1x4x4\n"
                                "classes = 3\n"
                                "[conv]\n"
                                "name = conv1\n"
                                "filters = 2\n"
                                "size = 3\n"
                                "pad = 1\n"
                                "[batchnorm]\n"
                                "name = bn1\n"
                                "[relu]\n"
                                "[fc]\n"
                                "name = fc1\n"
                                "output = 3\n"
                                "[softmax_loss]\n";

static pdl_net *tiny(uint64_t seed)
{
    pdl_net *net = NULL;
    CHECK_OK(pdl_net_from_text(TINY, "tiny.cfg", &net));
    if (net)
        CHECK_OK(pdl_net_init_params(net, seed));
    return net;
}

/* All tensor values of net, concatenated (caller frees); *bytes receives the size. */
static unsigned char *snapshot(pdl_net *net, size_t *bytes)
{
    size_t total = 0;
    for (int i = 0; i < pdl_net_tensor_count(net); i++) {
        pdl_named_tensor t;
        pdl_net_tensor(net, i, &t);
        total += (size_t)pdl_shape_count(&t.shape) * sizeof(float);
    }
    unsigned char *out = malloc(total ? total : 1), *p = out;
    for (int i = 0; i < pdl_net_tensor_count(net); i++) {
        pdl_named_tensor t;
        pdl_net_tensor(net, i, &t);
        size_t n = (size_t)pdl_shape_count(&t.shape) * sizeof(float);
        memcpy(p, t.data, n);
        p += n;
    }
    *bytes = total;
    return out;
}

static bool same_values(pdl_net *a, pdl_net *b)
{
    size_t na, nb;
    unsigned char *sa = snapshot(a, &na), *sb = snapshot(b, &nb);
    bool same = na == nb && memcmp(sa, sb, na) == 0;
    free(sa);
    free(sb);
    return same;
}

/* Gives the running statistics values an init would not, so that they are checked too. */
static void set_buffers(pdl_net *net, float base)
{
    for (int64_t i = 0; i < pdl_net_buffer_count(net); i++)
        pdl_net_buffers(net)[i] = base + 0.25f * (float)i;
}

static unsigned char *read_all(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    unsigned char *b = NULL;
    long n;
    if (!f || fseek(f, 0, SEEK_END) || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET)) {
        if (f)
            fclose(f);
        return NULL;
    }
    b = malloc((size_t)n + 1);
    *size = fread(b, 1, (size_t)n, f);
    fclose(f);
    return b;
}

/* Writes a new file (unlinking the old one: ext4 flushes a truncated-and-rewritten file on close,
 * which would make thousands of writes slow). */
static void write_all(const char *path, const unsigned char *b, size_t n)
{
    unlink(path);
    FILE *f = fopen(path, "wb");
    CHECK(f && fwrite(b, 1, n, f) == n);
    if (f)
        fclose(f);
}

static void test_weights_round_trip(void)
{
    const char *path = DIR_PATH "/w.safetensors";
    pdl_net *a = tiny(1), *b = tiny(2);
    if (!a || !b)
        goto done;
    set_buffers(a, 0.5f);
    CHECK(!same_values(a, b));
    CHECK_OK(pdl_weights_save(a, path));
    CHECK_OK(pdl_weights_load(b, path));
    CHECK(same_values(a, b));
    char *text = NULL;
    CHECK_OK(pdl_weights_model_text(path, &text));
    CHECK(text && !strcmp(text, TINY));
    free(text);

    /* The file is plain safetensors with PyTorch-style names and the documented metadata. */
    pdl_safetensors *st = NULL;
    CHECK_OK(pdl_safetensors_read(path, false, &st));
    if (st) {
        CHECK(!strcmp(pdl_safetensors_meta(st, "pdl_format"), "pdl-weights-1"));
        CHECK(pdl_safetensors_meta(st, "pdl_crc32") && pdl_safetensors_meta(st, "pdl_meta_crc32"));
        const char *names[] = {"conv1.weight", "conv1.bias", "bn1.weight", "bn1.bias",
                               "bn1.running_mean", "bn1.running_var", "fc1.weight", "fc1.bias"};
        for (int i = 0; i < 8; i++)
            CHECK(pdl_safetensors_find(st, names[i]) >= 0);
        CHECK(st->n_tensors == 8);
        int w = pdl_safetensors_find(st, "fc1.weight");
        CHECK(w >= 0 && st->tensors[w].shape.ndim == 2 && st->tensors[w].shape.dim[0] == 3 &&
              st->tensors[w].shape.dim[1] == 32);
    }
    pdl_safetensors_free(st);
done:
    pdl_net_free(a);
    pdl_net_free(b);
}

/* Fills the optimizer's state by taking a few steps with made-up gradients. */
static void train_a_little(pdl_net *net, pdl_optimizer *opt)
{
    for (int s = 0; s < 3; s++) {
        for (int64_t i = 0; i < pdl_net_param_count(net); i++)
            pdl_net_grads(net)[i] = (float)((i * 7 + s) % 5) - 2.0f;
        pdl_optimizer_step(opt, pdl_net_params(net), pdl_net_grads(net), 0.01f);
    }
}

static pdl_optimizer *optimizer(pdl_net *net, pdl_optim_kind kind, float momentum)
{
    pdl_optim_config c = {kind, momentum, false, 0.0f, 0.9f, 0.999f, 1e-8f};
    pdl_optimizer *opt = NULL;
    CHECK_OK(pdl_optimizer_create(&c, pdl_net_param_count(net), &opt));
    return opt;
}

static void test_state_round_trip(void)
{
    const char *path = DIR_PATH "/s.safetensors";
    const pdl_optim_kind kinds[] = {PDL_OPTIM_SGD, PDL_OPTIM_ADAM};
    for (int k = 0; k < 2; k++) {
        pdl_net *a = tiny(1), *b = tiny(2);
        pdl_optimizer *oa = a ? optimizer(a, kinds[k], 0.9f) : NULL;
        pdl_optimizer *ob = b ? optimizer(b, kinds[k], 0.9f) : NULL;
        if (oa && ob) {
            set_buffers(a, -1.0f);
            train_a_little(a, oa);
            pdl_train_position pos = {.epoch = 3, .batch_index = 17, .step = 250,
                                      .seed = 0xfedcba9876543210ull, .workers = 1},
                               got = {0};
            CHECK_OK(pdl_state_save(a, oa, &pos, path));
            CHECK_OK(pdl_state_load(b, ob, &got, path));
            CHECK(same_values(a, b));
            CHECK(got.epoch == 3 && got.batch_index == 17 && got.step == 250 &&
                  got.seed == pos.seed);
            CHECK(pdl_optimizer_steps(ob) == 3);
            int64_t n = pdl_optimizer_state_count(oa);
            CHECK(n > 0 && n == pdl_optimizer_state_count(ob));
            CHECK(!memcmp(pdl_optimizer_state(oa), pdl_optimizer_state(ob), (size_t)n * 4));
            /* A state file also serves as a weights file. */
            pdl_net *c = tiny(3);
            if (c) {
                CHECK_OK(pdl_weights_load(c, path));
                CHECK(same_values(a, c));
            }
            pdl_net_free(c);
        }
        pdl_optimizer_free(oa);
        pdl_optimizer_free(ob);
        pdl_net_free(a);
        pdl_net_free(b);
    }
}

/* The value ((7 i + 3 k) % 23 - 11) / 16 that make_optim_fixtures.py gives element i of the k-th
 * tensor of the PyTorch state_dict in sorted-name order. */
static float python_value(int k, int64_t i) { return (float)((7 * i + 3 * k) % 23 - 11) / 16.0f; }

static void test_python_weights(void)
{
    const char *path = PDL_SOURCE_DIR "/tests/fixtures/tiny_weights.safetensors";
    const char *sorted[] = {"bn1.bias",   "bn1.num_batches_tracked", "bn1.running_mean",
                            "bn1.running_var", "bn1.weight",   "conv1.bias",
                            "conv1.weight", "fc1.bias",   "fc1.weight"};
    pdl_net *net = tiny(5);
    if (!net)
        return;
    CHECK_OK(pdl_weights_load(net, path));
    int checked = 0;
    for (int k = 0; k < 9; k++) {
        int index = pdl_net_find_tensor(net, sorted[k]);
        if (index < 0)
            continue; /* num_batches_tracked: in the file, not in the net */
        pdl_named_tensor t;
        CHECK_OK(pdl_net_tensor(net, index, &t));
        for (int64_t i = 0; i < pdl_shape_count(&t.shape); i++)
            CHECK(t.data[i] == python_value(k, i));
        checked++;
    }
    CHECK(checked == 8);
    char *text = NULL;
    CHECK(pdl_weights_model_text(path, &text) == PDL_ERR_FORMAT);
    CHECK(text == NULL && strstr(pdl_last_error(), "no model text") != NULL);
    /* No pdl_format, no checksum: fine for weights, never for a training state. */
    pdl_optimizer *opt = optimizer(net, PDL_OPTIM_SGD, 0.9f);
    pdl_train_position pos = {0};
    if (opt) {
        CHECK(pdl_state_load(net, opt, &pos, path) == PDL_ERR_FORMAT);
        CHECK(strstr(pdl_last_error(), "pdl-state-1") != NULL);
    }
    pdl_optimizer_free(opt);
    pdl_net_free(net);
}

/* Loading each damaged copy of a good file must fail and leave net, opt and pos untouched.
 * every: test every every-th byte position; xor: the corruption (0 = truncate there). */
static void damage_everywhere(const char *good, bool state, int every, unsigned xor_mask)
{
    const char *bad = DIR_PATH "/damaged.safetensors";
    size_t size = 0;
    unsigned char *bytes = read_all(good, &size);
    pdl_net *net = tiny(9);
    pdl_optimizer *opt = net ? optimizer(net, PDL_OPTIM_ADAM, 0.0f) : NULL;
    CHECK(bytes && size > 100 && opt);
    if (!bytes || !opt)
        goto done;
    size_t n_before;
    unsigned char *before = snapshot(net, &n_before);
    const int64_t n_state = pdl_optimizer_state_count(opt);
    int refused = 0, tried = 0;
    for (size_t p = 0; p < size; p += (size_t)every) {
        pdl_train_position pos = {.epoch = -1, .batch_index = -1, .step = -1, .seed = 7};
        pdl_status st;
        if (xor_mask) {
            bytes[p] ^= (unsigned char)xor_mask;
            write_all(bad, bytes, size);
            bytes[p] ^= (unsigned char)xor_mask;
        } else {
            write_all(bad, bytes, p);
        }
        st = state ? pdl_state_load(net, opt, &pos, bad) : pdl_weights_load(net, bad);
        size_t n_after;
        unsigned char *after = snapshot(net, &n_after);
        bool untouched = n_after == n_before && !memcmp(after, before, n_before);
        for (int64_t i = 0; i < n_state; i++)
            untouched = untouched && pdl_optimizer_state(opt)[i] == 0.0f;
        untouched = untouched && pdl_optimizer_steps(opt) == 0 && pos.epoch == -1 && pos.seed == 7;
        free(after);
        tried++;
        /* A clear error: a format (or shape) error naming the file. */
        if ((st == PDL_ERR_FORMAT || st == PDL_ERR_SHAPE) && untouched &&
            strstr(pdl_last_error(), "damaged.safetensors")) {
            refused++;
        } else if (tried - refused <= 3) {
            fprintf(stderr, "  %s at byte %zu of %zu (%s): status %d, untouched %d: %s\n",
                    xor_mask ? "corruption" : "truncation", p, size, good, (int)st, untouched,
                    pdl_last_error());
        }
    }
    CHECK(tried > 50 && refused == tried);
    free(before);
done:
    free(bytes);
    pdl_optimizer_free(opt);
    pdl_net_free(net);
}

static void test_truncated_and_corrupted(void)
{
    const char *weights = DIR_PATH "/good_w.safetensors", *state = DIR_PATH "/good_s.safetensors";
    pdl_net *net = tiny(4);
    pdl_optimizer *opt = net ? optimizer(net, PDL_OPTIM_ADAM, 0.0f) : NULL;
    if (!opt)
        goto done;
    train_a_little(net, opt);
    pdl_train_position pos = {.epoch = 1, .batch_index = 2, .step = 3, .seed = 4};
    CHECK_OK(pdl_weights_save(net, weights));
    CHECK_OK(pdl_state_save(net, opt, &pos, state));
    damage_everywhere(weights, false, 1, 0);
    damage_everywhere(weights, false, 1, 0xff);
    damage_everywhere(weights, false, 2, 0x01);
    damage_everywhere(state, true, 1, 0);
    damage_everywhere(state, true, 2, 0x20);
    damage_everywhere(state, true, 5, 0x80);
done:
    pdl_optimizer_free(opt);
    pdl_net_free(net);
}

/* Writes a file as Python's safetensors would (no pdl metadata) holding net's tensors, with
 * tensor skip left out and tensor odd given shape odd_shape or dtype odd_dtype. */
static void write_foreign(pdl_net *net, const char *path, const char *skip, const char *odd,
                          const pdl_shape *odd_shape, pdl_dtype odd_dtype)
{
    pdl_st_source src[16];
    int n = 0;
    for (int i = 0; i < pdl_net_tensor_count(net) && n < 16; i++) {
        pdl_named_tensor t;
        pdl_net_tensor(net, i, &t);
        if (skip && !strcmp(t.name, skip))
            continue;
        src[n] = (pdl_st_source){t.name, PDL_F32, t.shape, t.data};
        if (odd && !strcmp(t.name, odd)) {
            if (odd_shape)
                src[n].shape = *odd_shape;
            src[n].dtype = odd_dtype;
        }
        n++;
    }
    CHECK_OK(pdl_safetensors_write(path, src, n, NULL, NULL, 0));
}

/* status and message fragments of a refused load that must leave the net as it was. */
static void refused_weights(pdl_net *net, const char *path, pdl_status want, const char *f1,
                            const char *f2)
{
    size_t n_before, n_after;
    unsigned char *before = snapshot(net, &n_before);
    CHECK(pdl_weights_load(net, path) == want);
    if (!strstr(pdl_last_error(), f1) || (f2 && !strstr(pdl_last_error(), f2))) {
        fprintf(stderr, "  message '%s' lacks '%s' or '%s'\n", pdl_last_error(), f1,
                f2 ? f2 : "");
        CHECK(!"message fragment missing");
    }
    unsigned char *after = snapshot(net, &n_after);
    CHECK(n_before == n_after && !memcmp(before, after, n_before));
    free(before);
    free(after);
}

static void test_mismatches(void)
{
    const char *path = DIR_PATH "/odd.safetensors";
    pdl_net *src = tiny(11), *net = tiny(12);
    if (!src || !net)
        goto done;
    write_foreign(src, path, "fc1.bias", NULL, NULL, PDL_F32);
    refused_weights(net, path, PDL_ERR_FORMAT, "'fc1.bias' is missing", "odd.safetensors");
    const pdl_shape transposed = pdl_shape_2d(32, 3);
    write_foreign(src, path, NULL, "fc1.weight", &transposed, PDL_F32);
    refused_weights(net, path, PDL_ERR_SHAPE, "'fc1.weight' has shape (32, 3)", "(3, 32)");
    write_foreign(src, path, NULL, "conv1.bias", NULL, PDL_I32);
    refused_weights(net, path, PDL_ERR_FORMAT, "'conv1.bias' is I32, expected F32", NULL);
    refused_weights(net, DIR_PATH "/none.safetensors", PDL_ERR_IO, "none.safetensors", NULL);

    /* A model with other tensors altogether. */
    pdl_net *other = NULL;
    CHECK_OK(pdl_net_from_text("[net]\ninput = 1x4x4\nclasses = 3\n[conv]\nname = c\n"
                               "filters = 3\nsize = 4\n[flatten]\n[softmax_loss]\n", "other.cfg",
                               &other));
    if (other) {
        CHECK_OK(pdl_net_init_params(other, 1));
        CHECK_OK(pdl_weights_save(other, path));
        refused_weights(net, path, PDL_ERR_FORMAT, "'conv1.weight' is missing", NULL);
    }
    pdl_net_free(other);

    /* An unknown pdl_format, and a file that says it is pdl's without checksums. */
    const char *keys[] = {"pdl_format"}, *future[] = {"pdl-weights-9"}, *ours[] = {"pdl-weights-1"};
    pdl_st_source none = {"x", PDL_F32, pdl_shape_make(1, (int64_t[]){0}), NULL};
    CHECK_OK(pdl_safetensors_write(path, &none, 1, keys, future, 1));
    refused_weights(net, path, PDL_ERR_FORMAT, "pdl_format is 'pdl-weights-9'", "pdl-weights-1");
    CHECK_OK(pdl_safetensors_write(path, &none, 1, keys, ours, 1));
    refused_weights(net, path, PDL_ERR_FORMAT, "checksums", "corrupted");
done:
    pdl_net_free(src);
    pdl_net_free(net);
}

static void test_state_mismatches(void)
{
    const char *weights = DIR_PATH "/m_w.safetensors", *state = DIR_PATH "/m_s.safetensors";
    pdl_net *net = tiny(1);
    pdl_optimizer *sgd = net ? optimizer(net, PDL_OPTIM_SGD, 0.9f) : NULL;
    pdl_optimizer *plain = net ? optimizer(net, PDL_OPTIM_SGD, 0.0f) : NULL;
    pdl_optimizer *adamw = net ? optimizer(net, PDL_OPTIM_ADAMW, 0.0f) : NULL;
    pdl_train_position pos = {.step = 5, .seed = 1};
    if (!sgd || !plain || !adamw)
        goto done;
    CHECK_OK(pdl_weights_save(net, weights));
    CHECK_OK(pdl_state_save(net, sgd, &pos, state));
    CHECK(pdl_state_load(net, sgd, &pos, weights) == PDL_ERR_FORMAT);
    CHECK(strstr(pdl_last_error(), "'pdl-weights-1', expected 'pdl-state-1'") != NULL);
    CHECK(pdl_state_load(net, adamw, &pos, state) == PDL_ERR_INVALID);
    CHECK(strstr(pdl_last_error(), "'sgd'") && strstr(pdl_last_error(), "'adamw'"));
    CHECK(pdl_state_load(net, plain, &pos, state) == PDL_ERR_SHAPE);
    CHECK(strstr(pdl_last_error(), "optimizer.state") != NULL);
    CHECK(pdl_optimizer_steps(adamw) == 0 && pdl_optimizer_steps(plain) == 0);
    /* SGD without momentum has no state; its file round-trips all the same. */
    CHECK_OK(pdl_state_save(net, plain, &pos, state));
    CHECK_OK(pdl_state_load(net, plain, &pos, state));
done:
    pdl_optimizer_free(sgd);
    pdl_optimizer_free(plain);
    pdl_optimizer_free(adamw);
    pdl_net_free(net);
}

/* Every save above went through a temp file; none is left, and a failed save changes nothing. */
static void test_no_temp_files_left(void)
{
    pdl_net *net = tiny(1);
    if (!net)
        return;
    CHECK(pdl_weights_save(net, DIR_PATH "/missing/folder/w.safetensors") == PDL_ERR_IO);
    DIR *dir = opendir(DIR_PATH);
    struct dirent *e;
    int files = 0, temps = 0;
    while (dir && (e = readdir(dir))) {
        files += e->d_name[0] != '.';
        temps += strstr(e->d_name, ".tmp") != NULL;
    }
    if (dir)
        closedir(dir);
    CHECK(files > 3 && temps == 0);
    pdl_net_free(net);
}

int main(void)
{
    mkdir(DIR_PATH, 0777);
    RUN(test_weights_round_trip);
    RUN(test_state_round_trip);
    RUN(test_python_weights);
    RUN(test_truncated_and_corrupted);
    RUN(test_mismatches);
    RUN(test_state_mismatches);
    RUN(test_no_temp_files_left);
    return harness_summary();
}
