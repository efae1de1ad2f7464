/* Shared layer plumbing: parameter declaration, reshape defaults and layer errors. */
#include "layers/layer.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

pdl_status pdl_layer_error(const pdl_layer *l, pdl_status code, const char *fmt, ...)
{
    char message[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    return pdl_error(code, "%s:%d: layer '%s' (%s): %s", l->file ? l->file : "<model>", l->line,
                     l->name, l->ops->type, message);
}

pdl_param *pdl_layer_declare_param(pdl_layer *l, const char *name, pdl_shape shape,
                                   bool trainable, pdl_param_init init, int64_t fan_in,
                                   int64_t fan_out)
{
    for (int i = 0; i < l->n_params; i++) {
        pdl_param *p = &l->params[i];
        if (strcmp(p->name, name) != 0)
            continue;
        if (!pdl_shape_equal(&p->shape, &shape)) {
            char was[64], now[64];
            pdl_layer_error(l, PDL_ERR_SHAPE, "parameter '%s' changes shape from %s to %s", name,
                            pdl_shape_format(&p->shape, was, sizeof was),
                            pdl_shape_format(&shape, now, sizeof now));
            return NULL;
        }
        return p;
    }
    if (l->n_params >= PDL_MAX_PARAMS) {
        pdl_layer_error(l, PDL_ERR_INVALID, "too many parameters");
        return NULL;
    }
    pdl_param *p = &l->params[l->n_params++];
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s", name);
    p->shape = shape;
    p->trainable = trainable;
    p->init = init;
    p->fan_in = fan_in;
    p->fan_out = fan_out;
    return p;
}

void pdl_layer_reset_geometry(pdl_layer *l)
{
    l->workspace_bytes = 0;
    l->saved_bytes = 0;
    l->macs = 0;
    l->rf_kernel_h = l->rf_kernel_w = l->rf_stride_h = l->rf_stride_w = 1;
}

pdl_status pdl_layer_init_none(pdl_layer *l, pdl_cfg_section *sec)
{
    (void)l, (void)sec;
    return PDL_OK;
}
