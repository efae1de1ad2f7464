/* Datum records and mean BlobProto files (datum.h, pdl_mean_load/pdl_mean_save of
 * pdl/dataset.h) with protobuf-c. Owns the BGR <-> RGB swap and the Datum wire layout; image
 * codecs live in image.c, databases in lmdb_db.c. */
#include "data/datum.h"

#include "core/error.h"
#include "data/caffe.pb-c.h"
#include "pdl/dataset.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Mean files larger than this are refused (a 4096x4096 color mean is 200 MB). */
#define MEAN_FILE_LIMIT ((long)1 << 30)

bool pdl_datum_encoding_parse(const char *name, pdl_datum_encoding *out)
{
    static const struct {
        const char *name;
        pdl_datum_encoding encoding;
    } names[] = {{"none", PDL_DATUM_RAW}, {"raw", PDL_DATUM_RAW}, {"png", PDL_DATUM_PNG},
                 {"jpg", PDL_DATUM_JPEG}, {"jpeg", PDL_DATUM_JPEG}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(name, names[i].name)) {
            *out = names[i].encoding;
            return true;
        }
    return false;
}

const char *pdl_datum_encoding_name(pdl_datum_encoding encoding)
{
    return encoding == PDL_DATUM_PNG ? "png" : encoding == PDL_DATUM_JPEG ? "jpg" : "none";
}

/* Planar copy with the channel order reversed when there are 3 (RGB <-> BGR). */
static void swap_planes(const uint8_t *src, uint8_t *dst, int channels, size_t plane)
{
    for (int c = 0; c < channels; c++)
        memcpy(dst + (size_t)c * plane, src + (size_t)(channels - 1 - c) * plane, plane);
}

pdl_status pdl_datum_encode(const pdl_image *img, int32_t label, pdl_datum_encoding encoding,
                            int png_level, int jpeg_quality, uint8_t **bytes, size_t *size)
{
    *bytes = NULL;
    *size = 0;
    size_t plane = (size_t)img->width * (size_t)img->height;
    size_t pixels_size = plane * (size_t)img->channels;
    uint8_t *pixels = NULL;
    pdl_status status = PDL_OK;
    if (encoding == PDL_DATUM_PNG)
        status = pdl_image_encode_png(img, png_level, &pixels, &pixels_size);
    else if (encoding == PDL_DATUM_JPEG)
        status = pdl_image_encode_jpeg(img, jpeg_quality, &pixels, &pixels_size);
    else if ((pixels = malloc(pixels_size ? pixels_size : 1)))
        swap_planes(img->data, pixels, img->channels, plane);
    else
        status = pdl_error(PDL_ERR_NOMEM, "Datum of %zu bytes: out of memory", pixels_size);
    if (status != PDL_OK)
        return status;
    Caffe__Datum datum = CAFFE__DATUM__INIT;
    datum.has_channels = datum.has_height = datum.has_width = true;
    datum.channels = img->channels;
    datum.height = img->height;
    datum.width = img->width;
    datum.has_data = true;
    datum.data.data = pixels;
    datum.data.len = pixels_size;
    datum.has_label = true;
    datum.label = label;
    if (encoding != PDL_DATUM_RAW)
        datum.has_encoded = datum.encoded = true;
    size_t packed = caffe__datum__get_packed_size(&datum);
    uint8_t *out = malloc(packed);
    if (!out) {
        status = pdl_error(PDL_ERR_NOMEM, "Datum of %zu bytes: out of memory", packed);
    } else {
        caffe__datum__pack(&datum, out);
        *bytes = out;
        *size = packed;
    }
    free(pixels);
    return status;
}

/* Gives img the size and channels, keeping its memory when they already match. */
static pdl_status fit_image(pdl_image *img, int width, int height, int channels)
{
    if (img->data && img->width == width && img->height == height && img->channels == channels)
        return PDL_OK;
    pdl_image_free(img);
    return pdl_image_alloc(img, width, height, channels);
}

static pdl_status decode_raw(const Caffe__Datum *datum, int channels, const char *name,
                             pdl_image *img)
{
    int c = datum->channels, h = datum->height, w = datum->width;
    if (c != 1 && c != 3)
        return pdl_error(c > 0 ? PDL_ERR_UNSUPPORTED : PDL_ERR_FORMAT,
                         "%s: raw record with %d channels (images have 1 or 3)", name, c);
    if (h < 1 || w < 1 || h > PDL_IMAGE_MAX_SIDE || w > PDL_IMAGE_MAX_SIDE)
        return pdl_error(PDL_ERR_FORMAT, "%s: raw record of bad size %dx%d", name, w, h);
    if (channels && channels != c)
        return pdl_error(PDL_ERR_SHAPE, "%s: raw record has %d channel%s, expected %d", name, c,
                         c == 1 ? "" : "s", channels);
    size_t plane = (size_t)w * (size_t)h;
    if (datum->data.len != plane * (size_t)c)
        return pdl_error(PDL_ERR_FORMAT,
                         "%s: raw record of %dx%dx%d holds %zu bytes, expected %zu", name, c, h,
                         w, datum->data.len, plane * (size_t)c);
    pdl_status status = fit_image(img, w, h, c);
    if (status != PDL_OK)
        return status;
    swap_planes(datum->data.data, img->data, c, plane);
    return PDL_OK;
}

static pdl_status decode_encoded(const Caffe__Datum *datum, int channels, const char *name,
                                 pdl_image *img, pdl_datum_encoding *encoding)
{
    pdl_image_format format = pdl_image_sniff(datum->data.data, datum->data.len);
    *encoding = format == PDL_IMAGE_JPEG ? PDL_DATUM_JPEG : PDL_DATUM_PNG;
    pdl_image decoded = {0};
    pdl_status status =
        pdl_image_decode(datum->data.data, datum->data.len, channels, name, &decoded);
    if (status != PDL_OK)
        return status;
    if (img->data && img->width == decoded.width && img->height == decoded.height &&
        img->channels == decoded.channels) {
        memcpy(img->data, decoded.data,
               (size_t)decoded.width * (size_t)decoded.height * (size_t)decoded.channels);
        pdl_image_free(&decoded);
    } else {
        pdl_image_free(img);
        *img = decoded;
    }
    return PDL_OK;
}

pdl_status pdl_datum_decode(const void *bytes, size_t size, int channels, const char *name,
                            pdl_image *img, pdl_datum_meta *meta)
{
    Caffe__Datum *datum = caffe__datum__unpack(NULL, size, bytes);
    if (!datum)
        return pdl_error(PDL_ERR_FORMAT, "%s: not a Caffe Datum record (bad protobuf, %zu bytes)",
                         name, size);
    pdl_status status = PDL_OK;
    meta->label = datum->has_label ? datum->label : 0;
    meta->encoding = PDL_DATUM_RAW;
    if (!datum->has_data || datum->data.len == 0) {
        status = datum->n_float_data
                     ? pdl_error(PDL_ERR_UNSUPPORTED,
                                 "%s: record holds float_data, not image bytes", name)
                     : pdl_error(PDL_ERR_FORMAT, "%s: record has no image data", name);
    } else if (datum->encoded) {
        status = decode_encoded(datum, channels, name, img, &meta->encoding);
    } else {
        status = decode_raw(datum, channels, name, img);
    }
    caffe__datum__free_unpacked(datum, NULL);
    return status;
}

/* A base-128 varint at *p (before end); false when it runs off the end or past 10 bytes. */
static bool read_varint(const uint8_t **p, const uint8_t *end, uint64_t *value)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 70 && *p < end; shift += 7) {
        uint8_t byte = *(*p)++;
        v |= (uint64_t)(byte & 0x7f) << shift;
        if (!(byte & 0x80)) {
            *value = v;
            return true;
        }
    }
    return false;
}

pdl_status pdl_datum_label(const void *bytes, size_t size, const char *name, int32_t *label)
{
    const uint8_t *p = bytes, *end = p + size;
    int32_t found = 0;
    while (p < end) {
        uint64_t tag = 0, value = 0;
        if (!read_varint(&p, end, &tag))
            goto bad;
        switch (tag & 7) {
        case 0: /* varint */
            if (!read_varint(&p, end, &value))
                goto bad;
            if (tag >> 3 == 5)
                found = (int32_t)(uint32_t)value;
            break;
        case 1: /* 64-bit */
            if (end - p < 8)
                goto bad;
            p += 8;
            break;
        case 2: /* length-delimited */
            if (!read_varint(&p, end, &value) || value > (uint64_t)(end - p))
                goto bad;
            p += value;
            break;
        case 5: /* 32-bit */
            if (end - p < 4)
                goto bad;
            p += 4;
            break;
        default:
            goto bad;
        }
    }
    *label = found;
    return PDL_OK;
bad:
    return pdl_error(PDL_ERR_FORMAT, "%s: not a Caffe Datum record (bad protobuf at byte %td)",
                     name, p - (const uint8_t *)bytes);
}

/* Reads a whole (small) file into malloc'ed memory. */
static pdl_status read_file(const char *path, long limit, uint8_t **data, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return pdl_error_errno("cannot open", path);
    uint8_t *buf = NULL;
    pdl_status status = PDL_OK;
    long len = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    if (len < 0 || fseek(f, 0, SEEK_SET) != 0) {
        status = pdl_error_errno("cannot read", path);
        goto done;
    }
    if (len > limit) {
        status = pdl_error(PDL_ERR_FORMAT, "'%s' has %ld bytes, more than the %ld allowed", path,
                           len, limit);
        goto done;
    }
    buf = malloc((size_t)len + 1);
    if (!buf) {
        status = pdl_error(PDL_ERR_NOMEM, "'%s': out of memory", path);
        goto done;
    }
    if (fread(buf, 1, (size_t)len, f) != (size_t)len) {
        status = ferror(f) ? pdl_error_errno("cannot read", path)
                           : pdl_error(PDL_ERR_FORMAT, "'%s' shrank while being read", path);
        goto done;
    }
    *data = buf;
    *size = (size_t)len;
    buf = NULL;
done:
    free(buf);
    fclose(f);
    return status;
}

/* (C, H, W) of a mean blob: the shape field when present (1xCxHxW, CxHxW or HxW), else the
 * legacy num/channels/height/width fields. */
static pdl_status blob_dims(const Caffe__BlobProto *blob, const char *path, int64_t dims[3])
{
    int64_t d[4] = {1, 1, 1, 1};
    size_t n = 0;
    if (blob->shape && blob->shape->n_dim) {
        n = blob->shape->n_dim;
        if (n < 2 || n > 4)
            return pdl_error(PDL_ERR_FORMAT, "mean file '%s': blob has %zu dimensions", path, n);
        for (size_t i = 0; i < n; i++)
            d[4 - n + i] = blob->shape->dim[i];
    } else {
        d[0] = blob->has_num ? blob->num : 1;
        d[1] = blob->channels;
        d[2] = blob->height;
        d[3] = blob->width;
    }
    if (d[0] > 1)
        return pdl_error(PDL_ERR_FORMAT, "mean file '%s' holds %lld images, expected one", path,
                         (long long)d[0]);
    if ((d[1] != 1 && d[1] != 3) || d[2] < 1 || d[3] < 1 || d[2] > PDL_IMAGE_MAX_SIDE ||
        d[3] > PDL_IMAGE_MAX_SIDE)
        return pdl_error(PDL_ERR_FORMAT,
                         "mean file '%s': bad shape (%lld, %lld, %lld); expected 1 or 3 channels",
                         path, (long long)d[1], (long long)d[2], (long long)d[3]);
    memcpy(dims, d + 1, 3 * sizeof *dims);
    return PDL_OK;
}

pdl_status pdl_mean_load(const char *path, float **mean, pdl_shape *shape)
{
    *mean = NULL;
    uint8_t *bytes = NULL;
    size_t size = 0;
    pdl_status status = read_file(path, MEAN_FILE_LIMIT, &bytes, &size);
    if (status != PDL_OK)
        return status;
    Caffe__BlobProto *blob = caffe__blob_proto__unpack(NULL, size, bytes);
    float *out = NULL;
    int64_t dims[3];
    if (!blob) {
        status = pdl_error(PDL_ERR_FORMAT, "'%s' is not a Caffe BlobProto mean file", path);
        goto done;
    }
    if ((status = blob_dims(blob, path, dims)) != PDL_OK)
        goto done;
    size_t plane = (size_t)(dims[1] * dims[2]), count = plane * (size_t)dims[0];
    size_t stored = blob->n_data ? blob->n_data : blob->n_double_data;
    if (stored != count) {
        status = pdl_error(PDL_ERR_FORMAT,
                           "mean file '%s' holds %zu values, its shape (%lld, %lld, %lld) "
                           "needs %zu",
                           path, stored, (long long)dims[0], (long long)dims[1],
                           (long long)dims[2], count);
        goto done;
    }
    if (!(out = malloc(count * sizeof *out))) {
        status = pdl_error(PDL_ERR_NOMEM, "mean file '%s': out of memory", path);
        goto done;
    }
    for (size_t c = 0; c < (size_t)dims[0]; c++) {
        size_t from = ((size_t)dims[0] - 1 - c) * plane; /* BGR -> RGB */
        for (size_t i = 0; i < plane; i++)
            out[c * plane + i] = blob->n_data ? blob->data[from + i]
                                              : (float)blob->double_data[from + i];
    }
    *mean = out;
    out = NULL;
    *shape = pdl_shape_make(3, dims);
done:
    free(out);
    if (blob)
        caffe__blob_proto__free_unpacked(blob, NULL);
    free(bytes);
    return status;
}

/* Writes bytes to path through a temporary file renamed into place. */
static pdl_status write_file(const char *path, const uint8_t *bytes, size_t size)
{
    size_t len = strlen(path) + 8;
    char *tmp = malloc(len);
    if (!tmp)
        return pdl_error(PDL_ERR_NOMEM, "'%s': out of memory", path);
    snprintf(tmp, len, "%s.tmp", path);
    pdl_status status = PDL_OK;
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        status = pdl_error_errno("cannot create", tmp);
    } else {
        bool ok = fwrite(bytes, 1, size, f) == size;
        ok = (fclose(f) == 0) && ok;
        if (!ok || rename(tmp, path) != 0) {
            status = pdl_error_errno("cannot write", path);
            remove(tmp);
        }
    }
    free(tmp);
    return status;
}

pdl_status pdl_mean_save(const char *binaryproto, const char *png, const float *mean,
                         const pdl_shape *shape)
{
    PDL_ASSERT(shape->ndim == 3 && (shape->dim[0] == 1 || shape->dim[0] == 3));
    int c = (int)shape->dim[0], h = (int)shape->dim[1], w = (int)shape->dim[2];
    size_t plane = (size_t)h * (size_t)w, count = plane * (size_t)c;
    pdl_image img = {0};
    float *bgr = malloc(count * sizeof *bgr);
    uint8_t *bytes = NULL;
    pdl_status status = bgr ? pdl_image_alloc(&img, w, h, c)
                            : pdl_error(PDL_ERR_NOMEM, "mean file '%s': out of memory",
                                        binaryproto);
    if (status != PDL_OK)
        goto done;
    for (size_t i = 0; i < count; i++) {
        float v = rintf(mean[i]);
        img.data[i] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
    }
    for (int ch = 0; ch < c; ch++)
        for (size_t i = 0; i < plane; i++)
            bgr[(size_t)ch * plane + i] = img.data[(size_t)(c - 1 - ch) * plane + i];
    Caffe__BlobProto blob = CAFFE__BLOB_PROTO__INIT;
    blob.has_num = blob.has_channels = blob.has_height = blob.has_width = true;
    blob.num = 1;
    blob.channels = c;
    blob.height = h;
    blob.width = w;
    blob.n_data = count;
    blob.data = bgr;
    size_t size = caffe__blob_proto__get_packed_size(&blob);
    if (!(bytes = malloc(size))) {
        status = pdl_error(PDL_ERR_NOMEM, "mean file '%s': out of memory", binaryproto);
        goto done;
    }
    caffe__blob_proto__pack(&blob, bytes);
    status = write_file(binaryproto, bytes, size);
    if (status == PDL_OK && png)
        status = pdl_image_write_png(&img, png);
done:
    free(bytes);
    free(bgr);
    pdl_image_free(&img);
    return status;
}
