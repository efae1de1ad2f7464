/* Reads the PyTorch fixtures written by tests/fixtures/make_torch_fixtures.py (safetensors, F32
 * tensors only) and compares float arrays against them with a per-element tolerance. Header-only,
 * for tests; the library's own weights reader lives in src/ and is tested separately. */
#ifndef PDL_TEST_TORCH_FIXTURE_H
#define PDL_TEST_TORCH_FIXTURE_H

#include "pdl/tensor.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TF_MAX_TENSORS 64

typedef struct tf_tensor {
    char name[64];
    pdl_shape shape;
    int64_t count;
    float *data; /* count floats, owned by the fixture */
} tf_tensor;

typedef struct torch_fixture {
    int n;
    tf_tensor t[TF_MAX_TENSORS];
} torch_fixture;

static inline void tf_free(torch_fixture *f)
{
    if (!f)
        return;
    for (int i = 0; i < f->n; i++)
        free(f->t[i].data);
    free(f);
}

static inline const char *tf_skip_space(const char *p)
{
    while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r')
        p++;
    return p;
}

/* Reads a JSON string without escapes into out; returns the position after it or NULL. */
static inline const char *tf_string(const char *p, char *out, size_t size)
{
    p = tf_skip_space(p);
    if (*p != '"')
        return NULL;
    size_t n = 0;
    for (p++; *p && *p != '"'; p++) {
        if (*p == '\\' || n + 1 >= size)
            return NULL;
        out[n++] = *p;
    }
    out[n] = '\0';
    return *p == '"' ? p + 1 : NULL;
}

/* Reads "[a, b, ...]" of non-negative integers (at most max); returns the position after it. */
static inline const char *tf_ints(const char *p, int64_t *out, int max, int *n)
{
    p = tf_skip_space(p);
    if (*p != '[')
        return NULL;
    *n = 0;
    p = tf_skip_space(p + 1);
    while (*p != ']') {
        char *end;
        long long v = strtoll(p, &end, 10);
        if (end == p || v < 0 || *n >= max)
            return NULL;
        out[(*n)++] = v;
        p = tf_skip_space(end);
        if (*p == ',')
            p = tf_skip_space(p + 1);
    }
    return p + 1;
}

/* Skips a "__metadata__" object of string values. */
static inline const char *tf_skip_metadata(const char *p)
{
    char ignored[4096];
    p = tf_skip_space(p);
    if (*p != '{')
        return NULL;
    p = tf_skip_space(p + 1);
    while (p && *p != '}') {
        p = tf_string(p, ignored, sizeof ignored);
        p = p ? tf_skip_space(p) : NULL;
        if (!p || *p != ':')
            return NULL;
        p = tf_string(p + 1, ignored, sizeof ignored);
        p = p ? tf_skip_space(p) : NULL;
        if (p && *p == ',')
            p = tf_skip_space(p + 1);
    }
    return p ? p + 1 : NULL;
}

/* Parses {"dtype":"F32","shape":[...],"data_offsets":[a,b]} into t and offsets. */
static inline const char *tf_entry(const char *p, tf_tensor *t, int64_t offsets[2])
{
    char key[32], dtype[16] = "";
    int n_offsets = 0;
    p = tf_skip_space(p);
    if (*p != '{')
        return NULL;
    p = tf_skip_space(p + 1);
    while (p && *p != '}') {
        p = tf_string(p, key, sizeof key);
        p = p ? tf_skip_space(p) : NULL;
        if (!p || *p != ':')
            return NULL;
        p++;
        if (strcmp(key, "dtype") == 0)
            p = tf_string(p, dtype, sizeof dtype);
        else if (strcmp(key, "shape") == 0)
            p = tf_ints(p, t->shape.dim, PDL_MAX_DIMS, &t->shape.ndim);
        else if (strcmp(key, "data_offsets") == 0)
            p = tf_ints(p, offsets, 2, &n_offsets);
        else
            return NULL;
        p = p ? tf_skip_space(p) : NULL;
        if (p && *p == ',')
            p = tf_skip_space(p + 1);
    }
    if (!p || strcmp(dtype, "F32") != 0 || n_offsets != 2)
        return NULL;
    return p + 1;
}

/* Loads every tensor of the safetensors file at path; NULL (with a message on stderr) when the
 * file is missing or not what the fixture script writes. */
static inline torch_fixture *tf_load(const char *path)
{
    torch_fixture *f = (torch_fixture *)calloc(1, sizeof *f);
    char *bytes = NULL, *header = NULL;
    long size = 0;
    FILE *file = fopen(path, "rb");
    if (!f || !file || fseek(file, 0, SEEK_END) != 0 || (size = ftell(file)) < 8 ||
        fseek(file, 0, SEEK_SET) != 0)
        goto fail;
    bytes = (char *)malloc((size_t)size);
    if (!bytes || fread(bytes, 1, (size_t)size, file) != (size_t)size)
        goto fail;
    uint64_t header_len = 0;
    for (int i = 7; i >= 0; i--)
        header_len = header_len << 8 | (unsigned char)bytes[i];
    if (header_len > (uint64_t)size - 8)
        goto fail;
    const char *data = bytes + 8 + header_len;
    int64_t data_len = size - 8 - (int64_t)header_len;
    header = (char *)malloc(header_len + 1);
    if (!header)
        goto fail;
    memcpy(header, bytes + 8, header_len);
    header[header_len] = '\0';
    const char *p = tf_skip_space(header);
    if (*p != '{')
        goto fail;
    p = tf_skip_space(p + 1);
    while (p && *p != '}') {
        char name[64];
        int64_t offsets[2];
        p = tf_string(p, name, sizeof name);
        p = p ? tf_skip_space(p) : NULL;
        if (!p || *p != ':')
            goto fail;
        if (strcmp(name, "__metadata__") == 0) {
            p = tf_skip_metadata(p + 1);
        } else {
            if (f->n >= TF_MAX_TENSORS)
                goto fail;
            tf_tensor *t = &f->t[f->n];
            snprintf(t->name, sizeof t->name, "%s", name);
            p = tf_entry(p + 1, t, offsets);
            if (!p)
                goto fail;
            t->count = pdl_shape_count(&t->shape);
            if (offsets[1] - offsets[0] != t->count * 4 || offsets[1] > data_len)
                goto fail;
            t->data = (float *)malloc((size_t)(t->count > 0 ? t->count : 1) * sizeof(float));
            if (!t->data)
                goto fail;
            f->n++;
            for (int64_t i = 0; i < t->count; i++) {
                const unsigned char *b = (const unsigned char *)data + offsets[0] + 4 * i;
                uint32_t bits = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
                                (uint32_t)b[3] << 24;
                memcpy(&t->data[i], &bits, sizeof bits);
            }
        }
        p = p ? tf_skip_space(p) : NULL;
        if (p && *p == ',')
            p = tf_skip_space(p + 1);
    }
    if (!p)
        goto fail;
    free(header);
    free(bytes);
    fclose(file);
    return f;
fail:
    fprintf(stderr, "tf_load: cannot read fixture '%s' (missing or malformed)\n", path);
    free(header);
    free(bytes);
    if (file)
        fclose(file);
    tf_free(f);
    return NULL;
}

/* The tensor called name, or NULL. */
static inline const tf_tensor *tf_find(const torch_fixture *f, const char *name)
{
    for (int i = 0; i < f->n; i++)
        if (strcmp(f->t[i].name, name) == 0)
            return &f->t[i];
    return NULL;
}

/* Compares got (n) with expected element by element: |got - want| <= atol + rtol * |want|, NaN
 * never passes. Prints the first few mismatches naming what; returns the number of mismatches
 * and raises *max_abs to the largest absolute error seen. */
static inline int64_t tf_compare(const char *what, const float *got, const float *want, int64_t n,
                                 double atol, double rtol, double *max_abs)
{
    int64_t bad = 0;
    for (int64_t i = 0; i < n; i++) {
        double error = fabs((double)got[i] - (double)want[i]);
        if (!(error <= *max_abs))
            *max_abs = isnan(error) ? INFINITY : error;
        if (!(error <= atol + rtol * fabs((double)want[i]))) {
            if (bad < 5)
                fprintf(stderr, "  %s[%lld]: got %.9g, torch %.9g\n", what, (long long)i,
                        (double)got[i], (double)want[i]);
            bad++;
        }
    }
    return bad;
}

#endif
