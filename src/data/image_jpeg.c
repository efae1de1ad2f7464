/* JPEG decoding and encoding with libjpeg(-turbo): baseline and progressive, gray, color and
 * CMYK/YCCK (converted to RGB as PIL does) in; 8-bit gray or RGB out. libjpeg reports errors by
 * longjmp: each setjmp lives in a function whose only local read after a longjmp (the job) never
 * changes; all that needs cleaning up is held in the job or the output, which the caller frees. */
#include "core/error.h"
#include "data/image_codec.h"

#include <setjmp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>

enum {
    JPEG_MAX_SCANS = 256,           /* progressive files with more scans are refused (a DoS) */
    JPEG_OUT_FIRST_BYTES = 1 << 16, /* the encoder's first output buffer */
};
/* libjpeg's own working memory (progressive coefficients) beyond this is refused. */
#define JPEG_MAX_MEMORY ((long)1 << 30)

typedef struct jpeg_job {
    struct jpeg_error_mgr err; /* first: the callbacks find the job from cinfo->err */
    struct jpeg_progress_mgr progress;
    struct jpeg_destination_mgr dest;
    jmp_buf jump;
    const char *name;
    char message[JMSG_LENGTH_MAX];
    uint8_t *row, *rgb_row; /* one interleaved row as read; its RGB conversion (CMYK only) */
    uint8_t *out;           /* encoding: the growing file */
    size_t out_cap;
} jpeg_job;

static void on_error_exit(j_common_ptr cinfo)
{
    jpeg_job *job = (jpeg_job *)cinfo->err;
    (*cinfo->err->format_message)(cinfo, job->message);
    longjmp(job->jump, 1);
}

/* Warnings are silent, except the end of the data in the middle of the image: a truncated file
 * is an error (as PIL has it), not a picture with a gray bottom. */
static void on_emit_message(j_common_ptr cinfo, int level)
{
    if (level < 0 && cinfo->err->msg_code == JWRN_JPEG_EOF)
        on_error_exit(cinfo);
}

static void on_output_message(j_common_ptr cinfo) { (void)cinfo; }

static void on_progress(j_common_ptr cinfo)
{
    if (!cinfo->is_decompressor)
        return;
    j_decompress_ptr d = (j_decompress_ptr)cinfo;
    if (d->input_scan_number > JPEG_MAX_SCANS) {
        jpeg_job *job = (jpeg_job *)cinfo->err;
        snprintf(job->message, sizeof job->message, "more than %d scans", JPEG_MAX_SCANS);
        longjmp(job->jump, 1);
    }
}

static void init_error(jpeg_job *job, j_common_ptr cinfo)
{
    cinfo->err = jpeg_std_error(&job->err);
    job->err.error_exit = on_error_exit;
    job->err.emit_message = on_emit_message;
    job->err.output_message = on_output_message;
}

/* PIL's CMYK to RGB: nk = 255 - k, r = nk - round(c * nk / 255) (its MULDIV255), on ink values;
 * Adobe files store the inks inverted. row is (W, 4), rgb is (W, 3). */
static void cmyk_to_rgb(const uint8_t *row, uint8_t *rgb, int width, bool inverted)
{
    unsigned flip = inverted ? 255u : 0u;
    for (int x = 0; x < width; x++) {
        unsigned nk = 255u - (row[4 * x + 3] ^ flip);
        for (int c = 0; c < 3; c++) {
            unsigned t = (row[4 * x + c] ^ flip) * nk + 128u;
            rgb[3 * x + c] = (uint8_t)(nk - (((t >> 8) + t) >> 8));
        }
    }
}

/* The libjpeg part of decoding; on failure the caller destroys d and frees the rows and out. */
static pdl_status decode(jpeg_job *job, j_decompress_ptr d, const uint8_t *bytes, size_t size,
                         int channels, pdl_image *out)
{
    if (setjmp(job->jump))
        return pdl_error(PDL_ERR_FORMAT, "'%s': bad JPEG: %s", job->name, job->message);
    jpeg_create_decompress(d);
    d->mem->max_memory_to_use = JPEG_MAX_MEMORY;
    d->progress = &job->progress;
    jpeg_mem_src(d, bytes, (unsigned long)size);
    jpeg_read_header(d, TRUE);
    pdl_status status = pdl_image_check_size(d->image_width, d->image_height, job->name);
    if (status != PDL_OK)
        return status;
    bool cmyk = d->jpeg_color_space == JCS_CMYK || d->jpeg_color_space == JCS_YCCK;
    int file_channels = d->jpeg_color_space == JCS_GRAYSCALE ? 1 : 3;
    d->out_color_space = cmyk ? JCS_CMYK : file_channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_start_decompress(d);
    int width = (int)d->output_width;
    status = pdl_image_begin(out, width, (int)d->output_height, file_channels, channels,
                             job->name);
    if (status != PDL_OK)
        return status;
    job->row = malloc((size_t)width * (size_t)d->output_components);
    job->rgb_row = cmyk ? malloc((size_t)width * 3) : NULL;
    if (!job->row || (cmyk && !job->rgb_row))
        return pdl_error(PDL_ERR_NOMEM, "'%s': out of memory for JPEG rows", job->name);
    while (d->output_scanline < d->output_height) {
        int y = (int)d->output_scanline;
        JSAMPROW row = job->row;
        if (jpeg_read_scanlines(d, &row, 1) != 1)
            return pdl_error(PDL_ERR_FORMAT, "'%s': bad JPEG: no data for row %d", job->name, y);
        if (cmyk)
            cmyk_to_rgb(job->row, job->rgb_row, width, d->saw_Adobe_marker);
        pdl_image_put_row(out, y, cmyk ? job->rgb_row : job->row, file_channels);
    }
    return PDL_OK;
}

pdl_status pdl_image_decode_jpeg(const uint8_t *bytes, size_t size, int channels,
                                 const char *name, pdl_image *out)
{
    jpeg_job job = {.name = name};
    struct jpeg_decompress_struct d;
    memset(&d, 0, sizeof d);
    init_error(&job, (j_common_ptr)&d);
    job.progress.progress_monitor = on_progress;
    pdl_status status = decode(&job, &d, bytes, size, channels, out);
    jpeg_destroy_decompress(&d);
    free(job.row);
    free(job.rgb_row);
    if (status != PDL_OK)
        pdl_image_free(out);
    return status;
}

static void dest_init(j_compress_ptr c)
{
    jpeg_job *job = (jpeg_job *)c->err;
    job->out = malloc(JPEG_OUT_FIRST_BYTES);
    if (!job->out)
        ERREXIT1(c, JERR_OUT_OF_MEMORY, 0);
    job->out_cap = JPEG_OUT_FIRST_BYTES;
    job->dest.next_output_byte = job->out;
    job->dest.free_in_buffer = job->out_cap;
}

static boolean dest_grow(j_compress_ptr c)
{
    jpeg_job *job = (jpeg_job *)c->err;
    uint8_t *grown = realloc(job->out, job->out_cap * 2);
    if (!grown)
        ERREXIT1(c, JERR_OUT_OF_MEMORY, 1);
    job->out = grown;
    job->dest.next_output_byte = grown + job->out_cap;
    job->dest.free_in_buffer = job->out_cap;
    job->out_cap *= 2;
    return TRUE;
}

static void dest_term(j_compress_ptr c) { (void)c; }

/* The libjpeg part of encoding into job->out; on failure the caller destroys c and frees. */
static pdl_status encode(jpeg_job *job, j_compress_ptr c, const pdl_image *img, int quality)
{
    if (setjmp(job->jump))
        return pdl_error(PDL_ERR_NOMEM, "JPEG encoding failed: %s", job->message);
    jpeg_create_compress(c);
    job->dest.init_destination = dest_init;
    job->dest.empty_output_buffer = dest_grow;
    job->dest.term_destination = dest_term;
    c->dest = &job->dest;
    c->image_width = (JDIMENSION)img->width;
    c->image_height = (JDIMENSION)img->height;
    c->input_components = img->channels;
    c->in_color_space = img->channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_set_defaults(c); /* YCbCr with 2x2 chroma subsampling: 4:2:0 */
    jpeg_set_quality(c, quality, TRUE);
    jpeg_start_compress(c, TRUE);
    for (int y = 0; y < img->height; y++) {
        pdl_image_get_row(img, y, job->row);
        JSAMPROW row = job->row;
        jpeg_write_scanlines(c, &row, 1);
    }
    jpeg_finish_compress(c);
    return PDL_OK;
}

pdl_status pdl_image_encode_jpeg(const pdl_image *img, int quality, uint8_t **bytes,
                                 size_t *size)
{
    *bytes = NULL;
    *size = 0;
    if (quality < 1 || quality > 100)
        return pdl_error(PDL_ERR_INVALID, "JPEG quality %d is outside [1, 100]", quality);
    if (!img->data || (img->channels != 1 && img->channels != 3))
        return pdl_error(PDL_ERR_INVALID, "cannot encode an empty or %d-channel image as JPEG",
                         img->channels);
    jpeg_job job = {.name = "JPEG"};
    struct jpeg_compress_struct c;
    memset(&c, 0, sizeof c);
    init_error(&job, (j_common_ptr)&c);
    pdl_status status = PDL_OK;
    job.row = malloc((size_t)img->width * (size_t)img->channels);
    if (!job.row) {
        status = pdl_error(PDL_ERR_NOMEM, "out of memory for JPEG encoding");
        goto fail;
    }
    status = encode(&job, &c, img, quality);
    if (status != PDL_OK)
        goto fail;
    *bytes = job.out;
    *size = job.out_cap - job.dest.free_in_buffer;
    job.out = NULL;
fail:
    jpeg_destroy_compress(&c);
    free(job.row);
    free(job.out);
    return status;
}
