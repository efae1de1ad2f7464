/* Reading and writing safetensors files (see safetensors.h): header validation, the data
 * section, the atomic write. JSON syntax lives in graph/json.c; what tensors and metadata mean
 * (weights, training state, checksums) lives in graph/checkpoint.c. */
#include "graph/safetensors.h"

#include "core/error.h"
#include "graph/json.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors data is little-endian; this file assumes a little-endian host"
#endif

#define HEADER_MAX ((uint64_t)100 << 20) /* the Python package's limit too */

static const struct {
    const char *name;
    size_t size;
} dtypes[] = {
    {"BOOL", 1}, {"U8", 1},  {"I8", 1},  {"F8_E5M2", 1}, {"F8_E4M3", 1},
    {"I16", 2},  {"U16", 2}, {"F16", 2}, {"BF16", 2},    {"I32", 4},
    {"U32", 4},  {"F32", 4}, {"I64", 8}, {"U64", 8},     {"F64", 8},
};

void pdl_safetensors_free(pdl_safetensors *st)
{
    if (!st)
        return;
    for (int i = 0; i < st->n_tensors; i++)
        free(st->tensors[i].name);
    for (int i = 0; i < st->n_meta; i++) {
        free(st->meta_keys[i]);
        free(st->meta_values[i]);
    }
    free(st->tensors);
    free(st->meta_keys);
    free(st->meta_values);
    free(st->data);
    free(st->source);
    free(st);
}

/* ---- reading the header ---------------------------------------------------------------- */

static pdl_status nomem(void) { return pdl_error(PDL_ERR_NOMEM, "out of memory"); }

static pdl_status parse_metadata(pdl_json *j, pdl_safetensors *st)
{
    pdl_status s;
    bool more;
    if ((s = pdl_json_open(j, '{')))
        return s;
    for (int i = 0;; i++) {
        char *key = NULL, *value = NULL;
        if ((s = pdl_json_next(j, '}', i, &more)) || !more)
            return s;
        if ((s = pdl_json_key(j, &key)) || (s = pdl_json_string(j, &value))) {
            free(key);
            return s == PDL_ERR_NOMEM ? s : pdl_error_context(s, "__metadata__");
        }
        const size_t grown = (size_t)(st->n_meta + 1) * sizeof(char *);
        char **keys = realloc(st->meta_keys, grown);
        if (keys)
            st->meta_keys = keys;
        char **values = keys ? realloc(st->meta_values, grown) : NULL;
        if (values)
            st->meta_values = values;
        if (!keys || !values) {
            free(key);
            free(value);
            return nomem();
        }
        if (pdl_safetensors_meta(st, key)) {
            s = pdl_error(PDL_ERR_FORMAT, "__metadata__: key '%s' appears twice", key);
            free(key);
            free(value);
            return s;
        }
        st->meta_keys[st->n_meta] = key;
        st->meta_values[st->n_meta++] = value;
    }
}

/* An array of at most max non-negative integers; *n receives the count. */
static pdl_status parse_uints(pdl_json *j, uint64_t *v, int max, int *n, const char *what)
{
    pdl_status s;
    bool more;
    if ((s = pdl_json_open(j, '[')))
        return pdl_error_context(s, "%s", what);
    for (*n = 0;; (*n)++) {
        if ((s = pdl_json_next(j, ']', *n, &more)))
            return pdl_error_context(s, "%s", what);
        if (!more)
            return PDL_OK;
        if (*n == max)
            return pdl_error(PDL_ERR_FORMAT, "%s has more than %d entries", what, max);
        if ((s = pdl_json_uint(j, &v[*n])))
            return pdl_error_context(s, "%s", what);
    }
}

/* {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, each key exactly once. */
static pdl_status parse_tensor(pdl_json *j, pdl_st_tensor *t)
{
    enum { DTYPE = 1, SHAPE = 2, OFFSETS = 4 };
    int seen = 0, n;
    uint64_t dims[PDL_MAX_DIMS], offsets[2];
    pdl_status s;
    bool more;
    if ((s = pdl_json_open(j, '{')))
        return s;
    for (int i = 0;; i++) {
        char *key = NULL, *dtype = NULL;
        if ((s = pdl_json_next(j, '}', i, &more)))
            return s;
        if (!more)
            break;
        if ((s = pdl_json_key(j, &key)))
            return s;
        int bit = !strcmp(key, "dtype") ? DTYPE : !strcmp(key, "shape") ? SHAPE
                : !strcmp(key, "data_offsets") ? OFFSETS : 0;
        if (!bit || (seen & bit)) {
            s = pdl_error(PDL_ERR_FORMAT, "%s key '%s'", bit ? "repeated" : "unknown", key);
            free(key);
            return s;
        }
        free(key);
        seen |= bit;
        if (bit == DTYPE) {
            if ((s = pdl_json_string(j, &dtype)))
                return s;
            size_t k = 0, n_dtypes = sizeof dtypes / sizeof *dtypes;
            while (k < n_dtypes && strcmp(dtype, dtypes[k].name))
                k++;
            if (k == n_dtypes) {
                s = pdl_error(PDL_ERR_FORMAT, "unknown dtype '%.16s'", dtype);
                free(dtype);
                return s;
            }
            free(dtype);
            strcpy(t->dtype, dtypes[k].name);
            t->elem_size = dtypes[k].size;
        } else if (bit == SHAPE) {
            if ((s = parse_uints(j, dims, PDL_MAX_DIMS, &n, "shape")))
                return s;
            t->shape.ndim = n;
            for (int d = 0; d < n; d++) {
                if (dims[d] > (uint64_t)INT64_MAX)
                    return pdl_error(PDL_ERR_FORMAT, "shape entry %d is too large", d);
                t->shape.dim[d] = (int64_t)dims[d];
            }
        } else {
            if ((s = parse_uints(j, offsets, 2, &n, "data_offsets")))
                return s;
            if (n != 2)
                return pdl_error(PDL_ERR_FORMAT, "data_offsets has %d entries, not 2", n);
            t->begin = offsets[0];
            t->end = offsets[1];
        }
    }
    if (seen != (DTYPE | SHAPE | OFFSETS))
        return pdl_error(PDL_ERR_FORMAT, "missing %s", !(seen & DTYPE) ? "dtype"
                         : !(seen & SHAPE) ? "shape" : "data_offsets");
    return PDL_OK;
}

/* Checks one tensor's byte range against its dtype x shape and the data section. */
static pdl_status check_extent(const pdl_st_tensor *t, uint64_t data_size)
{
    uint64_t bytes = t->elem_size;
    for (int d = 0; d < t->shape.ndim; d++) {
        uint64_t dim = (uint64_t)t->shape.dim[d];
        if (dim && bytes > UINT64_MAX / dim)
            return pdl_error(PDL_ERR_FORMAT, "shape is too large");
        bytes *= dim;
    }
    if (t->begin > t->end || t->end > data_size)
        return pdl_error(PDL_ERR_FORMAT,
                         "data_offsets [%llu, %llu] lie outside the %llu-byte data section "
                         "(truncated file?)",
                         (unsigned long long)t->begin, (unsigned long long)t->end,
                         (unsigned long long)data_size);
    if (t->end - t->begin != bytes) {
        char shape[96];
        return pdl_error(PDL_ERR_FORMAT, "data_offsets span %llu bytes but %s x %s needs %llu",
                         (unsigned long long)(t->end - t->begin), t->dtype,
                         pdl_shape_format(&t->shape, shape, sizeof shape),
                         (unsigned long long)bytes);
    }
    return PDL_OK;
}

typedef const pdl_st_tensor *tensor_ref;

static int by_name(const void *a, const void *b)
{
    return strcmp((*(const tensor_ref *)a)->name, (*(const tensor_ref *)b)->name);
}

static int by_offset(const void *a, const void *b)
{
    const pdl_st_tensor *x = *(const tensor_ref *)a, *y = *(const tensor_ref *)b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

/* Unique names; byte ranges that tile the data section exactly, without overlap or hole. */
static pdl_status check_layout(const pdl_safetensors *st)
{
    pdl_status s = PDL_OK;
    uint64_t covered = 0;
    int n = st->n_tensors;
    tensor_ref *order = malloc((size_t)(n ? n : 1) * sizeof *order);
    if (!order)
        return nomem();
    for (int i = 0; i < n; i++)
        order[i] = &st->tensors[i];
    qsort(order, (size_t)n, sizeof *order, by_name);
    for (int i = 1; i < n && !s; i++)
        if (!strcmp(order[i]->name, order[i - 1]->name))
            s = pdl_error(PDL_ERR_FORMAT, "tensor '%s' appears twice", order[i]->name);
    if (!s)
        qsort(order, (size_t)n, sizeof *order, by_offset);
    for (int i = 0; i < n && !s; i++) {
        if (order[i]->begin != covered)
            s = pdl_error(PDL_ERR_FORMAT, "tensor '%s' starts at data byte %llu, expected %llu "
                          "(overlapping or missing data)", order[i]->name,
                          (unsigned long long)order[i]->begin, (unsigned long long)covered);
        covered = order[i]->end;
    }
    if (!s && covered != st->data_size)
        s = pdl_error(PDL_ERR_FORMAT, "the tensors cover %llu bytes of a %llu-byte data section",
                      (unsigned long long)covered, (unsigned long long)st->data_size);
    free(order);
    return s;
}

/* Parses and validates header[0..len) for a data section of data_size bytes. */
static pdl_status parse_header(pdl_safetensors *st, const char *header, size_t len)
{
    pdl_json j = pdl_json_reader(header, len);
    pdl_status s;
    bool more, seen_meta = false;
    if (len == 0 || header[0] != '{')
        return pdl_error(PDL_ERR_FORMAT, "the header does not start with '{' (not a safetensors "
                         "file?)");
    if ((s = pdl_json_open(&j, '{')))
        return s;
    for (int i = 0;; i++) {
        char *name = NULL;
        if ((s = pdl_json_next(&j, '}', i, &more)))
            return s;
        if (!more)
            break;
        if ((s = pdl_json_key(&j, &name)))
            return s;
        if (!strcmp(name, "__metadata__")) {
            free(name);
            if (seen_meta)
                return pdl_error(PDL_ERR_FORMAT, "__metadata__ appears twice");
            seen_meta = true;
            if ((s = parse_metadata(&j, st)))
                return s;
            continue;
        }
        pdl_st_tensor *grown = realloc(st->tensors, (size_t)(st->n_tensors + 1) * sizeof *grown);
        if (!grown) {
            free(name);
            return nomem();
        }
        st->tensors = grown;
        pdl_st_tensor *t = &st->tensors[st->n_tensors++];
        memset(t, 0, sizeof *t);
        t->name = name;
        if ((s = parse_tensor(&j, t)) || (s = check_extent(t, st->data_size)))
            return s == PDL_ERR_NOMEM ? s : pdl_error_context(s, "tensor '%s'", t->name);
    }
    if ((s = pdl_json_finish(&j)))
        return s;
    return check_layout(st);
}

static pdl_status start(const char *source, uint64_t data_size, pdl_safetensors **out)
{
    *out = calloc(1, sizeof **out);
    if (!*out || !((*out)->source = strdup(source))) {
        free(*out);
        *out = NULL;
        return nomem();
    }
    (*out)->data_size = data_size;
    return PDL_OK;
}

static uint64_t read_le64(const unsigned char *b)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | b[i];
    return v;
}

/* The header length of a file of size bytes whose first 8 bytes are b, validated. */
static pdl_status header_length(const unsigned char *b, uint64_t size, uint64_t *out)
{
    if (size < 8)
        return pdl_error(PDL_ERR_FORMAT, "the file is %llu bytes, too short for a safetensors "
                         "header (truncated?)", (unsigned long long)size);
    *out = read_le64(b);
    if (*out > size - 8)
        return pdl_error(PDL_ERR_FORMAT, "header length %llu runs past the end of the %llu-byte "
                         "file (truncated, or not a safetensors file)",
                         (unsigned long long)*out, (unsigned long long)size);
    if (*out > HEADER_MAX)
        return pdl_error(PDL_ERR_FORMAT, "header length %llu is over the %llu-byte limit",
                         (unsigned long long)*out, (unsigned long long)HEADER_MAX);
    return PDL_OK;
}

pdl_status pdl_safetensors_parse(const void *bytes, size_t size, const char *name,
                                 pdl_safetensors **out)
{
    PDL_ASSERT(out && name && (bytes || size == 0));
    const unsigned char *b = bytes;
    pdl_safetensors *st = NULL;
    uint64_t hlen = 0;
    pdl_status s;
    *out = NULL;
    if ((s = header_length(b, size, &hlen)) || (s = start(name, size - 8 - hlen, &st)) ||
        (s = parse_header(st, (const char *)b + 8, (size_t)hlen)))
        goto fail;
    if (!(st->data = malloc(st->data_size ? (size_t)st->data_size : 1))) {
        s = nomem();
        goto fail;
    }
    if (st->data_size)
        memcpy(st->data, b + 8 + hlen, (size_t)st->data_size);
    *out = st;
    return PDL_OK;
fail:
    pdl_safetensors_free(st);
    return s == PDL_ERR_NOMEM ? s : pdl_error_context(s, "%s", name);
}

/* Reads exactly n bytes, refusing a file that ends early. */
static pdl_status read_exact(FILE *f, void *buf, size_t n, const char *path)
{
    if (n && fread(buf, 1, n, f) != n)
        return ferror(f) ? pdl_error_errno("cannot read", path)
                         : pdl_error(PDL_ERR_FORMAT, "%s: the file ends early (truncated)", path);
    return PDL_OK;
}

pdl_status pdl_safetensors_read(const char *path, bool header_only, pdl_safetensors **out)
{
    PDL_ASSERT(path && out);
    pdl_safetensors *st = NULL;
    unsigned char prefix[8];
    char *header = NULL;
    uint64_t hlen = 0;
    struct stat info;
    pdl_status s;
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return pdl_error_errno("cannot open", path);
    if (fstat(fileno(f), &info)) {
        s = pdl_error_errno("cannot stat", path);
        goto fail;
    }
    const uint64_t size = (uint64_t)info.st_size;
    if ((s = read_exact(f, prefix, size < 8 ? (size_t)size : 8, path)))
        goto fail;
    if ((s = header_length(prefix, size, &hlen)))
        goto located;
    if ((s = start(path, size - 8 - hlen, &st)))
        goto fail;
    if (!(header = malloc((size_t)hlen + 1))) {
        s = nomem();
        goto fail;
    }
    if ((s = read_exact(f, header, (size_t)hlen, path)))
        goto fail;
    if ((s = parse_header(st, header, (size_t)hlen)))
        goto located;
    if (!header_only) {
        if (!(st->data = malloc(st->data_size ? (size_t)st->data_size : 1))) {
            s = nomem();
            goto fail;
        }
        if ((s = read_exact(f, st->data, (size_t)st->data_size, path)))
            goto fail;
    }
    free(header);
    fclose(f);
    *out = st;
    return PDL_OK;
located:
    if (s != PDL_ERR_NOMEM)
        pdl_error_context(s, "%s", path);
fail:
    free(header);
    fclose(f);
    pdl_safetensors_free(st);
    return s;
}

/* ---- lookups ---------------------------------------------------------------------------- */

int pdl_safetensors_find(const pdl_safetensors *st, const char *name)
{
    for (int i = 0; i < st->n_tensors; i++)
        if (!strcmp(st->tensors[i].name, name))
            return i;
    return -1;
}

const char *pdl_safetensors_meta(const pdl_safetensors *st, const char *key)
{
    for (int i = 0; i < st->n_meta; i++)
        if (!strcmp(st->meta_keys[i], key))
            return st->meta_values[i];
    return NULL;
}

pdl_status pdl_safetensors_f32(const pdl_safetensors *st, const char *name, pdl_shape *shape,
                               const unsigned char **data)
{
    PDL_ASSERT(st->data);
    int i = pdl_safetensors_find(st, name);
    if (i < 0)
        return pdl_error(PDL_ERR_FORMAT, "%s: tensor '%s' is missing", st->source, name);
    const pdl_st_tensor *t = &st->tensors[i];
    if (strcmp(t->dtype, "F32"))
        return pdl_error(PDL_ERR_FORMAT, "%s: tensor '%s' is %s, expected F32", st->source, name,
                         t->dtype);
    *shape = t->shape;
    *data = st->data + t->begin;
    return PDL_OK;
}

/* ---- writing ------------------------------------------------------------------------------ */

/* The header JSON for tensors laid out back to back, padded with spaces to a multiple of 8. */
static pdl_status build_header(const pdl_st_source *tensors, int n, const char *const *keys,
                               const char *const *values, int n_meta, pdl_json_buf *b)
{
    uint64_t offset = 0;
    pdl_json_put(b, "{", 1);
    if (n_meta > 0) {
        pdl_json_put(b, "\"__metadata__\":{", 16);
        for (int i = 0; i < n_meta; i++) {
            if (!pdl_json_utf8_valid(keys[i], strlen(keys[i])) ||
                !pdl_json_utf8_valid(values[i], strlen(values[i])))
                return pdl_error(PDL_ERR_INVALID, "metadata '%s' is not valid UTF-8", keys[i]);
            if (i)
                pdl_json_put(b, ",", 1);
            pdl_json_put_string(b, keys[i]);
            pdl_json_put(b, ":", 1);
            pdl_json_put_string(b, values[i]);
        }
        pdl_json_put(b, "}", 1);
    }
    for (int i = 0; i < n; i++) {
        const pdl_st_source *t = &tensors[i];
        uint64_t bytes = (uint64_t)pdl_shape_count(&t->shape) * pdl_dtype_size(t->dtype);
        if (!pdl_json_utf8_valid(t->name, strlen(t->name)))
            return pdl_error(PDL_ERR_INVALID, "tensor name '%s' is not valid UTF-8", t->name);
        if (i || n_meta > 0)
            pdl_json_put(b, ",", 1);
        pdl_json_put_string(b, t->name);
        pdl_json_put(b, ":{\"dtype\":", 10);
        pdl_json_put_string(b, pdl_dtype_name(t->dtype));
        pdl_json_put(b, ",\"shape\":[", 10);
        for (int d = 0; d < t->shape.ndim; d++) {
            if (d)
                pdl_json_put(b, ",", 1);
            pdl_json_put_uint(b, (uint64_t)t->shape.dim[d]);
        }
        pdl_json_put(b, "],\"data_offsets\":[", 18);
        pdl_json_put_uint(b, offset);
        pdl_json_put(b, ",", 1);
        pdl_json_put_uint(b, offset + bytes);
        pdl_json_put(b, "]}", 2);
        offset += bytes;
    }
    pdl_json_put(b, "}", 1);
    while (b->len % 8)
        pdl_json_put(b, " ", 1);
    return b->failed ? nomem() : PDL_OK;
}

static pdl_status write_all(int fd, const void *data, size_t n, const char *path)
{
    const char *p = data;
    while (n > 0) {
        ssize_t done = write(fd, p, n);
        if (done < 0 && errno == EINTR)
            continue;
        if (done <= 0)
            return pdl_error_errno("cannot write", path);
        p += done;
        n -= (size_t)done;
    }
    return PDL_OK;
}

/* fsync of the folder holding path, so that a rename in it is durable. */
static pdl_status sync_folder(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
    pdl_status s = PDL_OK;
    if (!dir)
        return nomem();
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || (fsync(fd) && errno != EINVAL))
        s = pdl_error_errno("cannot sync the folder", dir);
    if (fd >= 0)
        close(fd);
    free(dir);
    return s;
}

pdl_status pdl_safetensors_write(const char *path, const pdl_st_source *tensors, int n_tensors,
                                 const char *const *meta_keys, const char *const *meta_values,
                                 int n_meta)
{
    PDL_ASSERT(path && (tensors || n_tensors == 0) && n_meta >= 0);
    static _Atomic unsigned long counter;
    pdl_json_buf header = {0};
    char *tmp = NULL;
    int fd = -1;
    pdl_status s;
    if ((s = build_header(tensors, n_tensors, meta_keys, meta_values, n_meta, &header)))
        goto fail;
    size_t tmp_len = strlen(path) + 64;
    if (!(tmp = malloc(tmp_len))) {
        s = nomem();
        goto fail;
    }
    snprintf(tmp, tmp_len, "%s.tmp.%ld.%lu", path, (long)getpid(), atomic_fetch_add(&counter, 1));
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0) {
        s = pdl_error_errno("cannot create", tmp);
        free(tmp);
        tmp = NULL;
        goto fail;
    }
    unsigned char prefix[8];
    for (int i = 0; i < 8; i++)
        prefix[i] = (unsigned char)((uint64_t)header.len >> (8 * i));
    if ((s = write_all(fd, prefix, 8, tmp)) || (s = write_all(fd, header.data, header.len, tmp)))
        goto fail;
    for (int i = 0; i < n_tensors; i++) {
        const pdl_st_source *t = &tensors[i];
        size_t bytes = (size_t)pdl_shape_count(&t->shape) * pdl_dtype_size(t->dtype);
        if (bytes && (s = write_all(fd, t->data, bytes, tmp)))
            goto fail;
    }
    if (fsync(fd)) {
        s = pdl_error_errno("cannot sync", tmp);
        goto fail;
    }
    int closed = close(fd);
    fd = -1;
    if (closed) {
        s = pdl_error_errno("cannot close", tmp);
        goto fail;
    }
    if (rename(tmp, path)) {
        s = pdl_error_errno("cannot rename the temp file to", path);
        goto fail;
    }
    free(tmp);
    free(header.data);
    return sync_folder(path);
fail:
    if (fd >= 0)
        close(fd);
    if (tmp)
        unlink(tmp);
    free(tmp);
    free(header.data);
    return s;
}
