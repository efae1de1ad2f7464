/* The [data] section of a model file (augmentation, mean and scale, loader threads and
 * prefetch) and its `--set data.key=value` overrides, both read by one function through the
 * cfg getters. Knows nothing of what the values do (augment.c, loader.c). */
#include "graph/cfg.h"
#include "pdl/loader.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CROP 32768 /* PDL_IMAGE_MAX_SIDE */
#define MAX_FACTOR 1e6 /* upper bound of scale and the jitter strengths */

static const char *const mean_names[PDL_MEAN_MODE_COUNT] = {"none", "image", "pixel"};
static const char *const known_keys =
    "crop, mirror, mean, scale, resized_crop_scale, resized_crop_ratio, rotate, brightness, "
    "contrast, saturation, threads, prefetch";

const char *pdl_mean_mode_name(pdl_mean_mode mode)
{
    return mode >= 0 && mode < PDL_MEAN_MODE_COUNT ? mean_names[mode] : "?";
}

pdl_data_config pdl_data_config_default(void)
{
    return (pdl_data_config){
        .mean = PDL_MEAN_NONE,
        .scale = 1.0f / 255.0f,
        .resized_crop_ratio = {3.0f / 4.0f, 4.0f / 3.0f},
        .prefetch = PDL_LOADER_DEFAULT_PREFETCH,
    };
}

/* A whole finite decimal number, as pdl_cfg_float accepts it. */
static bool parse_number(const char *s, double *out)
{
    size_t n = strlen(s);
    char *end;
    if (n == 0 || strspn(s, "0123456789+-.eE") != n)
        return false;
    double v = strtod(s, &end);
    if (end != s + n || !isfinite(v))
        return false;
    *out = v;
    return true;
}

/* "lo, hi" with min <= lo <= hi <= max (and lo > 0 when positive); "off" gives (0, 0) when
 * off_ok. Absent: out unchanged. */
static pdl_status number_pair(pdl_cfg_section *sec, const char *key, double min, double max,
                              bool off_ok, float out[2])
{
    const char *items[2];
    int n = 0;
    pdl_cfg_entry *e = pdl_cfg_find(sec, key);
    if (!e)
        return PDL_OK;
    if (off_ok && !strcmp(e->value, "off")) {
        out[0] = out[1] = 0;
        return PDL_OK;
    }
    pdl_status st = pdl_cfg_list(sec, key, 2, items, &n);
    if (st)
        return st;
    double v[2];
    if (n != 2 || !parse_number(items[0], &v[0]) || !parse_number(items[1], &v[1]) ||
        !(v[0] > min && v[0] <= v[1] && v[1] <= max))
        return pdl_cfg_error(sec, key, PDL_ERR_PARSE,
                             "expected 'lo, hi' with %g < lo <= hi <= %g%s, got '%s'", min, max,
                             off_ok ? " (or off)" : "", e->value);
    out[0] = (float)v[0];
    out[1] = (float)v[1];
    return PDL_OK;
}

/* Reads the keys present in sec over the values in c (the defaults, or the config being
 * overridden); c is changed only when everything is valid. */
static pdl_status read_section(pdl_cfg_section *sec, pdl_data_config *c)
{
    pdl_data_config n = *c;
    int64_t threads, prefetch;
    double scale, rotate, jitter[3];
    int mean;
    static const char *const jitter_keys[3] = {"brightness", "contrast", "saturation"};
    float *jitter_out[3] = {&n.brightness, &n.contrast, &n.saturation};
    pdl_status st = pdl_cfg_pair(sec, "crop", n.crop[0], n.crop[1], 0, MAX_CROP, n.crop);
    if (!st && (n.crop[0] == 0) != (n.crop[1] == 0))
        st = pdl_cfg_error(sec, "crop", PDL_ERR_PARSE,
                           "expected N or HxW with both sizes > 0, or 0 for the net's input");
    if (!st)
        st = pdl_cfg_bool(sec, "mirror", n.mirror, &n.mirror);
    if (!st)
        st = pdl_cfg_enum(sec, "mean", mean_names, PDL_MEAN_MODE_COUNT, (int)n.mean, &mean);
    if (!st && !(st = pdl_cfg_float(sec, "scale", n.scale, 1e-30, MAX_FACTOR, &scale)))
        n.scale = (float)scale;
    if (!st)
        st = number_pair(sec, "resized_crop_scale", 0, 1, true, n.resized_crop_scale);
    if (!st)
        st = number_pair(sec, "resized_crop_ratio", 0, 100, false, n.resized_crop_ratio);
    if (!st && !(st = pdl_cfg_float(sec, "rotate", n.rotate, 0, 180, &rotate)))
        n.rotate = (float)rotate;
    for (int j = 0; j < 3 && !st; j++)
        if (!(st = pdl_cfg_float(sec, jitter_keys[j], *jitter_out[j], 0, MAX_FACTOR, &jitter[j])))
            *jitter_out[j] = (float)jitter[j];
    if (!st && !(st = pdl_cfg_int(sec, "threads", n.threads, 0, 1024, &threads)))
        n.threads = (int)threads;
    if (!st && !(st = pdl_cfg_int(sec, "prefetch", n.prefetch, 1, 1024, &prefetch)))
        n.prefetch = (int)prefetch;
    if (!st)
        st = pdl_cfg_check_unused(sec);
    if (st)
        return st;
    n.mean = (pdl_mean_mode)mean;
    *c = n;
    return PDL_OK;
}

pdl_status pdl_data_config_from_text(const char *text, const char *filename, pdl_data_config *out)
{
    PDL_ASSERT(text && out);
    pdl_data_config c = pdl_data_config_default();
    pdl_cfg *cfg = NULL;
    pdl_cfg_section *sec = NULL;
    pdl_status st = pdl_cfg_parse(text, strlen(text), filename, &cfg);
    for (int s = 0; !st && s < cfg->n_sections; s++) {
        if (strcmp(cfg->sections[s].type, "data"))
            continue;
        if (sec)
            st = pdl_cfg_error(&cfg->sections[s], NULL, PDL_ERR_PARSE,
                               "a second [data] section (the first is at line %d)", sec->line);
        sec = &cfg->sections[s];
    }
    if (!st && sec)
        st = read_section(sec, &c);
    pdl_cfg_free(cfg);
    if (!st)
        *out = c;
    return st;
}

pdl_status pdl_data_config_set(pdl_data_config *config, const char *key, const char *value)
{
    PDL_ASSERT(config && key && value);
    char text[512];
    pdl_cfg *cfg = NULL;
    size_t key_len = strlen(key);
    if (key_len == 0 || strspn(key, "abcdefghijklmnopqrstuvwxyz_") != key_len)
        return pdl_error(PDL_ERR_INVALID, "[data] key '%s': unknown key (known: %s)", key,
                         known_keys);
    if (strpbrk(value, "#\r\n") ||
        (size_t)snprintf(text, sizeof text, "[data]\n%s = %s\n", key, value) >= sizeof text)
        return pdl_error(PDL_ERR_INVALID, "[data] key '%s': bad value '%.60s'", key, value);
    pdl_status st = pdl_cfg_parse(text, strlen(text), "--set", &cfg);
    if (!st)
        st = read_section(&cfg->sections[0], config);
    pdl_cfg_free(cfg);
    if (st) {
        /* Drop the "--set:2: " position of the one-line text; unknown keys list the known. */
        char why[1024];
        const char *m = strstr(pdl_last_error(), "[data]");
        snprintf(why, sizeof why, "%s", m ? m : pdl_last_error());
        if (strstr(why, ": unknown key"))
            return pdl_error(PDL_ERR_INVALID, "%s (known: %s)", why, known_keys);
        return pdl_error(PDL_ERR_INVALID, "%s", why);
    }
    return PDL_OK;
}
