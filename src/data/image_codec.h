/* Internal to the image files (src/data/image*.c): the per-format decoders behind
 * pdl_image_decode, and the size check and row conversions they share. Not part of the public
 * API; datasets and the loader use image.h only. */
#ifndef PDL_DATA_IMAGE_CODEC_H
#define PDL_DATA_IMAGE_CODEC_H

#include "data/image.h"

/* Each decodes a file already sniffed as its format (see pdl_image_decode for the arguments). */
pdl_status pdl_image_decode_png(const uint8_t *bytes, size_t size, int channels, const char *name,
                                pdl_image *out);
pdl_status pdl_image_decode_jpeg(const uint8_t *bytes, size_t size, int channels,
                                 const char *name, pdl_image *out);
pdl_status pdl_image_decode_pnm(const uint8_t *bytes, size_t size, int channels, const char *name,
                                pdl_image *out);

/* PDL_ERR_UNSUPPORTED naming name when width x height is beyond PDL_IMAGE_MAX_SIDE /
 * PDL_IMAGE_MAX_PIXELS, PDL_ERR_FORMAT when a side is not positive; called on the header's
 * claim before any pixel memory is allocated. */
pdl_status pdl_image_check_size(int64_t width, int64_t height, const char *name);
/* Allocates out for a file of file_channels (1 gray, 3 color) decoded to channels (0 keeps the
 * file's); the size must have passed pdl_image_check_size. */
pdl_status pdl_image_begin(pdl_image *out, int width, int height, int file_channels, int channels,
                           const char *name);
/* Stores row y of interleaved pixels with file_channels (1 or 3) into out's planes, converting
 * color to gray (PIL's L) or gray to color (replicated) as out->channels asks. row is (W, fc). */
void pdl_image_put_row(pdl_image *out, int y, const uint8_t *row, int file_channels);
/* Interleaves row y of img into row, which is (W, C). */
void pdl_image_get_row(const pdl_image *img, int y, uint8_t *row);
/* ITU-R 601 luma exactly as PIL's convert("L"): (R*19595 + G*38470 + B*7471 + 0x8000) >> 16. */
static inline uint8_t pdl_image_luma(unsigned r, unsigned g, unsigned b)
{
    return (uint8_t)((r * 19595u + g * 38470u + b * 7471u + 0x8000u) >> 16);
}

#endif
