/* Caffe Datum records and mean BlobProto files <-> pdl images (src/data/image.h). Owns the
 * byte layout Caffe and DIGITS use: raw color records are BGR planar (C, H, W), encoded records
 * hold a PNG or JPEG file of the image; mean files hold BGR (C, H, W) floats. Knows nothing of
 * LMDB or datasets. */
#ifndef PDL_DATA_DATUM_H
#define PDL_DATA_DATUM_H

#include "data/image.h"
#include "pdl/status.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum pdl_datum_encoding {
    PDL_DATUM_RAW = 0, /* "none": the pixels themselves */
    PDL_DATUM_PNG,
    PDL_DATUM_JPEG,
} pdl_datum_encoding;

/* "none", "png", "jpg" (also "jpeg", "raw") -> encoding; false for another name. */
bool pdl_datum_encoding_parse(const char *name, pdl_datum_encoding *out);
/* "none", "png" or "jpg". */
const char *pdl_datum_encoding_name(pdl_datum_encoding encoding);

/* Serializes img (channels 1 or 3, RGB) with label as a Datum: channels, height, width and label
 * are always set; raw records hold (C, H, W) bytes in BGR order for color, encoded ones a PNG
 * (compression level png_level) or JPEG (quality jpeg_quality) file and encoded = true.
 * *bytes is malloc'ed; the caller frees it. */
pdl_status pdl_datum_encode(const pdl_image *img, int32_t label, pdl_datum_encoding encoding,
                            int png_level, int jpeg_quality, uint8_t **bytes, size_t *size);

typedef struct pdl_datum_meta {
    int32_t label;
    pdl_datum_encoding encoding; /* of the stored bytes (sniffed for encoded records) */
} pdl_datum_meta;

/* Decodes Datum bytes into img and meta. channels 0 keeps the record's channels; 1 or 3 converts
 * an encoded record and must equal a raw record's. When img->data is set and the record has
 * img's size and channels, the pixels are written into that memory; otherwise img is freed and
 * allocated again. Errors (bad protobuf, float-only records, sizes that do not match the bytes,
 * bad image files) name name. */
pdl_status pdl_datum_decode(const void *bytes, size_t size, int channels, const char *name,
                            pdl_image *img, pdl_datum_meta *meta);

/* The label of Datum bytes (0 when unset, as in Caffe), read from the protobuf wire format
 * without touching the pixels. */
pdl_status pdl_datum_label(const void *bytes, size_t size, const char *name, int32_t *label);

#endif
