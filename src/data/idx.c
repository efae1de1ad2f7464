/* The IDX data source: MNIST / Fashion-MNIST image and label files, raw or gzip, validated and
 * held in memory as bytes; samples are converted to floats x / 255 when read. Owns only the IDX
 * format; the generic source calls, index checks and epoch order live in source.c. */
#include "core/error.h"
#include "pdl/data.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

enum {
    IDX_IMAGES_MAGIC = 0x00000803, /* unsigned bytes, 3 dimensions (count, rows, cols) */
    IDX_LABELS_MAGIC = 0x00000801, /* unsigned bytes, 1 dimension (count) */
    IDX_MAX_SIDE = 65535,
};

typedef struct idx_source {
    pdl_data_source base;
    uint8_t *pixels; /* (count, rows, cols) */
    uint8_t *labels; /* (count), NULL for unlabeled images */
    float scale[256]; /* byte -> byte / 255.0f, exactly as a division gives it */
} idx_source;

/* Reads the whole (decompressed) file; gzread passes raw files through unchanged. */
static pdl_status read_all(const char *path, uint8_t **data, int64_t *size)
{
    uint8_t *buf = NULL;
    int64_t len = 0, cap = 1 << 20;
    errno = 0;
    gzFile f = gzopen(path, "rb");
    if (!f)
        return errno ? pdl_error_errno("cannot open", path)
                     : pdl_error(PDL_ERR_NOMEM, "cannot open '%s': out of memory", path);
    pdl_status status = PDL_OK;
    buf = malloc((size_t)cap);
    if (!buf) {
        status = pdl_error(PDL_ERR_NOMEM, "'%s': out of memory", path);
        goto fail;
    }
    for (;;) {
        if (len == cap) {
            uint8_t *grown = realloc(buf, (size_t)cap * 2);
            if (!grown) {
                status = pdl_error(PDL_ERR_NOMEM, "'%s': out of memory after %lld bytes", path,
                                   (long long)len);
                goto fail;
            }
            buf = grown;
            cap *= 2;
        }
        unsigned chunk = (unsigned)(cap - len < (1 << 30) ? cap - len : (1 << 30));
        int got = gzread(f, buf + len, chunk);
        if (got < 0) {
            int code = 0;
            const char *msg = gzerror(f, &code);
            status = code == Z_ERRNO ? pdl_error_errno("cannot read", path)
                                     : pdl_error(PDL_ERR_FORMAT, "'%s': corrupt gzip data: %s",
                                                 path, msg);
            goto fail;
        }
        if (got == 0)
            break;
        len += got;
    }
    gzclose(f);
    *data = buf;
    *size = len;
    return PDL_OK;
fail:
    gzclose(f);
    free(buf);
    return status;
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Checks that the file holds exactly the expected bytes: header plus payload. */
static pdl_status check_size(const char *path, const char *kind, int64_t size, int64_t expected)
{
    if (size < expected)
        return pdl_error(PDL_ERR_FORMAT,
                         "%s file '%s' is truncated: expected %lld bytes, found %lld", kind, path,
                         (long long)expected, (long long)size);
    if (size > expected)
        return pdl_error(PDL_ERR_FORMAT,
                         "%s file '%s' has %lld bytes after the expected %lld (not an IDX file "
                         "of one array?)",
                         kind, path, (long long)(size - expected), (long long)expected);
    return PDL_OK;
}

static pdl_status check_magic(const char *path, const char *kind, const uint8_t *data,
                              int64_t size, int64_t header, uint32_t magic)
{
    if (size < header)
        return pdl_error(PDL_ERR_FORMAT,
                         "%s file '%s' is truncated: expected a %lld-byte IDX header, found %lld "
                         "bytes",
                         kind, path, (long long)header, (long long)size);
    if (be32(data) != magic)
        return pdl_error(PDL_ERR_FORMAT,
                         "%s file '%s': bad IDX magic 0x%08x, expected 0x%08x (is it the %s "
                         "file?)",
                         kind, path, be32(data), magic, kind);
    return PDL_OK;
}

static pdl_status idx_read(pdl_data_source *base, const pdl_sample_ctx *ctx, int64_t index,
                           float *x, int32_t *label)
{
    (void)ctx; /* no augmentation */
    idx_source *src = (idx_source *)base;
    int64_t n = pdl_shape_count(&base->sample);
    const uint8_t *p = src->pixels + index * n;
    for (int64_t i = 0; i < n; i++)
        x[i] = src->scale[p[i]];
    *label = src->labels ? src->labels[index] : -1;
    return PDL_OK;
}

static void idx_free(pdl_data_source *base)
{
    idx_source *src = (idx_source *)base;
    free(src->pixels);
    free(src->labels);
    free(src);
}

static const pdl_data_source_ops idx_ops = {.read = idx_read, .free = idx_free};

/* Validates the image file and moves its pixels into src. */
static pdl_status load_images(idx_source *src, const char *path)
{
    uint8_t *data = NULL;
    int64_t size = 0;
    pdl_status status = read_all(path, &data, &size);
    if (status != PDL_OK)
        return status;
    status = check_magic(path, "images", data, size, 16, IDX_IMAGES_MAGIC);
    if (status != PDL_OK)
        goto done;
    int64_t count = be32(data + 4), rows = be32(data + 8), cols = be32(data + 12);
    if (rows < 1 || cols < 1 || rows > IDX_MAX_SIDE || cols > IDX_MAX_SIDE) {
        status = pdl_error(PDL_ERR_FORMAT, "images file '%s': bad image size %lldx%lld", path,
                           (long long)rows, (long long)cols);
        goto done;
    }
    if (count < 1 || count > (INT64_MAX - 16) / (rows * cols)) {
        status = pdl_error(PDL_ERR_FORMAT, "images file '%s': bad image count %lld", path,
                           (long long)count);
        goto done;
    }
    status = check_size(path, "images", size, 16 + count * rows * cols);
    if (status != PDL_OK)
        goto done;
    memmove(data, data + 16, (size_t)(count * rows * cols));
    src->pixels = data;
    data = NULL;
    src->base.count = count;
    src->base.sample = pdl_shape_make(3, (int64_t[]){1, rows, cols});
done:
    free(data);
    return status;
}

/* Validates the label file against the images' count and moves the labels into src. */
static pdl_status load_labels(idx_source *src, const char *path, const char *images_path)
{
    uint8_t *data = NULL;
    int64_t size = 0;
    pdl_status status = read_all(path, &data, &size);
    if (status != PDL_OK)
        return status;
    status = check_magic(path, "labels", data, size, 8, IDX_LABELS_MAGIC);
    if (status != PDL_OK)
        goto done;
    int64_t count = be32(data + 4);
    if (count != src->base.count) {
        status = pdl_error(PDL_ERR_FORMAT,
                           "labels file '%s' has %lld labels but images file '%s' has %lld "
                           "images",
                           path, (long long)count, images_path, (long long)src->base.count);
        goto done;
    }
    status = check_size(path, "labels", size, 8 + count);
    if (status != PDL_OK)
        goto done;
    memmove(data, data + 8, (size_t)count);
    int max_label = 0;
    for (int64_t i = 0; i < count; i++)
        max_label = data[i] > max_label ? data[i] : max_label;
    src->labels = data;
    data = NULL;
    src->base.classes = max_label + 1;
done:
    free(data);
    return status;
}

pdl_status pdl_idx_open(const char *images_path, const char *labels_path, pdl_data_source **out)
{
    *out = NULL;
    idx_source *src = calloc(1, sizeof *src);
    if (!src)
        return pdl_error(PDL_ERR_NOMEM, "'%s': out of memory", images_path);
    src->base.ops = &idx_ops;
    for (int i = 0; i < 256; i++)
        src->scale[i] = (float)i / 255.0f;
    if (labels_path)
        snprintf(src->base.name, sizeof src->base.name, "%s + %s", images_path, labels_path);
    else
        snprintf(src->base.name, sizeof src->base.name, "%s", images_path);
    pdl_status status = load_images(src, images_path);
    if (status == PDL_OK && labels_path)
        status = load_labels(src, labels_path, images_path);
    if (status != PDL_OK) {
        idx_free(&src->base);
        return status;
    }
    *out = &src->base;
    return PDL_OK;
}
