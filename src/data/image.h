/* 8-bit images in memory, their decoding from and encoding to files (PNG, JPEG, PGM/PPM) and
 * resizing the DIGITS way. Owns pixels and codecs; knows nothing of datasets, records or
 * augmentation. Pixels are planar (C, H, W), C = 1 (gray) or 3 (RGB, in that order). */
#ifndef PDL_DATA_IMAGE_H
#define PDL_DATA_IMAGE_H

#include "pdl/status.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Images larger than this in either dimension, or with more pixels than PDL_IMAGE_MAX_PIXELS,
 * are refused before any pixel memory is allocated (a header can claim anything). */
#define PDL_IMAGE_MAX_SIDE 32768
#define PDL_IMAGE_MAX_PIXELS ((int64_t)1 << 28)

typedef struct pdl_image {
    int width, height, channels; /* channels is 1 or 3 */
    uint8_t *data;               /* (channels, height, width), owned by the image */
} pdl_image;

typedef enum pdl_image_format {
    PDL_IMAGE_UNKNOWN = 0,
    PDL_IMAGE_PNG,
    PDL_IMAGE_JPEG,
    PDL_IMAGE_PNM, /* binary PGM (P5) or PPM (P6), 8-bit */
} pdl_image_format;

/* DIGITS' resize modes, to a target width x height:
 * SQUASH    stretches to the target, ignoring the aspect ratio;
 * CROP      resizes so that the image covers the target, then crops the center;
 * FILL      resizes so that the image fits inside the target, then fills the rest with noise;
 * HALF_CROP half way between: resizes to fit the average of the fill and crop scales, crops the
 *           overflowing axis in the center and fills the short axis with noise. */
typedef enum pdl_resize_mode {
    PDL_RESIZE_SQUASH = 0,
    PDL_RESIZE_CROP,
    PDL_RESIZE_FILL,
    PDL_RESIZE_HALF_CROP,
} pdl_resize_mode;

/* Allocates a zeroed image (channels 1 or 3, sizes within the limits above). */
pdl_status pdl_image_alloc(pdl_image *img, int width, int height, int channels);
void pdl_image_free(pdl_image *img); /* frees data, leaves the image zeroed; NULL-safe */

/* The format of a file from its first bytes (magic numbers), not its name. */
pdl_image_format pdl_image_sniff(const void *bytes, size_t size);

/* Decodes PNG (any bit depth, palette, alpha, interlace), JPEG (baseline, progressive, gray,
 * CMYK/YCCK converted to RGB as PIL does) or PNM from memory into out (allocated here; the
 * caller frees it). channels: 1 converts to gray (ITU-R 601 luma, as PIL's L), 3 to RGB, 0 keeps
 * the file's (gray stays 1, anything with color becomes 3). Alpha is dropped. name is used in
 * error messages only. A truncated or corrupt file, a zero-byte file, an unknown format or a
 * size beyond the limits is an error naming name and the reason; never a crash. */
pdl_status pdl_image_decode(const void *bytes, size_t size, int channels, const char *name,
                            pdl_image *out);
/* Reads and decodes the file at path (see pdl_image_decode). */
pdl_status pdl_image_read_file(const char *path, int channels, pdl_image *out);

/* Encodes img as PNG (lossless, compression level 0-9) or JPEG (quality 1-100, 4:2:0 for color).
 * *bytes is malloc'ed (the caller frees it), *size its length. */
pdl_status pdl_image_encode_png(const pdl_image *img, int level, uint8_t **bytes, size_t *size);
pdl_status pdl_image_encode_jpeg(const pdl_image *img, int quality, uint8_t **bytes,
                                 size_t *size);
/* Writes img as a PNG file (for exports and tests). */
pdl_status pdl_image_write_png(const pdl_image *img, const char *path);

/* Resizes src to width x height (out allocated here, same channels) with a filter that
 * antialiases when shrinking (area averaging) and interpolates bilinearly when enlarging.
 * FILL and HALF_CROP pad with uniform noise in [0, 255] drawn from pdl_rng(seed, stream, pixel)
 * so that the same (seed, stream) gives the same bits: the byte of output pixel i (the flat
 * (C, H, W) index) is byte i % 8, from the least significant, of pdl_rng_u64(seed, stream, i / 8).
 * docs/datasets.md gives the exact sizes and offsets of each mode. */
pdl_status pdl_image_resize(const pdl_image *src, int width, int height, pdl_resize_mode mode,
                            uint64_t seed, uint64_t stream, pdl_image *out);
/* Plain resampling of the whole image to width x height (the filter above), used by resize and
 * by augmentations such as random resized crops. */
pdl_status pdl_image_scale(const pdl_image *src, int width, int height, pdl_image *out);

/* "squash" -> PDL_RESIZE_SQUASH ...; returns false for an unknown name. */
bool pdl_resize_mode_parse(const char *name, pdl_resize_mode *out);
const char *pdl_resize_mode_name(pdl_resize_mode mode);

#endif
