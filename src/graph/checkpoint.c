/* Weights files and training-state files (include/pdl/checkpoint.h): which tensors and metadata
 * they hold, their checksums, and loading that verifies everything before it changes anything.
 * The safetensors container itself (syntax, layout checks, the atomic write) is safetensors.c. */
#include "pdl/checkpoint.h"

#include "core/error.h"
#include "graph/json.h"
#include "graph/safetensors.h"
#include "optim/optimizer.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define WEIGHTS_FORMAT "pdl-weights-1"
#define STATE_FORMAT "pdl-state-1"
#define OPTIMIZER_TENSOR "optimizer.state"
/* pdl_crc32: CRC-32 (zlib) of the data section. pdl_meta_crc32: CRC-32 of every other metadata
 * entry as key NUL value NUL, in strcmp order of the keys: together they cover all but the
 * JSON structure, which the reader validates. */
#define DATA_CRC_KEY "pdl_crc32"
#define META_CRC_KEY "pdl_meta_crc32"

enum { META_MAX = 12 };

/* ---- checksums ---------------------------------------------------------------------------- */

static int by_key(const void *a, const void *b)
{
    return strcmp(**(const char *const *const *)a, **(const char *const *const *)b);
}

/* The CRC of the n metadata pairs other than the two checksums. */
static pdl_status meta_crc(const char *const *keys, const char *const *values, int n,
                           uint32_t *out)
{
    const char *const **order = malloc((size_t)(n ? n : 1) * sizeof *order);
    uLong crc = crc32_z(0L, Z_NULL, 0);
    if (!order)
        return pdl_error(PDL_ERR_NOMEM, "out of memory");
    for (int i = 0; i < n; i++)
        order[i] = &keys[i];
    qsort(order, (size_t)n, sizeof *order, by_key);
    for (int i = 0; i < n; i++) {
        const char *key = *order[i], *value = values[order[i] - keys];
        if (!strcmp(key, DATA_CRC_KEY) || !strcmp(key, META_CRC_KEY))
            continue;
        crc = crc32_z(crc, (const Bytef *)key, strlen(key) + 1);
        crc = crc32_z(crc, (const Bytef *)value, strlen(value) + 1);
    }
    free(order);
    *out = (uint32_t)crc;
    return PDL_OK;
}

/* A whole decimal number without sign in [0, max]. */
static bool parse_decimal(const char *s, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;
    if (!s || !*s)
        return false;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return false;
        unsigned d = (unsigned)(*s - '0');
        if (v > (max - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

/* Verifies both checksums of a file pdl wrote. */
static pdl_status verify_crcs(const pdl_safetensors *st)
{
    uint64_t stored_data, stored_meta;
    uint32_t meta;
    pdl_status s;
    if (!parse_decimal(pdl_safetensors_meta(st, DATA_CRC_KEY), UINT32_MAX, &stored_data) ||
        !parse_decimal(pdl_safetensors_meta(st, META_CRC_KEY), UINT32_MAX, &stored_meta))
        return pdl_error(PDL_ERR_FORMAT, "%s: the checksums (%s, %s) are missing or malformed: "
                         "the file is corrupted", st->source, DATA_CRC_KEY, META_CRC_KEY);
    if ((s = meta_crc((const char *const *)st->meta_keys, (const char *const *)st->meta_values,
                      st->n_meta, &meta)))
        return s;
    if (meta != stored_meta)
        return pdl_error(PDL_ERR_FORMAT, "%s: metadata checksum mismatch (stored %" PRIu64
                         ", computed %" PRIu32 "): the file is corrupted", st->source,
                         stored_meta, meta);
    if (st->data) {
        uint32_t data = (uint32_t)crc32_z(crc32_z(0L, Z_NULL, 0), st->data,
                                          (z_size_t)st->data_size);
        if (data != stored_data)
            return pdl_error(PDL_ERR_FORMAT, "%s: data checksum mismatch (stored %" PRIu64
                             ", computed %" PRIu32 "): the file is corrupted", st->source,
                             stored_data, data);
    }
    return PDL_OK;
}

/* ---- writing ------------------------------------------------------------------------------ */

typedef struct meta_list {
    const char *keys[META_MAX];
    const char *values[META_MAX];
    char numbers[META_MAX][24];
    int n;
} meta_list;

static void meta_add(meta_list *m, const char *key, const char *value)
{
    PDL_ASSERT(m->n < META_MAX);
    m->keys[m->n] = key;
    m->values[m->n++] = value;
}

static void meta_add_u64(meta_list *m, const char *key, uint64_t value)
{
    PDL_ASSERT(m->n < META_MAX);
    snprintf(m->numbers[m->n], sizeof m->numbers[m->n], "%" PRIu64, value);
    meta_add(m, key, m->numbers[m->n]);
}

/* Writes the net's tensors plus extra (may be NULL) with metadata m and both checksums. */
static pdl_status write_file(pdl_net *net, const pdl_st_source *extra, meta_list *m,
                             const char *path)
{
    const int n_net = pdl_net_tensor_count(net), n = n_net + (extra ? 1 : 0);
    pdl_st_source *src = malloc((size_t)(n ? n : 1) * sizeof *src);
    char *model = strdup(pdl_net_source_text(net) ? pdl_net_source_text(net) : "");
    uLong crc = crc32_z(0L, Z_NULL, 0);
    uint32_t mcrc;
    pdl_status s = PDL_OK;
    if (!src || !model) {
        s = pdl_error(PDL_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    for (int i = 0; i < n_net; i++) {
        pdl_named_tensor t;
        if ((s = pdl_net_tensor(net, i, &t)))
            goto done;
        src[i] = (pdl_st_source){t.name, PDL_F32, t.shape, t.data};
    }
    if (extra)
        src[n_net] = *extra;
    for (int i = 0; i < n; i++)
        if (pdl_shape_count(&src[i].shape) > 0)
            crc = crc32_z(crc, src[i].data, (z_size_t)pdl_shape_count(&src[i].shape) * 4);
    /* A model file in another encoding keeps its text, with '?' for what is not UTF-8. */
    pdl_json_utf8_sanitize(model);
    meta_add(m, "pdl_model", model);
    if ((s = meta_crc(m->keys, m->values, m->n, &mcrc)))
        goto done;
    meta_add_u64(m, DATA_CRC_KEY, (uint32_t)crc);
    meta_add_u64(m, META_CRC_KEY, mcrc);
    s = pdl_safetensors_write(path, src, n, m->keys, m->values, m->n);
done:
    free(src);
    free(model);
    return s;
}

pdl_status pdl_weights_save(pdl_net *net, const char *path)
{
    PDL_ASSERT(net && path);
    meta_list m = {.n = 0};
    meta_add(&m, "pdl_format", WEIGHTS_FORMAT);
    return write_file(net, NULL, &m, path);
}

pdl_status pdl_state_save(pdl_net *net, pdl_optimizer *opt, const pdl_train_position *pos,
                          const char *path)
{
    PDL_ASSERT(net && opt && pos && path);
    meta_list m = {.n = 0};
    const int64_t count = pdl_optimizer_state_count(opt);
    const pdl_st_source state = {OPTIMIZER_TENSOR, PDL_F32, pdl_shape_make(1, &count),
                                 pdl_optimizer_state(opt)};
    meta_add(&m, "pdl_format", STATE_FORMAT);
    meta_add(&m, "optimizer", pdl_optim_kind_name(pdl_optimizer_kind(opt)));
    meta_add_u64(&m, "optimizer_steps", (uint64_t)pdl_optimizer_steps(opt));
    meta_add_u64(&m, "epoch", (uint64_t)pos->epoch);
    meta_add_u64(&m, "batch_index", (uint64_t)pos->batch_index);
    meta_add_u64(&m, "step", (uint64_t)pos->step);
    meta_add_u64(&m, "seed", pos->seed);
    meta_add_u64(&m, "workers", (uint64_t)(pos->workers > 1 ? pos->workers : 1));
    return write_file(net, &state, &m, path);
}

/* ---- reading ------------------------------------------------------------------------------ */

/* One verified copy to do once everything checked out. */
typedef struct staged_copy {
    float *dst;
    const unsigned char *src;
    size_t bytes;
} staged_copy;

/* Reads path and checks its format (one of formats[0..n_formats), or none at all when
 * foreign_ok: a file from Python's safetensors, recognized by having no "pdl_" metadata, so that
 * a damaged pdl_format key does not pass for one) and, for pdl's files, its checksums. */
static pdl_status open_file(const char *path, bool header_only, const char *const *formats,
                            int n_formats, bool foreign_ok, pdl_safetensors **out)
{
    pdl_safetensors *st = NULL;
    pdl_status s = pdl_safetensors_read(path, header_only, &st);
    if (s)
        return s;
    const char *format = pdl_safetensors_meta(st, "pdl_format");
    bool ours = format != NULL;
    for (int i = 0; i < st->n_meta; i++)
        ours = ours || !strncmp(st->meta_keys[i], "pdl_", 4);
    int f = 0;
    while (format && f < n_formats && strcmp(format, formats[f]))
        f++;
    if (!format && ours)
        s = pdl_error(PDL_ERR_FORMAT, "%s: pdl metadata without pdl_format: the file is "
                      "corrupted", path);
    else if (!format && !foreign_ok)
        s = pdl_error(PDL_ERR_FORMAT, "%s: no pdl_format in its metadata, expected '%s'",
                      path, formats[0]);
    else if (format && f == n_formats)
        s = pdl_error(PDL_ERR_FORMAT, "%s: pdl_format is '%.40s', expected '%s'", path, format,
                      formats[0]);
    else if (format)
        s = verify_crcs(st);
    if (s) {
        pdl_safetensors_free(st);
        return s;
    }
    *out = st;
    return PDL_OK;
}

/* Checks that every tensor of net is in st as F32 with the net's shape; fills copies[i]. */
static pdl_status stage_net(pdl_net *net, const pdl_safetensors *st, staged_copy *copies)
{
    for (int i = 0; i < pdl_net_tensor_count(net); i++) {
        pdl_named_tensor t;
        pdl_shape shape;
        char want[96], have[96];
        pdl_status s = pdl_net_tensor(net, i, &t);
        if (s || (s = pdl_safetensors_f32(st, t.name, &shape, &copies[i].src)))
            return s;
        if (!pdl_shape_equal(&shape, &t.shape))
            return pdl_error(PDL_ERR_SHAPE, "%s: tensor '%s' has shape %s in the file, the net "
                             "expects %s", st->source, t.name,
                             pdl_shape_format(&shape, have, sizeof have),
                             pdl_shape_format(&t.shape, want, sizeof want));
        copies[i].dst = t.data;
        copies[i].bytes = (size_t)pdl_shape_count(&shape) * sizeof(float);
    }
    return PDL_OK;
}

static void apply_copies(const staged_copy *copies, int n)
{
    for (int i = 0; i < n; i++)
        if (copies[i].bytes)
            memcpy(copies[i].dst, copies[i].src, copies[i].bytes);
}

pdl_status pdl_weights_load(pdl_net *net, const char *path)
{
    PDL_ASSERT(net && path);
    static const char *const formats[] = {WEIGHTS_FORMAT, STATE_FORMAT};
    const int n = pdl_net_tensor_count(net);
    pdl_safetensors *st = NULL;
    staged_copy *copies = malloc((size_t)(n ? n : 1) * sizeof *copies);
    pdl_status s;
    if (!copies)
        return pdl_error(PDL_ERR_NOMEM, "%s: out of memory", path);
    if (!(s = open_file(path, false, formats, 2, true, &st)) && !(s = stage_net(net, st, copies)))
        apply_copies(copies, n);
    pdl_safetensors_free(st);
    free(copies);
    return s;
}

pdl_status pdl_weights_model_text(const char *path, char **text)
{
    PDL_ASSERT(path && text);
    static const char *const formats[] = {WEIGHTS_FORMAT, STATE_FORMAT};
    pdl_safetensors *st = NULL;
    *text = NULL;
    pdl_status s = open_file(path, true, formats, 2, true, &st);
    if (s)
        return s;
    const char *model = pdl_safetensors_meta(st, "pdl_model");
    if (!model)
        s = pdl_error(PDL_ERR_FORMAT, "%s: no model text (pdl_model) in the metadata: a weights "
                      "file not written by pdl needs its model file", path);
    else if (!(*text = strdup(model)))
        s = pdl_error(PDL_ERR_NOMEM, "%s: out of memory", path);
    pdl_safetensors_free(st);
    return s;
}

/* The metadata number key of st in [0, max]. */
static pdl_status meta_number(const pdl_safetensors *st, const char *key, uint64_t max,
                              uint64_t *out)
{
    if (!parse_decimal(pdl_safetensors_meta(st, key), max, out))
        return pdl_error(PDL_ERR_FORMAT, "%s: metadata '%s' is missing or not a number",
                         st->source, key);
    return PDL_OK;
}

pdl_status pdl_state_load(pdl_net *net, pdl_optimizer *opt, pdl_train_position *pos,
                          const char *path)
{
    PDL_ASSERT(net && opt && pos && path);
    static const char *const formats[] = {STATE_FORMAT};
    const int n = pdl_net_tensor_count(net);
    const char *kind = pdl_optim_kind_name(pdl_optimizer_kind(opt));
    pdl_safetensors *st = NULL;
    staged_copy *copies = malloc((size_t)(n + 1) * sizeof *copies);
    uint64_t steps = 0, epoch = 0, batch_index = 0, step = 0, seed = 0, workers = 1;
    pdl_shape shape;
    pdl_status s;
    if (!copies)
        return pdl_error(PDL_ERR_NOMEM, "%s: out of memory", path);
    if ((s = open_file(path, false, formats, 1, false, &st)) || (s = stage_net(net, st, copies)))
        goto done;
    const char *stored = pdl_safetensors_meta(st, "optimizer");
    if (!stored || strcmp(stored, kind)) {
        s = pdl_error(PDL_ERR_INVALID, "%s: the state is of optimizer '%.16s', this run uses '%s'",
                      path, stored ? stored : "(none)", kind);
        goto done;
    }
    if ((s = pdl_safetensors_f32(st, OPTIMIZER_TENSOR, &shape, &copies[n].src)))
        goto done;
    if (shape.ndim != 1 || shape.dim[0] != pdl_optimizer_state_count(opt)) {
        char have[96];
        s = pdl_error(PDL_ERR_SHAPE, "%s: tensor '%s' has shape %s, this %s optimizer has %lld "
                      "state values", path, OPTIMIZER_TENSOR,
                      pdl_shape_format(&shape, have, sizeof have), kind,
                      (long long)pdl_optimizer_state_count(opt));
        goto done;
    }
    copies[n].dst = pdl_optimizer_state(opt);
    copies[n].bytes = (size_t)shape.dim[0] * sizeof(float);
    if ((s = meta_number(st, "optimizer_steps", INT64_MAX, &steps)) ||
        (s = meta_number(st, "epoch", INT64_MAX, &epoch)) ||
        (s = meta_number(st, "batch_index", INT64_MAX, &batch_index)) ||
        (s = meta_number(st, "step", INT64_MAX, &step)) ||
        (s = meta_number(st, "seed", UINT64_MAX, &seed)) ||
        /* States from before data-parallel training were all trained by one worker. */
        (pdl_safetensors_meta(st, "workers") &&
         (s = meta_number(st, "workers", INT32_MAX, &workers))))
        goto done;
    apply_copies(copies, n + 1);
    pdl_optimizer_set_steps(opt, (int64_t)steps);
    *pos = (pdl_train_position){(int64_t)epoch, (int64_t)batch_index, (int64_t)step, seed,
                                (int64_t)workers};
done:
    pdl_safetensors_free(st);
    free(copies);
    return s;
}
