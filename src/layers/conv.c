/* The "conv" layer: 2-D convolution with stride, padding (or `same`), dilation, groups and an
 * optional bias, and the choice of algorithm per layer (the `algo` key, the process-wide
 * override, the `auto` heuristic). Owns its options and shape rules; the arithmetic lives in
 * src/backend/cpu/ (conv_gemm.c, winograd.c, conv_direct.c, conv_ref.c), the activation (`act`)
 * in the net builder. */
#include "layers/layer.h"

#include "backend/cpu/conv.h"
#include "pdl/net.h"

#include <stdatomic.h>
#include <string.h>

enum { SIZE_MAX_OPT = 4096, FILTERS_MAX = 1 << 24 };

/* The `auto` heuristic (docs/benchmarks.md has the measurements behind it): the direct kernel
 * for groups of at most DIRECT_MAX_CHANNELS input channels; Winograd for 3x3 stride-1 layers
 * with at least WINOGRAD_MIN_CHANNELS input and output channels and WINOGRAD_MIN_TILES 4x4
 * output tiles in the batch (fewer, and transforming the weights costs more than it saves);
 * im2col + GEMM otherwise. */
enum { DIRECT_MAX_CHANNELS = 4, WINOGRAD_MIN_CHANNELS = 32, WINOGRAD_MIN_TILES = 32 };

typedef enum conv_algo {
    ALGO_AUTO,
    ALGO_GEMM,
    ALGO_WINOGRAD,
    ALGO_DIRECT,
    ALGO_REFERENCE,
    ALGO_COUNT
} conv_algo;

static const char *const algo_names[ALGO_COUNT] = {"auto", "gemm", "winograd", "direct",
                                                   "reference"};

/* pdl_conv_algo_override's choice; -1: none. */
static atomic_int algo_override = -1;

typedef struct conv_opts {
    int64_t filters;
    int64_t size[2], stride[2], pad[2], dilation[2]; /* (h, w) */
    int64_t groups;
    bool bias;
    conv_algo requested; /* the `algo` key */
    conv_algo algo;      /* what runs, from the last reshape; never ALGO_AUTO */
    pdl_conv_geom geom;  /* from the last reshape */
} conv_opts;

pdl_status pdl_conv_algo_override(const char *name)
{
    if (!name) {
        atomic_store(&algo_override, -1);
        return PDL_OK;
    }
    for (int a = 0; a < ALGO_COUNT; a++)
        if (!strcmp(name, algo_names[a])) {
            atomic_store(&algo_override, a);
            return PDL_OK;
        }
    return pdl_error(PDL_ERR_INVALID,
                     "unknown convolution algorithm '%s' (known: auto, gemm, winograd, direct, "
                     "reference)", name);
}

/* Whether algorithm a can run geometry g (only the kernel, stride, dilation and groups
 * matter, so options alone decide it). */
static bool algo_applies(conv_algo a, const pdl_conv_geom *g)
{
    return a != ALGO_WINOGRAD || pdl_conv_winograd_applies(g);
}

/* The `auto` heuristic. */
static conv_algo algo_auto(const pdl_conv_geom *g)
{
    if (g->groups > 1 && g->c / g->groups <= DIRECT_MAX_CHANNELS)
        return ALGO_DIRECT;
    int64_t tiles = g->n * ((g->out_h + 3) / 4) * ((g->out_w + 3) / 4);
    if (pdl_conv_winograd_applies(g) && g->c >= WINOGRAD_MIN_CHANNELS &&
        g->k >= WINOGRAD_MIN_CHANNELS && tiles >= WINOGRAD_MIN_TILES)
        return ALGO_WINOGRAD;
    return ALGO_GEMM;
}

/* The override where it applies, else the `algo` key; `auto` resolved by the heuristic. */
static conv_algo algo_choose(const conv_opts *o, const pdl_conv_geom *g)
{
    int forced = atomic_load(&algo_override);
    conv_algo a = forced >= 0 && algo_applies((conv_algo)forced, g) ? (conv_algo)forced
                                                                     : o->requested;
    return a == ALGO_AUTO ? algo_auto(g) : a;
}

/* What `pdl info` shows: the kernel that runs. */
static const char *algo_label(conv_algo a, const pdl_conv_geom *g)
{
    if (a == ALGO_GEMM && pdl_conv_gemm_is_pointwise(g))
        return "1x1-gemm";
    return algo_names[a];
}

/* pad = same: dilation * (size - 1) / 2 per axis, which must be a whole number. */
static pdl_status read_pad(conv_opts *o, pdl_cfg_section *sec)
{
    const pdl_cfg_entry *e = pdl_cfg_find(sec, "pad");
    if (!e || strcmp(e->value, "same") != 0)
        return pdl_cfg_pair(sec, "pad", 0, 0, 0, SIZE_MAX_OPT, o->pad);
    static const char *const axis[2] = {"height", "width"};
    for (int i = 0; i < 2; i++) {
        int64_t extent = o->dilation[i] * (o->size[i] - 1);
        if (extent % 2 != 0)
            return pdl_cfg_error(sec, "pad", PDL_ERR_PARSE,
                                 "'same' needs an even dilation*(size-1) along the %s, got "
                                 "%lld*(%lld-1) = %lld", axis[i], (long long)o->dilation[i],
                                 (long long)o->size[i], (long long)extent);
        o->pad[i] = extent / 2;
    }
    return PDL_OK;
}

static pdl_status conv_init(pdl_layer *l, pdl_cfg_section *sec)
{
    conv_opts *o = (conv_opts *)l->opts;
    pdl_status status;
    if (!pdl_cfg_find(sec, "filters"))
        return pdl_cfg_error(sec, NULL, PDL_ERR_PARSE, "missing required key 'filters'");
    if ((status = pdl_cfg_int(sec, "filters", 1, 1, FILTERS_MAX, &o->filters)) != PDL_OK ||
        (status = pdl_cfg_pair(sec, "size", 3, 3, 1, SIZE_MAX_OPT, o->size)) != PDL_OK ||
        (status = pdl_cfg_pair(sec, "stride", 1, 1, 1, SIZE_MAX_OPT, o->stride)) != PDL_OK ||
        (status = pdl_cfg_pair(sec, "dilation", 1, 1, 1, SIZE_MAX_OPT, o->dilation)) != PDL_OK ||
        (status = read_pad(o, sec)) != PDL_OK ||
        (status = pdl_cfg_int(sec, "groups", 1, 1, FILTERS_MAX, &o->groups)) != PDL_OK ||
        (status = pdl_cfg_bool(sec, "bias", true, &o->bias)) != PDL_OK)
        return status;
    int requested;
    status = pdl_cfg_enum(sec, "algo", algo_names, ALGO_COUNT, ALGO_AUTO, &requested);
    if (status != PDL_OK)
        return status;
    o->requested = (conv_algo)requested;
    if (o->filters % o->groups != 0)
        return pdl_cfg_error(sec, "groups", PDL_ERR_PARSE,
                             "groups = %lld does not divide filters = %lld", (long long)o->groups,
                             (long long)o->filters);
    pdl_conv_geom kernel = {.r = o->size[0], .s = o->size[1], .stride_h = o->stride[0],
                            .stride_w = o->stride[1], .dil_h = o->dilation[0],
                            .dil_w = o->dilation[1], .groups = o->groups};
    if (!algo_applies(o->requested, &kernel))
        return pdl_cfg_error(sec, "algo", PDL_ERR_PARSE,
                             "winograd needs a 3x3 kernel, stride 1, dilation 1 and groups 1; "
                             "this layer has size %lldx%lld, stride %lldx%lld, dilation "
                             "%lldx%lld, groups %lld", (long long)o->size[0],
                             (long long)o->size[1], (long long)o->stride[0],
                             (long long)o->stride[1], (long long)o->dilation[0],
                             (long long)o->dilation[1], (long long)o->groups);
    return PDL_OK;
}

static pdl_status conv_reshape(pdl_layer *l)
{
    conv_opts *o = (conv_opts *)l->opts;
    const pdl_shape *in = &l->in_shape[0];
    char text[64];
    if (in->ndim != 4)
        return pdl_layer_error(l, PDL_ERR_SHAPE, "input must be 4-D (N, C, H, W), got %s",
                               pdl_shape_format(in, text, sizeof text));
    pdl_conv_geom g = {
        .n = in->dim[0], .c = in->dim[1], .h = in->dim[2], .w = in->dim[3], .k = o->filters,
        .r = o->size[0], .s = o->size[1], .stride_h = o->stride[0], .stride_w = o->stride[1],
        .pad_h = o->pad[0], .pad_w = o->pad[1], .dil_h = o->dilation[0],
        .dil_w = o->dilation[1], .groups = o->groups,
    };
    if (g.c % g.groups != 0)
        return pdl_layer_error(l, PDL_ERR_SHAPE,
                               "groups = %lld does not divide the input's %lld channels",
                               (long long)g.groups, (long long)g.c);
    if (!pdl_conv_geom_output(&g))
        return pdl_layer_error(l, PDL_ERR_SHAPE,
                               "input %s padded to %lldx%lld is smaller than the dilated kernel "
                               "%lldx%lld", pdl_shape_format(in, text, sizeof text),
                               (long long)(g.h + 2 * g.pad_h), (long long)(g.w + 2 * g.pad_w),
                               (long long)(g.dil_h * (g.r - 1) + 1),
                               (long long)(g.dil_w * (g.s - 1) + 1));
    o->geom = g;
    int64_t cg = g.c / g.groups;
    l->out_shape = pdl_shape_4d(g.n, g.k, g.out_h, g.out_w);
    pdl_shape wshape = pdl_shape_4d(g.k, cg, g.r, g.s);
    if (!pdl_layer_declare_param(l, "weight", wshape, true, PDL_INIT_HE_NORMAL, cg * g.r * g.s,
                                 g.k * g.r * g.s))
        return PDL_ERR_SHAPE;
    if (o->bias && !pdl_layer_declare_param(l, "bias", pdl_shape_make(1, &g.k), true,
                                            PDL_INIT_ZERO, cg * g.r * g.s, g.k * g.r * g.s))
        return PDL_ERR_SHAPE;
    o->algo = algo_choose(o, &g);
    l->algo = algo_label(o->algo, &g);
    l->workspace_bytes = 0;
    if (o->algo == ALGO_GEMM || o->algo == ALGO_WINOGRAD) /* Winograd's weight gradient: GEMM */
        l->workspace_bytes = pdl_conv_gemm_workspace_size(&g);
    if (o->algo == ALGO_WINOGRAD && pdl_conv_winograd_workspace_size(&g) > l->workspace_bytes)
        l->workspace_bytes = pdl_conv_winograd_workspace_size(&g);
    l->macs = g.n * g.k * g.out_h * g.out_w * cg * g.r * g.s;
    l->rf_kernel_h = (int)(g.dil_h * (g.r - 1) + 1);
    l->rf_kernel_w = (int)(g.dil_w * (g.s - 1) + 1);
    l->rf_stride_h = (int)g.stride_h;
    l->rf_stride_w = (int)g.stride_w;
    return PDL_OK;
}

static void conv_forward(pdl_layer *l, const pdl_layer_ctx *ctx)
{
    const conv_opts *o = (const conv_opts *)l->opts;
    const pdl_conv_geom *g = &o->geom;
    // in[0] is (N, C, H, W), weight (K, C/groups, R, S), bias (K), out (N, K, OH, OW)
    const float *x = l->in[0], *w = l->params[0].data, *bias = o->bias ? l->params[1].data : NULL;
    float *ws = (float *)l->workspace;
    switch (o->algo) {
    case ALGO_WINOGRAD:
        pdl_conv_winograd_forward(ctx->pool, g, x, w, bias, l->out, ws);
        break;
    case ALGO_DIRECT:
        pdl_conv_direct_forward(ctx->pool, g, x, w, bias, l->out);
        break;
    case ALGO_REFERENCE:
        pdl_conv_ref_forward(g, x, w, bias, l->out);
        break;
    default:
        pdl_conv_gemm_forward(ctx->pool, g, x, w, bias, l->out, ws);
        break;
    }
}

static void conv_backward(pdl_layer *l, const pdl_layer_ctx *ctx)
{
    const conv_opts *o = (const conv_opts *)l->opts;
    const pdl_conv_geom *g = &o->geom;
    // dout is (N, K, OH, OW), din[0] is (N, C, H, W), weight and its gradient (K, C/groups, R, S)
    const float *x = l->in[0], *dy = l->dout, *w = l->params[0].data;
    float *dw = l->params[0].grad, *dbias = o->bias ? l->params[1].grad : NULL;
    float *dx = l->din[0], *ws = (float *)l->workspace;
    switch (o->algo) {
    case ALGO_DIRECT:
        pdl_conv_direct_backward_weight(ctx->pool, g, x, dy, dw, dbias);
        if (dx)
            pdl_conv_direct_backward_data(ctx->pool, g, dy, w, dx);
        break;
    case ALGO_REFERENCE:
        pdl_conv_ref_backward_weight(g, x, dy, dw, dbias);
        if (dx)
            pdl_conv_ref_backward_data(g, dy, w, dx);
        break;
    default: /* GEMM, and Winograd's weight gradient */
        pdl_conv_gemm_backward_weight(ctx->pool, g, x, dy, dw, dbias, ws);
        if (dx && o->algo == ALGO_WINOGRAD)
            pdl_conv_winograd_backward_data(ctx->pool, g, dy, w, dx, ws);
        else if (dx)
            pdl_conv_gemm_backward_data(ctx->pool, g, dy, w, dx, ws);
        break;
    }
}

const pdl_layer_ops pdl_layer_conv = {
    .type = "conv",
    .min_inputs = 1,
    .max_inputs = 1,
    .opts_size = sizeof(conv_opts),
    .init = conv_init,
    .reshape = conv_reshape,
    .forward = conv_forward,
    .backward = conv_backward,
    .backward_reads_input = true,
    .backward_reads_output = false,
    .can_run_in_place = false,
};
