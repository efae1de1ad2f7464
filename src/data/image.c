/* 8-bit planar images: allocation, format sniffing, the decode dispatch, reading files, the
 * row conversions shared by the codecs and the resize-mode names. The codecs live in
 * image_png.c, image_jpeg.c and image_pnm.c, resampling in image_resize.c. */
#include "core/error.h"
#include "data/image_codec.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* A file larger than this is refused before it is read (a PPM at the pixel limit is 768 MiB). */
#define IMAGE_MAX_FILE_BYTES ((int64_t)1 << 30)

static const char *const mode_names[] = {"squash", "crop", "fill", "half_crop"};

pdl_status pdl_image_check_size(int64_t width, int64_t height, const char *name)
{
    if (width <= 0 || height <= 0)
        return pdl_error(PDL_ERR_FORMAT, "'%s': image size %lldx%lld is empty", name,
                         (long long)width, (long long)height);
    if (width > PDL_IMAGE_MAX_SIDE || height > PDL_IMAGE_MAX_SIDE ||
        width * height > PDL_IMAGE_MAX_PIXELS)
        return pdl_error(PDL_ERR_UNSUPPORTED,
                         "'%s': image size %lldx%lld is beyond the limits (%d pixels a side, "
                         "%lld pixels)",
                         name, (long long)width, (long long)height, PDL_IMAGE_MAX_SIDE,
                         (long long)PDL_IMAGE_MAX_PIXELS);
    return PDL_OK;
}

pdl_status pdl_image_alloc(pdl_image *img, int width, int height, int channels)
{
    memset(img, 0, sizeof *img);
    if (channels != 1 && channels != 3)
        return pdl_error(PDL_ERR_INVALID, "image channels must be 1 or 3, not %d", channels);
    pdl_status status = pdl_image_check_size(width, height, "new image");
    if (status != PDL_OK)
        return pdl_error(PDL_ERR_INVALID, "%s", pdl_last_error());
    img->data = calloc((size_t)width * (size_t)height * (size_t)channels, 1);
    if (!img->data)
        return pdl_error(PDL_ERR_NOMEM, "out of memory for a %dx%dx%d image", channels, height,
                         width);
    img->width = width;
    img->height = height;
    img->channels = channels;
    return PDL_OK;
}

void pdl_image_free(pdl_image *img)
{
    if (!img)
        return;
    free(img->data);
    memset(img, 0, sizeof *img);
}

pdl_image_format pdl_image_sniff(const void *bytes, size_t size)
{
    static const uint8_t png_magic[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    const uint8_t *b = bytes;
    if (size >= 8 && memcmp(b, png_magic, 8) == 0)
        return PDL_IMAGE_PNG;
    if (size >= 3 && b[0] == 0xff && b[1] == 0xd8 && b[2] == 0xff)
        return PDL_IMAGE_JPEG;
    if (size >= 3 && b[0] == 'P' && (b[1] == '5' || b[1] == '6') &&
        (b[2] == ' ' || b[2] == '\t' || b[2] == '\n' || b[2] == '\r' || b[2] == '#'))
        return PDL_IMAGE_PNM;
    return PDL_IMAGE_UNKNOWN;
}

pdl_status pdl_image_decode(const void *bytes, size_t size, int channels, const char *name,
                            pdl_image *out)
{
    memset(out, 0, sizeof *out);
    if (!name)
        name = "(memory)";
    if (channels != 0 && channels != 1 && channels != 3)
        return pdl_error(PDL_ERR_INVALID, "'%s': channels must be 0, 1 or 3, not %d", name,
                         channels);
    if (size == 0)
        return pdl_error(PDL_ERR_FORMAT, "'%s': empty file (0 bytes)", name);
    switch (pdl_image_sniff(bytes, size)) {
    case PDL_IMAGE_PNG: return pdl_image_decode_png(bytes, size, channels, name, out);
    case PDL_IMAGE_JPEG: return pdl_image_decode_jpeg(bytes, size, channels, name, out);
    case PDL_IMAGE_PNM: return pdl_image_decode_pnm(bytes, size, channels, name, out);
    case PDL_IMAGE_UNKNOWN: break;
    }
    return pdl_error(PDL_ERR_FORMAT, "'%s': not a PNG, JPEG or binary PGM/PPM file (unknown first "
                     "bytes)", name);
}

pdl_status pdl_image_read_file(const char *path, int channels, pdl_image *out)
{
    memset(out, 0, sizeof *out);
    uint8_t *bytes = NULL;
    pdl_status status = PDL_OK;
    FILE *f = fopen(path, "rb");
    if (!f)
        return pdl_error_errno("cannot open", path);
    struct stat st;
    if (fstat(fileno(f), &st) != 0) {
        status = pdl_error_errno("cannot stat", path);
        goto fail;
    }
    if (!S_ISREG(st.st_mode)) {
        status = pdl_error(PDL_ERR_IO, "'%s': not a regular file", path);
        goto fail;
    }
    if ((int64_t)st.st_size > IMAGE_MAX_FILE_BYTES) {
        status = pdl_error(PDL_ERR_UNSUPPORTED, "'%s': file of %lld bytes is beyond the %lld-byte "
                           "limit for images", path, (long long)st.st_size,
                           (long long)IMAGE_MAX_FILE_BYTES);
        goto fail;
    }
    size_t size = (size_t)st.st_size;
    bytes = malloc(size ? size : 1);
    if (!bytes) {
        status = pdl_error(PDL_ERR_NOMEM, "'%s': out of memory for %zu bytes", path, size);
        goto fail;
    }
    errno = 0;
    if (fread(bytes, 1, size, f) != size) {
        status = errno ? pdl_error_errno("cannot read", path)
                       : pdl_error(PDL_ERR_IO, "'%s': file shrank while being read", path);
        goto fail;
    }
    status = pdl_image_decode(bytes, size, channels, path, out);
fail:
    free(bytes);
    fclose(f);
    return status;
}

pdl_status pdl_image_begin(pdl_image *out, int width, int height, int file_channels, int channels,
                           const char *name)
{
    pdl_status status = pdl_image_alloc(out, width, height, channels ? channels : file_channels);
    if (status != PDL_OK)
        return pdl_error(status, "'%s': %s", name, pdl_last_error());
    return PDL_OK;
}

void pdl_image_put_row(pdl_image *out, int y, const uint8_t *row, int file_channels)
{
    size_t plane = (size_t)out->width * (size_t)out->height;
    uint8_t *d0 = out->data + (size_t)y * (size_t)out->width;
    int w = out->width;
    if (file_channels == 1) {
        for (int c = 0; c < out->channels; c++)
            memcpy(d0 + c * plane, row, (size_t)w);
    } else if (out->channels == 3) {
        uint8_t *d1 = d0 + plane, *d2 = d0 + 2 * plane;
        for (int x = 0; x < w; x++) {
            d0[x] = row[3 * x];
            d1[x] = row[3 * x + 1];
            d2[x] = row[3 * x + 2];
        }
    } else {
        for (int x = 0; x < w; x++)
            d0[x] = pdl_image_luma(row[3 * x], row[3 * x + 1], row[3 * x + 2]);
    }
}

void pdl_image_get_row(const pdl_image *img, int y, uint8_t *row)
{
    size_t plane = (size_t)img->width * (size_t)img->height;
    const uint8_t *s0 = img->data + (size_t)y * (size_t)img->width;
    int w = img->width, ch = img->channels;
    for (int c = 0; c < ch; c++)
        for (int x = 0; x < w; x++)
            row[x * ch + c] = s0[c * plane + (size_t)x];
}

bool pdl_resize_mode_parse(const char *name, pdl_resize_mode *out)
{
    for (int i = 0; i < (int)(sizeof mode_names / sizeof mode_names[0]); i++)
        if (name && strcmp(name, mode_names[i]) == 0) {
            *out = (pdl_resize_mode)i;
            return true;
        }
    return false;
}

const char *pdl_resize_mode_name(pdl_resize_mode mode)
{
    if ((int)mode < 0 || (int)mode >= (int)(sizeof mode_names / sizeof mode_names[0]))
        return "unknown";
    return mode_names[mode];
}
