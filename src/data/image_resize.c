/* Resampling of 8-bit planar images: area averaging on an axis that shrinks (antialiasing),
 * bilinear interpolation (pixel centers, edges clamped) on an axis that grows, as two separable
 * fixed-point passes with weights precomputed per output row and column; DIGITS' four resize
 * modes on top. Owns no decoding and no augmentation. */
#include "core/error.h"
#include "core/rng.h"
#include "data/image.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Fixed point: weights carry WEIGHT_BITS fraction bits and sum exactly to 1 << WEIGHT_BITS (so a
 * constant stays exactly constant); the vertical pass keeps TMP_BITS fraction bits. Sums stay
 * below 2^31: 255 << (WEIGHT_BITS + TMP_BITS) = 2^29.99. */
enum { WEIGHT_BITS = 14, TMP_BITS = 7 };

/* The weights of one axis: output index j takes max_taps source pixels from start[j] on, with
 * weights w[j * max_taps + k]. */
typedef struct axis_weights {
    int *start;
    int32_t *w;
    int max_taps;
} axis_weights;

static void axis_free(axis_weights *a)
{
    free(a->start);
    free(a->w);
}

/* Rounds n real weights (summing to 1) to fixed point summing exactly to 1 << WEIGHT_BITS: the
 * rounding error goes to the largest weight. */
static void quantize(const double *real, int n, int32_t *w)
{
    int32_t sum = 0;
    int big = 0;
    for (int k = 0; k < n; k++) {
        w[k] = (int32_t)lround(real[k] * (1 << WEIGHT_BITS));
        sum += w[k];
        big = w[k] > w[big] ? k : big;
    }
    w[big] += (1 << WEIGHT_BITS) - sum;
}

/* Weights for outputs off .. off + n - 1 of a virtual resampling of src_n pixels to virt_n.
 * Shrinking: output v covers the source interval [v, v + 1) * src_n / virt_n and each source
 * pixel weighs its overlap (exact integer arithmetic in units of 1 / virt_n). Growing: source
 * position (v + 0.5) * src_n / virt_n - 0.5, clamped to the edge pixels, two taps. */
static pdl_status axis_init(axis_weights *a, int64_t src_n, int64_t virt_n, int64_t off, int n)
{
    bool shrink = virt_n < src_n;
    int64_t taps = shrink ? (src_n + virt_n - 1) / virt_n + 1 : 2;
    a->max_taps = (int)(taps < src_n ? taps : src_n);
    a->start = malloc((size_t)n * sizeof *a->start);
    a->w = calloc((size_t)n * (size_t)a->max_taps, sizeof *a->w);
    double *real = malloc((size_t)taps * sizeof *real); /* taps >= 2 before the clamp */
    pdl_status status = PDL_OK;
    if (!a->start || !a->w || !real) {
        status = pdl_error(PDL_ERR_NOMEM, "out of memory for resize weights (%d outputs)", n);
        goto fail;
    }
    for (int j = 0; j < n; j++) {
        int64_t v = off + j, first, count;
        if (shrink) {
            int64_t lo = v * src_n, hi = (v + 1) * src_n; /* the interval times virt_n */
            first = lo / virt_n;
            count = (hi + virt_n - 1) / virt_n - first;
            for (int64_t i = first; i < first + count; i++) {
                int64_t a_lo = i * virt_n > lo ? i * virt_n : lo;
                int64_t a_hi = (i + 1) * virt_n < hi ? (i + 1) * virt_n : hi;
                real[i - first] = (double)(a_hi - a_lo) / (double)src_n;
            }
        } else {
            double pos = ((double)v + 0.5) * (double)src_n / (double)virt_n - 0.5;
            pos = pos < 0 ? 0 : pos > (double)(src_n - 1) ? (double)(src_n - 1) : pos;
            first = (int64_t)pos;
            count = first + 1 < src_n ? 2 : 1;
            real[0] = 1.0 - (pos - (double)first);
            real[1] = pos - (double)first;
        }
        /* Every output gets max_taps taps (zero weights pad), the window inside the source, so
         * that the inner loops have a fixed trip count. */
        int64_t shift = first + a->max_taps > src_n ? first + a->max_taps - src_n : 0;
        a->start[j] = (int)(first - shift);
        quantize(real, (int)count, a->w + (size_t)j * (size_t)a->max_taps + shift);
    }
fail:
    free(real);
    return status;
}

/* The vertical pass of one output row over the source columns c0 .. c0 + n - 1: taps source
 * rows from s on (stride bytes apart) weighted by wy, into row (n), TMP_BITS fraction bits. */
static void vertical_row(const uint8_t *restrict s, size_t stride, const int32_t *restrict wy,
                         int taps, int n, int32_t *restrict row)
{
    for (int i = 0; i < n; i++)
        row[i] = (1 << (WEIGHT_BITS - TMP_BITS - 1)) + wy[0] * s[i];
    for (int k = 1; k < taps; k++) {
        const uint8_t *restrict sk = s + (size_t)k * stride;
        int32_t wk = wy[k];
        for (int i = 0; i < n; i++)
            row[i] += wk * sk[i];
    }
    for (int i = 0; i < n; i++)
        row[i] >>= WEIGHT_BITS - TMP_BITS;
}

/* The horizontal pass of one output row of all channels at once (the weights are loaded once
 * for the channels), inlined with channels and taps constants: rows holds each channel's
 * vertical-pass row (stride apart) from column c0 on; d receives w bytes in each of the
 * channels' planes (out_plane apart). */
static inline void horizontal_taps(const int32_t *restrict rows, size_t stride, int channels,
                                   int c0, const int *restrict start, const int32_t *restrict wt,
                                   int taps, int w, uint8_t *restrict d, size_t out_plane)
{
    for (int j = 0; j < w; j++) {
        const int32_t *wj = wt + (size_t)j * (size_t)taps;
        const int32_t *sj = rows + (start[j] - c0);
        for (int c = 0; c < channels; c++) {
            int32_t sum = 1 << (WEIGHT_BITS + TMP_BITS - 1);
            for (int k = 0; k < taps; k++)
                sum += wj[k] * sj[(size_t)c * stride + (size_t)k];
            sum >>= WEIGHT_BITS + TMP_BITS;
            d[(size_t)c * out_plane + (size_t)j] = (uint8_t)(sum > 255 ? 255 : sum);
        }
    }
}

static void horizontal_row(const int32_t *rows, size_t stride, int channels, int c0,
                           const axis_weights *a, int w, uint8_t *d, size_t out_plane)
{
#define HORIZONTAL(ch, taps) \
    horizontal_taps(rows, stride, ch, c0, a->start, a->w, taps, w, d, out_plane)
    switch (a->max_taps * 4 + channels) {
    case 1 * 4 + 1: HORIZONTAL(1, 1); break;
    case 2 * 4 + 1: HORIZONTAL(1, 2); break;
    case 3 * 4 + 1: HORIZONTAL(1, 3); break;
    case 4 * 4 + 1: HORIZONTAL(1, 4); break;
    case 1 * 4 + 3: HORIZONTAL(3, 1); break;
    case 2 * 4 + 3: HORIZONTAL(3, 2); break;
    case 3 * 4 + 3: HORIZONTAL(3, 3); break;
    case 4 * 4 + 3: HORIZONTAL(3, 4); break;
    default: HORIZONTAL(channels, a->max_taps); break;
    }
#undef HORIZONTAL
}

/* Writes the w x h window at (x0, y0) of src resampled to virt_w x virt_h into out at (ox, oy).
 * src is (C, Hs, Ws), out is (C, H, W) with the same C. Vertical pass first, one output row
 * (all channels) at a time, so that the costlier horizontal pass runs on output rows only. */
static pdl_status resample(const pdl_image *src, int64_t virt_w, int64_t virt_h, int64_t x0,
                           int64_t y0, int w, int h, pdl_image *out, int ox, int oy)
{
    size_t stride = (size_t)src->width, src_plane = stride * (size_t)src->height;
    size_t out_plane = (size_t)out->width * (size_t)out->height;
    if (virt_w == src->width && virt_h == src->height) { /* no resampling: a copy */
        for (int c = 0; c < src->channels; c++)
            for (int y = 0; y < h; y++)
                memcpy(out->data + (size_t)c * out_plane + (size_t)(oy + y) * out->width + ox,
                       src->data + (size_t)c * src_plane + (size_t)(y0 + y) * stride + x0,
                       (size_t)w);
        return PDL_OK;
    }
    axis_weights ax = {0}, ay = {0};
    int32_t *row = NULL;
    pdl_status status = axis_init(&ax, src->width, virt_w, x0, w);
    if (status == PDL_OK)
        status = axis_init(&ay, src->height, virt_h, y0, h);
    if (status != PDL_OK)
        goto fail;
    /* Only the source columns that some output column reads go through the vertical pass. */
    int c0 = ax.start[0], n = ax.start[w - 1] + ax.max_taps - c0;
    row = malloc((size_t)n * (size_t)src->channels * sizeof *row); /* (C, n) */
    if (!row) {
        status = pdl_error(PDL_ERR_NOMEM, "out of memory resizing %dx%d to %dx%d", src->width,
                           src->height, w, h);
        goto fail;
    }
    for (int y = 0; y < h; y++) {
        for (int c = 0; c < src->channels; c++)
            vertical_row(src->data + (size_t)c * src_plane + (size_t)ay.start[y] * stride + c0,
                         stride, ay.w + (size_t)y * (size_t)ay.max_taps, ay.max_taps, n,
                         row + (size_t)c * (size_t)n);
        horizontal_row(row, (size_t)n, src->channels, c0, &ax, w,
                       out->data + (size_t)(oy + y) * out->width + ox, out_plane);
    }
fail:
    axis_free(&ax);
    axis_free(&ay);
    free(row);
    return status;
}

pdl_status pdl_image_scale(const pdl_image *src, int width, int height, pdl_image *out)
{
    memset(out, 0, sizeof *out);
    if (!src->data || src->width <= 0 || src->height <= 0)
        return pdl_error(PDL_ERR_INVALID, "cannot scale an empty image");
    pdl_status status = pdl_image_alloc(out, width, height, src->channels);
    if (status == PDL_OK)
        status = resample(src, width, height, 0, 0, width, height, out, 0, 0);
    if (status != PDL_OK)
        pdl_image_free(out);
    return status;
}

/* round(num / den) for num, den > 0, halves away from zero (Python 2's round, as DIGITS ran). */
static int64_t div_round(int64_t num, int64_t den) { return (2 * num + den) / (2 * den); }

/* Where DIGITS' resize puts things: the source is resized to virt_w x virt_h, the window of
 * w x h at (x0, y0) of that is placed at (ox, oy) of the output; the rest of the output is
 * noise. */
typedef struct resize_plan {
    int64_t virt_w, virt_h, x0, y0;
    int w, h, ox, oy;
} resize_plan;

/* DIGITS' digits/utils/image.py resize_image, in integers. wide: the source is relatively wider
 * than the target (width ratio > height ratio). Sizes that DIGITS would round to 0 become 1. */
static resize_plan plan_resize(int64_t sw, int64_t sh, int tw, int th, pdl_resize_mode mode)
{
    resize_plan p = {tw, th, 0, 0, tw, th, 0, 0};
    bool wide = sw * th > sh * tw;
    if (mode == PDL_RESIZE_SQUASH || sw * th == sh * tw)
        return p;
    if (mode == PDL_RESIZE_CROP || mode == PDL_RESIZE_FILL) {
        /* crop scales by the smaller ratio (covers), fill by the larger one (fits) */
        bool by_height = wide == (mode == PDL_RESIZE_CROP);
        if (by_height)
            p.virt_w = div_round(sw * th, sh);
        else
            p.virt_h = div_round(sh * tw, sw);
    } else {
        /* half_crop: the mean ratio (sw / tw + sh / th) / 2 */
        int64_t den = sw * th + sh * tw;
        p.virt_w = div_round(2 * sw * tw * th, den);
        p.virt_h = div_round(2 * sh * tw * th, den);
    }
    p.virt_w = p.virt_w < 1 ? 1 : p.virt_w;
    p.virt_h = p.virt_h < 1 ? 1 : p.virt_h;
    if (mode != PDL_RESIZE_CROP) {
        /* the short axis is padded equally on both sides: make its slack even */
        if (wide && (th - p.virt_h) % 2)
            p.virt_h++;
        if (!wide && (tw - p.virt_w) % 2)
            p.virt_w++;
    }
    if (mode != PDL_RESIZE_FILL) {
        /* the long axis overflows: take its center, rounding half up */
        if (wide)
            p.x0 = (p.virt_w - tw + 1) / 2;
        else
            p.y0 = (p.virt_h - th + 1) / 2;
    }
    if (wide) {
        p.h = p.virt_h < th ? (int)p.virt_h : th;
        p.oy = (th - p.h) / 2;
    } else {
        p.w = p.virt_w < tw ? (int)p.virt_w : tw;
        p.ox = (tw - p.w) / 2;
    }
    return p;
}

/* Uniform noise in [0, 255] outside the rectangle (ox, oy, w, h) of out. The byte of pixel
 * i = (c * H + y) * W + x is byte i % 8 (from the least significant) of
 * pdl_rng_u64(seed, stream, i / 8): one draw serves 8 pixels. */
static void fill_noise(pdl_image *out, const resize_plan *p, uint64_t seed, uint64_t stream)
{
    int W = out->width, H = out->height;
    uint64_t block = UINT64_MAX, bits = 0;
    for (int c = 0; c < out->channels; c++)
        for (int y = 0; y < H; y++) {
            bool row_inside = y >= p->oy && y < p->oy + p->h;
            uint64_t base = ((uint64_t)c * (uint64_t)H + (uint64_t)y) * (uint64_t)W;
            uint8_t *d = out->data + base;
            for (int x = 0; x < W; x++) {
                if (row_inside && x == p->ox) {
                    x += p->w - 1;
                    continue;
                }
                uint64_t i = base + (uint64_t)x;
                if (i / 8 != block) {
                    block = i / 8;
                    bits = pdl_rng_u64(seed, stream, block);
                }
                d[x] = (uint8_t)(bits >> (i % 8 * 8));
            }
        }
}

pdl_status pdl_image_resize(const pdl_image *src, int width, int height, pdl_resize_mode mode,
                            uint64_t seed, uint64_t stream, pdl_image *out)
{
    memset(out, 0, sizeof *out);
    if (!src->data || src->width <= 0 || src->height <= 0)
        return pdl_error(PDL_ERR_INVALID, "cannot resize an empty image");
    if ((int)mode < PDL_RESIZE_SQUASH || (int)mode > PDL_RESIZE_HALF_CROP)
        return pdl_error(PDL_ERR_INVALID, "unknown resize mode %d", (int)mode);
    pdl_status status = pdl_image_alloc(out, width, height, src->channels);
    if (status != PDL_OK)
        return status;
    resize_plan p = plan_resize(src->width, src->height, width, height, mode);
    status = resample(src, p.virt_w, p.virt_h, p.x0, p.y0, p.w, p.h, out, p.ox, p.oy);
    if (status != PDL_OK) {
        pdl_image_free(out);
        return status;
    }
    if (p.w < width || p.h < height)
        fill_noise(out, &p, seed, stream);
    return PDL_OK;
}
