/* Binary PGM (P5) and PPM (P6) decoding: header with comments, maxval 1-65535 (scaled to 8
 * bits; two bytes a sample, big-endian, above 255). Only the first image of a file is read; the
 * ASCII variants (P2, P3) and bitmaps (P1, P4) are not supported. */
#include "core/error.h"
#include "data/image_codec.h"

#include <stdlib.h>

enum { PNM_MAX_NUMBER = 1 << 30 };

typedef struct pnm_reader {
    const uint8_t *p, *end;
} pnm_reader;

static int is_space(uint8_t c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' ||
                                        c == '\v' || c == '\f'; }

/* Skips white space and '#' comments, then reads a decimal number; -1 when there is none. */
static int64_t read_number(pnm_reader *r)
{
    while (r->p < r->end && (is_space(*r->p) || *r->p == '#')) {
        if (*r->p == '#')
            while (r->p < r->end && *r->p != '\n' && *r->p != '\r')
                r->p++;
        else
            r->p++;
    }
    int64_t v = -1;
    while (r->p < r->end && *r->p >= '0' && *r->p <= '9') {
        v = (v < 0 ? 0 : v) * 10 + (*r->p - '0');
        r->p++;
        if (v > PNM_MAX_NUMBER)
            return -1;
    }
    return v;
}

pdl_status pdl_image_decode_pnm(const uint8_t *bytes, size_t size, int channels, const char *name,
                                pdl_image *out)
{
    pnm_reader r = {bytes + 2, bytes + size};
    int file_channels = bytes[1] == '6' ? 3 : 1;
    int64_t width = read_number(&r), height = read_number(&r), maxval = read_number(&r);
    if (width < 0 || height < 0 || maxval < 0 || r.p >= r.end || !is_space(*r.p))
        return pdl_error(PDL_ERR_FORMAT, "'%s': bad PNM header (width, height and maxval "
                         "expected after P%c)", name, bytes[1]);
    r.p++; /* the single white-space character before the pixels */
    if (maxval < 1 || maxval > 65535)
        return pdl_error(PDL_ERR_FORMAT, "'%s': bad PNM maxval %lld (1 to 65535)", name,
                         (long long)maxval);
    pdl_status status = pdl_image_check_size(width, height, name);
    if (status != PDL_OK)
        return status;
    int sample_bytes = maxval > 255 ? 2 : 1;
    size_t row_bytes = (size_t)width * (size_t)file_channels * (size_t)sample_bytes;
    size_t need = row_bytes * (size_t)height, have = (size_t)(r.end - r.p);
    if (have < need)
        return pdl_error(PDL_ERR_FORMAT, "'%s': truncated PNM: %zu bytes of pixels, %zu expected",
                         name, have, need);
    status = pdl_image_begin(out, (int)width, (int)height, file_channels, channels, name);
    if (status != PDL_OK)
        return status;
    if (maxval == 255) {
        for (int y = 0; y < (int)height; y++)
            pdl_image_put_row(out, y, r.p + (size_t)y * row_bytes, file_channels);
        return PDL_OK;
    }
    size_t samples = (size_t)width * (size_t)file_channels;
    uint8_t *row = malloc(samples);
    if (!row) {
        pdl_image_free(out);
        return pdl_error(PDL_ERR_NOMEM, "'%s': out of memory for a PNM row", name);
    }
    uint32_t m = (uint32_t)maxval;
    for (int y = 0; y < (int)height; y++) {
        const uint8_t *s = r.p + (size_t)y * row_bytes;
        for (size_t i = 0; i < samples; i++) {
            uint32_t v = sample_bytes == 2 ? (uint32_t)s[2 * i] << 8 | s[2 * i + 1] : s[i];
            v = v < m ? v : m;
            row[i] = (uint8_t)((v * 255u + m / 2) / m);
        }
        pdl_image_put_row(out, y, row, file_channels);
    }
    free(row);
    return PDL_OK;
}
