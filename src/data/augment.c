/* Augmentation of one decoded record into the net's input (see augment.h). Plain crops (the
 * region has the output's size, no rotation) copy pixels; everything else resamples the region
 * bilinearly through one affine map, averaging k x k points per output pixel when it shrinks
 * (k = the shrink factor rounded, at most 4) so that it does not alias. Owns no decoding. */
#include "data/augment.h"

#include "core/error.h"
#include "core/rng.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The RNG stream of epoch e's augmentation is AUGMENT_STREAM_BASE + e. */
#define AUGMENT_STREAM_BASE 0x4155474d454e5400ULL /* "AUGMENT\0" */
#define MAX_SUPERSAMPLE 4
#define PI 3.14159265358979323846

/* Draw numbers within a sample's PDL_AUGMENT_DRAWS. */
enum {
    DRAW_Y,
    DRAW_X,
    DRAW_MIRROR,
    DRAW_ANGLE,
    DRAW_BRIGHTNESS,
    DRAW_CONTRAST,
    DRAW_SATURATION,
    DRAW_RESIZED = 8,      /* attempt t uses DRAW_RESIZED + 4t + (area, ratio, top, left) */
    RESIZED_ATTEMPTS = 10, /* as torchvision's RandomResizedCrop */
};

/* Where a sample comes from: the region [x0, x0 + w) x [y0, y0 + h) of the record (whole
 * pixels), flipped left-right when mirror, rotated by angle (radians) about its center. */
typedef struct geometry {
    int y0, x0, h, w;
    bool mirror;
    float angle;
} geometry;

typedef struct draws {
    uint64_t seed, stream, base;
} draws;

static float uniform(const draws *d, int draw)
{
    return pdl_rng_uniform(d->seed, d->stream, d->base + (uint64_t)draw);
}

static int below(const draws *d, int draw, int bound)
{
    return (int)pdl_rng_below(d->seed, d->stream, d->base + (uint64_t)draw, (uint64_t)bound);
}

pdl_status pdl_augment_init(pdl_augment *a, const pdl_data_config *cfg, int channels, int in_h,
                            int in_w, int out_h, int out_w, const float *mean,
                            const pdl_shape *mean_shape, const char *name, const char *mean_name)
{
    memset(a, 0, sizeof *a);
    a->cfg = *cfg;
    a->channels = channels;
    a->in_h = in_h;
    a->in_w = in_w;
    a->out_h = out_h;
    a->out_w = out_w;
    a->crop_h = cfg->crop[0] ? (int)cfg->crop[0] : out_h;
    a->crop_w = cfg->crop[1] ? (int)cfg->crop[1] : out_w;
    bool resized = cfg->resized_crop_scale[1] > 0;
    if (channels != 1 && channels != 3)
        return pdl_error(PDL_ERR_SHAPE, "'%s': records have %d channels (1 or 3 expected)", name,
                         channels);
    if (resized) {
        a->crop_h = a->crop_h < in_h ? a->crop_h : in_h;
        a->crop_w = a->crop_w < in_w ? a->crop_w : in_w;
    } else if (in_h < a->crop_h || in_w < a->crop_w) {
        return pdl_error(PDL_ERR_SHAPE,
                         "'%s': records are %dx%d, smaller than the %dx%d crop (the model's "
                         "input unless [data] crop says otherwise; resized_crop_scale scales "
                         "instead)",
                         name, in_w, in_h, a->crop_w, a->crop_h);
    }
    if (cfg->mean == PDL_MEAN_NONE)
        return PDL_OK;
    char have[64];
    if (!mean || mean_shape->ndim != 3 || mean_shape->dim[0] != channels)
        return pdl_error(PDL_ERR_SHAPE, "'%s': the mean '%s' is %s, the records have %d channels",
                         name, mean_name,
                         mean ? pdl_shape_format(mean_shape, have, sizeof have) : "missing",
                         channels);
    int64_t plane = mean_shape->dim[1] * mean_shape->dim[2];
    if (cfg->mean == PDL_MEAN_PIXEL) {
        for (int c = 0; c < channels; c++) {
            double sum = 0;
            for (int64_t i = 0; i < plane; i++)
                sum += mean[c * plane + i];
            a->mean_pixel[c] = (float)(sum / (double)plane);
        }
        return PDL_OK;
    }
    if (mean_shape->dim[1] != in_h || mean_shape->dim[2] != in_w)
        return pdl_error(PDL_ERR_SHAPE,
                         "'%s': the mean image '%s' is %lldx%lld but the records are %dx%d "
                         "(mean = pixel works with any size)",
                         name, mean_name, (long long)mean_shape->dim[2],
                         (long long)mean_shape->dim[1], in_w, in_h);
    size_t bytes = (size_t)(channels * plane) * sizeof *a->mean;
    if (!(a->mean = malloc(bytes)))
        return pdl_error(PDL_ERR_NOMEM, "'%s': out of memory for the mean image", name);
    memcpy(a->mean, mean, bytes);
    return PDL_OK;
}

void pdl_augment_free(pdl_augment *a)
{
    free(a->mean);
    a->mean = NULL;
}

/* torchvision's RandomResizedCrop.get_params: an area fraction and a log-uniform aspect ratio,
 * up to RESIZED_ATTEMPTS tries, else the whole record cropped to the nearest allowed ratio. */
static void resized_region(const pdl_augment *a, const draws *d, geometry *g)
{
    const float *s = a->cfg.resized_crop_scale, *r = a->cfg.resized_crop_ratio;
    double area = (double)a->in_h * a->in_w;
    for (int t = 0; t < RESIZED_ATTEMPTS; t++) {
        int k = DRAW_RESIZED + 4 * t;
        double target = area * (s[0] + (s[1] - s[0]) * uniform(d, k));
        double log_lo = log(r[0]), log_hi = log(r[1]);
        double ratio = exp(log_lo + (log_hi - log_lo) * uniform(d, k + 1));
        int w = (int)lround(sqrt(target * ratio)), h = (int)lround(sqrt(target / ratio));
        if (w > 0 && w <= a->in_w && h > 0 && h <= a->in_h) {
            g->h = h;
            g->w = w;
            g->y0 = below(d, k + 2, a->in_h - h + 1);
            g->x0 = below(d, k + 3, a->in_w - w + 1);
            return;
        }
    }
    double in_ratio = (double)a->in_w / a->in_h;
    g->w = a->in_w;
    g->h = a->in_h;
    if (in_ratio < r[0])
        g->h = (int)lround(g->w / (double)r[0]);
    else if (in_ratio > r[1])
        g->w = (int)lround(g->h * (double)r[1]);
    g->h = g->h < 1 ? 1 : g->h;
    g->w = g->w < 1 ? 1 : g->w;
    g->y0 = (a->in_h - g->h) / 2;
    g->x0 = (a->in_w - g->w) / 2;
}

static geometry draw_geometry(const pdl_augment *a, const pdl_sample_ctx *ctx, const draws *d)
{
    geometry g = {.h = a->crop_h, .w = a->crop_w};
    if (!ctx) {
        g.y0 = (a->in_h - g.h) / 2;
        g.x0 = (a->in_w - g.w) / 2;
        return g;
    }
    if (a->cfg.resized_crop_scale[1] > 0) {
        resized_region(a, d, &g);
    } else {
        g.y0 = below(d, DRAW_Y, a->in_h - g.h + 1);
        g.x0 = below(d, DRAW_X, a->in_w - g.w + 1);
    }
    g.mirror = a->cfg.mirror && below(d, DRAW_MIRROR, 2);
    if (a->cfg.rotate > 0)
        g.angle = (float)((2.0 * uniform(d, DRAW_ANGLE) - 1.0) * a->cfg.rotate * PI / 180.0);
    return g;
}

/* ---- plain crops ----------------------------------------------------------------------------- */

/* out = (pixel - mean) * scale over the region of g, mirrored when asked. raw: out = pixel. */
static void plain_crop(const pdl_augment *a, const geometry *g, const uint8_t *pixels, bool raw,
                       float *out)
{
    int oh = a->out_h, ow = a->out_w;
    float scale = raw ? 1.0f : a->cfg.scale;
    for (int c = 0; c < a->channels; c++) {
        float m = raw ? 0.0f : a->mean_pixel[c];
        for (int y = 0; y < oh; y++) {
            int64_t at = ((int64_t)c * a->in_h + g->y0 + y) * a->in_w + g->x0;
            const uint8_t *s = pixels + at;
            const float *mean = raw || !a->mean ? NULL : a->mean + at;
            float *o = out + ((int64_t)c * oh + y) * ow;
            if (mean)
                for (int x = 0; x < ow; x++)
                    o[x] = ((float)s[x] - mean[x]) * scale;
            else
                for (int x = 0; x < ow; x++)
                    o[x] = ((float)s[x] - m) * scale;
            /* Mirrored: the row computed forward (that vectorizes), then reversed in cache. */
            for (int x = 0; g->mirror && x < ow / 2; x++) {
                float t = o[x];
                o[x] = o[ow - 1 - x];
                o[ow - 1 - x] = t;
            }
        }
    }
}

/* out = (out - mean) * scale, the mean taken at the pixels plain_crop read. */
static void plain_finish(const pdl_augment *a, const geometry *g, float *out)
{
    int oh = a->out_h, ow = a->out_w;
    for (int c = 0; c < a->channels; c++)
        for (int y = 0; y < oh; y++) {
            int64_t at = ((int64_t)c * a->in_h + g->y0 + y) * a->in_w + g->x0;
            float *o = out + ((int64_t)c * oh + y) * ow;
            for (int x = 0; x < ow; x++) {
                float m = a->mean ? a->mean[at + (g->mirror ? ow - 1 - x : x)] : a->mean_pixel[c];
                o[x] = (o[x] - m) * a->cfg.scale;
            }
        }
}

/* ---- resampling ------------------------------------------------------------------------------ */

/* One (channels, h, w) plane set: 8-bit record pixels or the float mean image. */
typedef struct planes {
    const uint8_t *u8;
    const float *f32;
    int h, w;
    bool fill; /* points outside read as 0 (else the nearest edge) */
} planes;

/* Adds weight * the bilinear sample of each channel at the points (u0 + x du, v0 + x dv),
 * x in [0, ow) (continuous coordinates, pixel centers at +0.5), to row[c * plane + x]. u8
 * selects p->u8 or p->f32: a constant at each call, so each source type gets its own loop. */
static inline void add_row(const planes *p, bool u8, int channels, float u0, float du, float v0,
                           float dv, int ow, float weight, int64_t plane, float *row)
{
    const int w = p->w, h = p->h;
    const int64_t in_plane = (int64_t)h * w;
    for (int x = 0; x < ow; x++) {
        float u = u0 + du * (float)x, v = v0 + dv * (float)x;
        if (p->fill && (u < 0 || v < 0 || u > (float)w || v > (float)h))
            continue;
        float px = u - 0.5f, py = v - 0.5f, fx0 = floorf(px), fy0 = floorf(py);
        float fx = px - fx0, fy = py - fy0;
        int x0 = (int)fx0, y0 = (int)fy0, x1 = x0 + 1, y1 = y0 + 1;
        x0 = x0 < 0 ? 0 : x0 >= w ? w - 1 : x0;
        x1 = x1 < 0 ? 0 : x1 >= w ? w - 1 : x1;
        y0 = y0 < 0 ? 0 : y0 >= h ? h - 1 : y0;
        y1 = y1 < 0 ? 0 : y1 >= h ? h - 1 : y1;
        float w00 = weight * (1 - fx) * (1 - fy), w01 = weight * fx * (1 - fy);
        float w10 = weight * (1 - fx) * fy, w11 = weight * fx * fy;
        int64_t i00 = (int64_t)y0 * w + x0, i01 = (int64_t)y0 * w + x1;
        int64_t i10 = (int64_t)y1 * w + x0, i11 = (int64_t)y1 * w + x1;
        for (int c = 0; c < channels; c++) {
            int64_t b = c * in_plane;
            float value = u8 ? w00 * p->u8[b + i00] + w01 * p->u8[b + i01] + w10 * p->u8[b + i10] +
                                   w11 * p->u8[b + i11]
                             : w00 * p->f32[b + i00] + w01 * p->f32[b + i01] +
                                   w10 * p->f32[b + i10] + w11 * p->f32[b + i11];
            row[c * plane + x] += value;
        }
    }
}

/* Resamples the region of g into the output grid: out = sample (subtract false) or out -=
 * sample (subtract true). Along an output row every sample point moves by a constant step, so
 * each (row, sub-sample) is one add_row. */
static void resample(const pdl_augment *a, const geometry *g, const planes *p, bool subtract,
                     float *out)
{
    int oh = a->out_h, ow = a->out_w, channels = a->channels;
    double sx = (double)g->w / ow, sy = (double)g->h / oh;
    double shrink = sx > sy ? sx : sy;
    int k = (int)(shrink + 0.5); /* below 1.5 plain bilinear loses no pixel */
    k = k < 1 ? 1 : k > MAX_SUPERSAMPLE ? MAX_SUPERSAMPLE : k;
    float weight = (subtract ? -1.0f : 1.0f) / (float)(k * k);
    double cx = g->x0 + g->w / 2.0, cy = g->y0 + g->h / 2.0;
    double cos_a = cos(g->angle), sin_a = sin(g->angle);
    double step = g->mirror ? -sx : sx; /* source x per output pixel, before the rotation */
    int64_t plane = (int64_t)oh * ow;
    if (!subtract)
        memset(out, 0, (size_t)(channels * plane) * sizeof *out);
    for (int y = 0; y < oh; y++)
        for (int j = 0; j < k; j++)
            for (int i = 0; i < k; i++) {
                double off = (i + 0.5) / k; /* the sub-sample within output pixel 0 */
                double xs = g->x0 + (g->mirror ? ow - off : off) * sx - cx;
                double ys = g->y0 + (y + (j + 0.5) / k) * sy - cy;
                float u0 = (float)(cx + cos_a * xs - sin_a * ys);
                float v0 = (float)(cy + sin_a * xs + cos_a * ys);
                float du = (float)(cos_a * step), dv = (float)(sin_a * step);
                float *row = out + (int64_t)y * ow;
                if (p->u8)
                    add_row(p, true, channels, u0, du, v0, dv, ow, weight, plane, row);
                else
                    add_row(p, false, channels, u0, du, v0, dv, ow, weight, plane, row);
            }
}

/* ---- color jitter (torchvision's ColorJitter on [0, 255], in a fixed order) --------------- */

static float clamp255(float v)
{
    return v < 0.0f ? 0.0f : v > 255.0f ? 255.0f : v;
}

/* A factor uniform in [max(0, 1 - strength), 1 + strength]. */
static float jitter_factor(const draws *d, int draw, float strength)
{
    float lo = 1.0f - strength > 0.0f ? 1.0f - strength : 0.0f;
    return lo + (1.0f + strength - lo) * uniform(d, draw);
}

static float gray_at(const float *x, int channels, int64_t plane, int64_t i)
{
    return channels == 1 ? x[i] : 0.299f * x[i] + 0.587f * x[plane + i] + 0.114f * x[2 * plane + i];
}

/* Brightness, contrast, saturation of out (raw pixel values) in that order. */
static void jitter(const pdl_augment *a, const draws *d, float *out)
{
    int channels = a->channels;
    int64_t plane = (int64_t)a->out_h * a->out_w, n = channels * plane;
    if (a->cfg.brightness > 0) {
        float f = jitter_factor(d, DRAW_BRIGHTNESS, a->cfg.brightness);
        for (int64_t i = 0; i < n; i++)
            out[i] = clamp255(out[i] * f);
    }
    if (a->cfg.contrast > 0) {
        float f = jitter_factor(d, DRAW_CONTRAST, a->cfg.contrast);
        double sum = 0;
        for (int64_t i = 0; i < plane; i++)
            sum += gray_at(out, channels, plane, i);
        float m = (float)(sum / (double)plane);
        for (int64_t i = 0; i < n; i++)
            out[i] = clamp255(f * out[i] + (1.0f - f) * m);
    }
    if (a->cfg.saturation > 0 && channels == 3) {
        float f = jitter_factor(d, DRAW_SATURATION, a->cfg.saturation);
        for (int64_t i = 0; i < plane; i++) {
            float gray = gray_at(out, channels, plane, i);
            for (int c = 0; c < 3; c++)
                out[c * plane + i] = clamp255(f * out[c * plane + i] + (1.0f - f) * gray);
        }
    }
}

void pdl_augment_apply(const pdl_augment *a, const pdl_image *img, const pdl_sample_ctx *ctx,
                       int64_t index, float *out)
{
    PDL_ASSERT(img->channels == a->channels && img->height == a->in_h && img->width == a->in_w);
    draws d = {.base = (uint64_t)index * PDL_AUGMENT_DRAWS};
    if (ctx) {
        d.seed = ctx->seed;
        d.stream = AUGMENT_STREAM_BASE + (uint64_t)ctx->epoch;
    }
    geometry g = draw_geometry(a, ctx, &d);
    bool plain = g.h == a->out_h && g.w == a->out_w && g.angle == 0.0f;
    bool jittered = ctx && (a->cfg.brightness > 0 || a->cfg.contrast > 0 ||
                            (a->cfg.saturation > 0 && a->channels == 3));
    if (plain && !jittered) {
        plain_crop(a, &g, img->data, false, out);
        return;
    }
    if (plain) {
        plain_crop(a, &g, img->data, true, out);
    } else {
        planes p = {.u8 = img->data, .h = a->in_h, .w = a->in_w, .fill = true};
        resample(a, &g, &p, false, out);
    }
    if (jittered)
        jitter(a, &d, out);
    if (plain || !a->mean) {
        plain_finish(a, &g, out);
        return;
    }
    planes m = {.f32 = a->mean, .h = a->in_h, .w = a->in_w};
    resample(a, &g, &m, true, out);
    int64_t n = (int64_t)a->channels * a->out_h * a->out_w;
    for (int64_t i = 0; i < n; i++)
        out[i] *= a->cfg.scale;
}
