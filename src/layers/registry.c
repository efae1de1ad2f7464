/* The registry of layer types, generated from layers.def. */
#include "layers/layer.h"

#include <string.h>

static const pdl_layer_ops *const all_layer_ops[] = {
#define X(id, ops) &ops,
#include "layers/layers.def"
#undef X
};

const pdl_layer_ops *pdl_layer_ops_find(const char *type)
{
    for (size_t i = 0; i < sizeof all_layer_ops / sizeof all_layer_ops[0]; i++)
        if (strcmp(all_layer_ops[i]->type, type) == 0)
            return all_layer_ops[i];
    return NULL;
}
