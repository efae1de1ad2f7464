/* The "conv" layer: 2-D convolution with stride, padding (or `same`), dilation, groups and an
 * optional bias, over im2col + GEMM (src/backend/cpu/conv_gemm.c). Owns its options and shape
 * rules; the arithmetic lives in the backend, the activation (`act`) in the net builder. */
#include "layers/layer.h"

#include "backend/cpu/conv.h"

#include <string.h>

enum { SIZE_MAX_OPT = 4096, FILTERS_MAX = 1 << 24 };

typedef struct conv_opts {
    int64_t filters;
    int64_t size[2], stride[2], pad[2], dilation[2]; /* (h, w) */
    int64_t groups;
    bool bias;
    pdl_conv_geom geom; /* from the last reshape */
} conv_opts;

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
    if (o->filters % o->groups != 0)
        return pdl_cfg_error(sec, "groups", PDL_ERR_PARSE,
                             "groups = %lld does not divide filters = %lld", (long long)o->groups,
                             (long long)o->filters);
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
    l->workspace_bytes = pdl_conv_gemm_workspace_size(&g);
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
    // in[0] is (N, C, H, W), weight (K, C/groups, R, S), bias (K), out (N, K, OH, OW)
    pdl_conv_gemm_forward(ctx->pool, &o->geom, l->in[0], l->params[0].data,
                          o->bias ? l->params[1].data : NULL, l->out, (float *)l->workspace);
}

static void conv_backward(pdl_layer *l, const pdl_layer_ctx *ctx)
{
    const conv_opts *o = (const conv_opts *)l->opts;
    // dout is (N, K, OH, OW), din[0] is (N, C, H, W)
    pdl_conv_gemm_backward_weight(ctx->pool, &o->geom, l->in[0], l->dout, l->params[0].grad,
                                  o->bias ? l->params[1].grad : NULL, (float *)l->workspace);
    if (l->din[0])
        pdl_conv_gemm_backward_data(ctx->pool, &o->geom, l->dout, l->params[0].data, l->din[0],
                                    (float *)l->workspace);
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
