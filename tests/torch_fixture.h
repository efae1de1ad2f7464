/* Reads the PyTorch fixtures written by tests/fixtures/make_torch_fixtures.py (safetensors, F32
 * tensors only, through the library's reader) and compares float arrays against them with a
 * per-element tolerance. Header-only, for tests. */
#ifndef PDL_TEST_TORCH_FIXTURE_H
#define PDL_TEST_TORCH_FIXTURE_H

#include "graph/safetensors.h"
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

/* Every tensor of the fixture file at path, copied out as floats; NULL (with a message) when the
 * file is missing, malformed or holds a tensor that is not F32. */
static inline torch_fixture *tf_load(const char *path)
{
    torch_fixture *f = (torch_fixture *)calloc(1, sizeof *f);
    pdl_safetensors *st = NULL;
    if (!f || pdl_safetensors_read(path, false, &st) != PDL_OK || st->n_tensors > TF_MAX_TENSORS)
        goto fail;
    for (int i = 0; i < st->n_tensors; i++) {
        tf_tensor *t = &f->t[f->n];
        const unsigned char *bytes = NULL;
        snprintf(t->name, sizeof t->name, "%s", st->tensors[i].name);
        if (pdl_safetensors_f32(st, t->name, &t->shape, &bytes) != PDL_OK)
            goto fail;
        t->count = pdl_shape_count(&t->shape);
        t->data = (float *)malloc((size_t)(t->count > 0 ? t->count : 1) * sizeof(float));
        if (!t->data)
            goto fail;
        memcpy(t->data, bytes, (size_t)t->count * sizeof(float));
        f->n++;
    }
    pdl_safetensors_free(st);
    return f;
fail:
    fprintf(stderr, "tf_load: cannot read fixture '%s': %s\n", path, pdl_last_error());
    pdl_safetensors_free(st);
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
