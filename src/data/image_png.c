/* PNG decoding and encoding with libpng: any bit depth, palette, alpha (dropped) and interlace
 * in, 8-bit gray or RGB out. libpng reports errors by longjmp: each setjmp lives in a function
 * whose only local read after a longjmp (the job) never changes; all that needs cleaning up is
 * held in the job or the output, which the caller frees. */
#include "core/error.h"
#include "data/image_codec.h"

#include <png.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { PNG_CHUNK_MAX_BYTES = 1 << 24 }; /* larger ancillary chunks (text, profiles) are skipped */

typedef struct png_job {
    const char *name;
    char message[256];   /* libpng's error text */
    png_structp png;
    png_infop info;
    const uint8_t *in;   /* decoding: the file */
    size_t in_size, in_pos;
    uint8_t *out;        /* encoding: the growing file */
    size_t out_size, out_cap;
    uint8_t *rows;       /* one interleaved row, or the whole image when interlaced */
} png_job;

static void on_error(png_structp png, png_const_charp msg)
{
    png_job *job = png_get_error_ptr(png);
    snprintf(job->message, sizeof job->message, "%s", msg);
    png_longjmp(png, 1);
}

static void on_warning(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg;
}

static void read_bytes(png_structp png, png_bytep data, size_t n)
{
    png_job *job = png_get_io_ptr(png);
    if (n > job->in_size - job->in_pos)
        png_error(png, "file is truncated");
    memcpy(data, job->in + job->in_pos, n);
    job->in_pos += n;
}

static void write_bytes(png_structp png, png_bytep data, size_t n)
{
    png_job *job = png_get_io_ptr(png);
    if (n > job->out_cap - job->out_size) {
        size_t cap = job->out_cap ? job->out_cap : 4096;
        while (cap - job->out_size < n)
            cap *= 2;
        uint8_t *grown = realloc(job->out, cap);
        if (!grown)
            png_error(png, "out of memory");
        job->out = grown;
        job->out_cap = cap;
    }
    memcpy(job->out + job->out_size, data, n);
    job->out_size += n;
}

static void flush_bytes(png_structp png) { (void)png; }

/* The libpng part of decoding; on failure the caller frees job's buffers and out. */
static pdl_status decode(png_job *job, int channels, pdl_image *out)
{
    png_structp png = job->png;
    png_infop info = job->info;
    if (setjmp(png_jmpbuf(png)))
        return pdl_error(PDL_ERR_FORMAT, "'%s': bad PNG: %s", job->name, job->message);
    png_set_read_fn(png, job, read_bytes);
    png_set_user_limits(png, PNG_UINT_31_MAX, PNG_UINT_31_MAX); /* the size check is ours */
    png_set_chunk_malloc_max(png, PNG_CHUNK_MAX_BYTES);
    png_read_info(png, info);
    png_uint_32 width, height;
    int depth, color, interlace;
    png_get_IHDR(png, info, &width, &height, &depth, &color, &interlace, NULL, NULL);
    pdl_status status = pdl_image_check_size(width, height, job->name);
    if (status != PDL_OK)
        return status;
    if (color == PNG_COLOR_TYPE_PALETTE)
        png_set_palette_to_rgb(png);
    if (color == PNG_COLOR_TYPE_GRAY && depth < 8)
        png_set_expand_gray_1_2_4_to_8(png);
    if (depth == 16)
        png_set_strip_16(png);
    if ((color & PNG_COLOR_MASK_ALPHA) || png_get_valid(png, info, PNG_INFO_tRNS))
        png_set_strip_alpha(png); /* the expansions above turn tRNS into alpha */
    int passes = png_set_interlace_handling(png);
    png_read_update_info(png, info);
    int file_channels = png_get_channels(png, info);
    size_t row_bytes = png_get_rowbytes(png, info);
    if ((file_channels != 1 && file_channels != 3) || row_bytes != (size_t)width * file_channels)
        return pdl_error(PDL_ERR_FORMAT, "'%s': bad PNG: unexpected layout (%d channels)",
                         job->name, file_channels);
    status = pdl_image_begin(out, (int)width, (int)height, file_channels, channels, job->name);
    if (status != PDL_OK)
        return status;
    job->rows = malloc(row_bytes * (passes > 1 ? height : 1));
    if (!job->rows)
        return pdl_error(PDL_ERR_NOMEM, "'%s': out of memory for PNG rows", job->name);
    if (passes > 1) {
        for (int p = 0; p < passes; p++)
            for (png_uint_32 y = 0; y < height; y++)
                png_read_row(png, job->rows + y * row_bytes, NULL);
        for (png_uint_32 y = 0; y < height; y++)
            pdl_image_put_row(out, (int)y, job->rows + y * row_bytes, file_channels);
    } else {
        for (png_uint_32 y = 0; y < height; y++) {
            png_read_row(png, job->rows, NULL);
            pdl_image_put_row(out, (int)y, job->rows, file_channels);
        }
    }
    return PDL_OK;
}

pdl_status pdl_image_decode_png(const uint8_t *bytes, size_t size, int channels, const char *name,
                                pdl_image *out)
{
    png_job job = {.name = name, .in = bytes, .in_size = size};
    job.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &job, on_error, on_warning);
    if (job.png)
        job.info = png_create_info_struct(job.png);
    pdl_status status = job.info ? decode(&job, channels, out)
                                 : pdl_error(PDL_ERR_NOMEM, "'%s': out of memory for libpng", name);
    png_destroy_read_struct(job.png ? &job.png : NULL, job.info ? &job.info : NULL, NULL);
    free(job.rows);
    if (status != PDL_OK)
        pdl_image_free(out);
    return status;
}

/* The libpng part of encoding into job->out; on failure the caller frees job's buffers. */
static pdl_status encode(png_job *job, const pdl_image *img, int level)
{
    png_structp png = job->png;
    png_infop info = job->info;
    if (setjmp(png_jmpbuf(png)))
        return pdl_error(PDL_ERR_NOMEM, "PNG encoding failed: %s", job->message);
    png_set_write_fn(png, job, write_bytes, flush_bytes);
    png_set_compression_level(png, level);
    png_set_IHDR(png, info, (png_uint_32)img->width, (png_uint_32)img->height, 8,
                 img->channels == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < img->height; y++) {
        pdl_image_get_row(img, y, job->rows);
        png_write_row(png, job->rows);
    }
    png_write_end(png, NULL);
    return PDL_OK;
}

pdl_status pdl_image_encode_png(const pdl_image *img, int level, uint8_t **bytes, size_t *size)
{
    *bytes = NULL;
    *size = 0;
    if (level < 0 || level > 9)
        return pdl_error(PDL_ERR_INVALID, "PNG compression level %d is outside [0, 9]", level);
    if (!img->data || (img->channels != 1 && img->channels != 3))
        return pdl_error(PDL_ERR_INVALID, "cannot encode an empty or %d-channel image as PNG",
                         img->channels);
    png_job job = {.name = "PNG"};
    pdl_status status = PDL_OK;
    job.rows = malloc((size_t)img->width * (size_t)img->channels);
    job.png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &job, on_error, on_warning);
    if (job.png)
        job.info = png_create_info_struct(job.png);
    if (!job.rows || !job.info) {
        status = pdl_error(PDL_ERR_NOMEM, "out of memory for PNG encoding");
        goto fail;
    }
    status = encode(&job, img, level);
    if (status != PDL_OK)
        goto fail;
    *bytes = job.out;
    *size = job.out_size;
    job.out = NULL;
fail:
    png_destroy_write_struct(job.png ? &job.png : NULL, job.info ? &job.info : NULL);
    free(job.rows);
    free(job.out);
    return status;
}

pdl_status pdl_image_write_png(const pdl_image *img, const char *path)
{
    uint8_t *bytes = NULL;
    size_t size = 0;
    pdl_status status = pdl_image_encode_png(img, 6, &bytes, &size);
    if (status != PDL_OK)
        return pdl_error_context(status, "'%s'", path);
    FILE *f = fopen(path, "wb");
    if (!f) {
        status = pdl_error_errno("cannot create", path);
    } else {
        bool written = fwrite(bytes, 1, size, f) == size;
        if (fclose(f) != 0 || !written)
            status = pdl_error_errno("cannot write", path);
    }
    free(bytes);
    return status;
}
