/* Model text -> the net's layers: reads [net], makes one layer per layer section (plus an
 * activation layer after a conv/fc with `act =`), resolves inputs and sorts the graph
 * topologically. Does not plan memory or run anything (net.c); skips [train] (the trainer's). */
#include "graph/net_internal.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What the build knows of a layer besides the layer itself, in file order. */
typedef struct node {
    pdl_cfg_section *sec; /* the layer's section (an activation layer: its conv/fc's section) */
    int section;          /* index among the layer sections, in file order */
    bool is_act;          /* inserted by `act =` after the previous node */
    int n_items;
    const char *items[PDL_MAX_INPUTS]; /* the `inputs` list as written */
} node;

typedef struct builder {
    pdl_net *net;
    node *nodes;          /* parallel to net->layers while building (file order) */
    int *section_output;  /* per layer section: the node holding its output */
    int n_sections;
} builder;

static const char *const act_names[] = {"none", "relu", "leaky_relu", "sigmoid", "tanh"};

static pdl_status read_net_section(pdl_net *net, pdl_cfg_section *sec)
{
    pdl_status st;
    const char *name;
    int64_t dims[3], classes;
    int n_dims;
    if ((st = pdl_cfg_string(sec, "name", "net", &name)) ||
        (st = pdl_cfg_dims(sec, "input", 3, dims, &n_dims)))
        return st;
    if (n_dims == 0)
        return pdl_cfg_error(sec, NULL, PDL_ERR_PARSE, "missing required key 'input' (CxHxW)");
    if (n_dims != 3)
        return pdl_cfg_error(sec, "input", PDL_ERR_PARSE,
                             "expected three sizes CxHxW like 3x224x224");
    if (!pdl_cfg_find(sec, "classes"))
        return pdl_cfg_error(sec, NULL, PDL_ERR_PARSE, "missing required key 'classes'");
    if ((st = pdl_cfg_int(sec, "classes", 1, 1, INT_MAX, &classes)) ||
        (st = pdl_cfg_check_unused(sec)))
        return st;
    net->name = name;
    net->input = pdl_shape_make(3, dims);
    net->classes = (int)classes;
    return PDL_OK;
}

/* Appends a layer of type ops for sec, initialized from opts_sec. */
static pdl_status add_layer(builder *b, const pdl_layer_ops *ops, pdl_cfg_section *sec,
                            pdl_cfg_section *opts_sec, const char *name, int section, bool is_act)
{
    pdl_net *net = b->net;
    pdl_layer *l = &net->layers[net->n_layers];
    memset(l, 0, sizeof *l);
    l->ops = ops;
    l->file = net->file;
    l->line = sec->line;
    snprintf(l->name, sizeof l->name, "%s", name);
    if (ops->opts_size && !(l->opts = calloc(1, ops->opts_size)))
        return pdl_error(PDL_ERR_NOMEM, "%s:%d: out of memory", net->file, sec->line);
    /* Counted before init so that pdl_net_free releases the layer whatever init did. */
    b->nodes[net->n_layers] = (node){.sec = sec, .section = section, .is_act = is_act};
    net->n_layers++;
    pdl_status st = ops->init(l, opts_sec);
    if (!st)
        st = pdl_cfg_check_unused(opts_sec);
    return st;
}

/* A layer name must be referable in an `inputs` list. */
static pdl_status check_name(pdl_cfg_section *sec, const char *name)
{
    if (!name[0] || strchr(name, ',') || strchr(name, ' ') || strchr(name, '\t'))
        return pdl_cfg_error(sec, "name", PDL_ERR_PARSE,
                             "'%s' is not a layer name (no commas or spaces)", name);
    if (name[0] == '-' || (name[0] >= '0' && name[0] <= '9') || !strcmp(name, "data"))
        return pdl_cfg_error(sec, "name", PDL_ERR_PARSE,
                             "'%s' would read as the net input or a relative position in inputs "
                             "lists (data, -1, -2, ...)", name);
    if (strlen(name) + sizeof ".act" > PDL_NAME_MAX)
        return pdl_cfg_error(sec, "name", PDL_ERR_PARSE, "longer than %d characters",
                             PDL_NAME_MAX - (int)sizeof ".act");
    return PDL_OK;
}

/* One layer section: its layer, and the activation layer its `act =` asks for. */
static pdl_status read_layer_section(builder *b, pdl_cfg_section *sec, int section)
{
    pdl_net *net = b->net;
    const pdl_layer_ops *ops = pdl_layer_ops_find(sec->type);
    if (!ops)
        return pdl_error(PDL_ERR_PARSE, "%s:%d: unknown layer type '%s'", net->file, sec->line,
                         sec->type);
    char default_name[PDL_NAME_MAX];
    snprintf(default_name, sizeof default_name, "%s%d", sec->type, section);
    const char *name;
    int act = 0, n_items = 0;
    const char *items[PDL_MAX_INPUTS] = {0};
    pdl_status st;
    if ((st = pdl_cfg_string(sec, "name", default_name, &name)) || (st = check_name(sec, name)) ||
        (st = pdl_cfg_list(sec, "inputs", PDL_MAX_INPUTS, items, &n_items)))
        return st;
    bool takes_act = !strcmp(ops->type, "conv") || !strcmp(ops->type, "fc");
    if (takes_act)
        st = pdl_cfg_enum(sec, "act", act_names, (int)(sizeof act_names / sizeof *act_names), 0,
                          &act);
    else if (pdl_cfg_find(sec, "act"))
        st = pdl_cfg_error(sec, "act", PDL_ERR_PARSE,
                           "only conv and fc take 'act'; add an activation layer instead");
    if (st || (st = add_layer(b, ops, sec, sec, name, section, false)))
        return st;
    node *own = &b->nodes[net->n_layers - 1];
    own->n_items = n_items;
    memcpy(own->items, items, sizeof items);
    if (act) {
        char act_name[PDL_NAME_MAX], act_type[16];
        snprintf(act_name, sizeof act_name, "%s.act", name);
        snprintf(act_type, sizeof act_type, "%s", act_names[act]);
        /* The activation's options are its defaults: an empty section of its type. */
        pdl_cfg_section empty = {.type = act_type, .line = sec->line, .file = sec->file};
        const pdl_layer_ops *act_ops = pdl_layer_ops_find(act_type);
        PDL_ASSERT(act_ops);
        if ((st = add_layer(b, act_ops, sec, &empty, act_name, section, true)))
            return st;
    }
    b->section_output[section] = net->n_layers - 1;
    return PDL_OK;
}

static int find_layer(const pdl_net *net, const char *name)
{
    for (int i = 0; i < net->n_layers; i++)
        if (!strcmp(net->layers[i].name, name))
            return i;
    return -1;
}

static pdl_status check_duplicates(const builder *b)
{
    const pdl_net *net = b->net;
    for (int i = 1; i < net->n_layers; i++) {
        int first = find_layer(net, net->layers[i].name);
        if (first == i)
            continue;
        pdl_cfg_section *sec = b->nodes[i].sec;
        const char *key = pdl_cfg_find(sec, "name") ? "name" : NULL;
        return pdl_cfg_error(sec, key, PDL_ERR_PARSE,
                             "duplicate layer name '%s' (first at line %d)", net->layers[i].name,
                             net->layers[first].line);
    }
    return PDL_OK;
}

/* One `inputs` item of the layer of section `section` -> a node index, or -1 for the data. */
static pdl_status resolve_item(const builder *b, pdl_cfg_section *sec, int section,
                               const char *item, int *out)
{
    if (!strcmp(item, "data")) {
        *out = -1;
        return PDL_OK;
    }
    if (item[0] == '-' || (item[0] >= '0' && item[0] <= '9')) {
        char *end;
        long rel = strtol(item, &end, 10);
        if (*end || rel >= 0)
            return pdl_cfg_error(sec, "inputs", PDL_ERR_PARSE,
                                 "'%s': a relative input is negative (-1 = the previous layer)",
                                 item);
        if (rel < -(long)section)
            return pdl_cfg_error(sec, "inputs", PDL_ERR_PARSE,
                                 "'%s' points before the first layer (use 'data' for the input)",
                                 item);
        *out = b->section_output[section + rel];
        return PDL_OK;
    }
    int found = find_layer(b->net, item);
    if (found < 0)
        return pdl_cfg_error(sec, "inputs", PDL_ERR_PARSE, "no layer named '%s'", item);
    /* A conv/fc with `act =` is referred to by its activated output. */
    *out = b->section_output[b->nodes[found].section];
    return PDL_OK;
}

static pdl_status resolve_inputs(builder *b)
{
    pdl_net *net = b->net;
    for (int i = 0; i < net->n_layers; i++) {
        pdl_layer *l = &net->layers[i];
        node *nd = &b->nodes[i];
        pdl_status st;
        if (nd->is_act) {
            l->n_inputs = 1;
            l->inputs[0] = i - 1;
            continue;
        }
        if (nd->n_items == 0) {
            l->n_inputs = 1;
            l->inputs[0] = nd->section ? b->section_output[nd->section - 1] : -1;
        }
        for (int k = 0; k < nd->n_items; k++)
            if ((st = resolve_item(b, nd->sec, nd->section, nd->items[k], &l->inputs[k])))
                return st;
        if (nd->n_items)
            l->n_inputs = nd->n_items;
        if (l->n_inputs < l->ops->min_inputs || l->n_inputs > l->ops->max_inputs) {
            const char *key = nd->n_items ? "inputs" : NULL;
            if (l->ops->min_inputs == l->ops->max_inputs)
                return pdl_cfg_error(nd->sec, key, PDL_ERR_PARSE, "%s takes %d input%s, got %d",
                                     l->ops->type, l->ops->min_inputs,
                                     l->ops->min_inputs == 1 ? "" : "s", l->n_inputs);
            return pdl_cfg_error(nd->sec, key, PDL_ERR_PARSE,
                                 "%s takes %d to %d inputs, got %d", l->ops->type,
                                 l->ops->min_inputs, l->ops->max_inputs, l->n_inputs);
        }
    }
    return PDL_OK;
}

/* Error naming the layers of a cycle among the layers not yet ordered (done[v] false). */
static pdl_status report_cycle(const pdl_net *net, const bool *done, int *pos, int *path)
{
    int start = 0;
    while (done[start])
        start++;
    for (int i = 0; i < net->n_layers; i++)
        pos[i] = -1;
    int len = 0, cur = start;
    while (pos[cur] < 0) {
        pos[cur] = len;
        path[len++] = cur;
        const pdl_layer *l = &net->layers[cur];
        int next = -1;
        for (int k = 0; k < l->n_inputs && next < 0; k++)
            if (l->inputs[k] >= 0 && !done[l->inputs[k]])
                next = l->inputs[k];
        PDL_ASSERT(next >= 0); /* an unordered layer waits on an unordered producer */
        cur = next;
    }
    /* path[t + 1] feeds path[t]; print in data-flow order from cur around to cur. */
    char message[1024];
    size_t used = 0;
    const pdl_layer *first = &net->layers[cur];
    used += (size_t)snprintf(message, sizeof message, "%s (line %d)", first->name, first->line);
    for (int t = len - 1; t >= pos[cur] && used < sizeof message; t--) {
        const pdl_layer *l = &net->layers[path[t]];
        used += (size_t)snprintf(message + used, sizeof message - used, " -> %s (line %d)",
                                 l->name, l->line);
    }
    return pdl_error(PDL_ERR_PARSE, "%s:%d: layer inputs form a cycle: %s", net->file,
                     first->line, message);
}

/* Stable topological order: among the layers whose producers are all placed, the earliest
 * in the file goes next, so a file written in order keeps its order. */
static pdl_status sort_layers(pdl_net *net)
{
    int n = net->n_layers;
    int *waiting = calloc((size_t)n, sizeof *waiting);
    int *order = calloc((size_t)n, sizeof *order);
    int *rank = calloc((size_t)n, sizeof *rank);
    int *scratch = calloc((size_t)n, sizeof *scratch);
    bool *done = calloc((size_t)n, sizeof *done);
    pdl_layer *sorted = calloc((size_t)n, sizeof *sorted);
    pdl_status st = PDL_OK;
    if (!waiting || !order || !rank || !scratch || !done || !sorted) {
        st = pdl_error(PDL_ERR_NOMEM, "%s: out of memory sorting the layers", net->file);
        goto done;
    }
    for (int v = 0; v < n; v++)
        for (int k = 0; k < net->layers[v].n_inputs; k++)
            waiting[v] += net->layers[v].inputs[k] >= 0;
    for (int placed = 0; placed < n; placed++) {
        int v = 0;
        while (v < n && (done[v] || waiting[v]))
            v++;
        if (v == n) {
            st = report_cycle(net, done, rank, scratch);
            goto done;
        }
        done[v] = true;
        order[placed] = v;
        rank[v] = placed;
        for (int u = 0; u < n; u++)
            for (int k = 0; k < net->layers[u].n_inputs; k++)
                waiting[u] -= net->layers[u].inputs[k] == v;
    }
    for (int i = 0; i < n; i++) {
        sorted[i] = net->layers[order[i]];
        sorted[i].index = i;
        for (int k = 0; k < sorted[i].n_inputs; k++)
            if (sorted[i].inputs[k] >= 0)
                sorted[i].inputs[k] = rank[sorted[i].inputs[k]];
    }
    memcpy(net->layers, sorted, (size_t)n * sizeof *sorted);
done:
    free(waiting);
    free(order);
    free(rank);
    free(scratch);
    free(done);
    free(sorted);
    return st;
}

/* At most one loss layer, and nothing after it. */
static pdl_status find_loss(pdl_net *net)
{
    net->loss_layer = -1;
    for (int i = 0; i < net->n_layers; i++) {
        const pdl_layer *l = &net->layers[i];
        if (!l->ops->is_loss)
            continue;
        if (net->loss_layer >= 0)
            return pdl_layer_error(l, PDL_ERR_PARSE, "a second loss layer (the first is '%s')",
                                   net->layers[net->loss_layer].name);
        net->loss_layer = i;
    }
    if (net->loss_layer >= 0 && net->loss_layer != net->n_layers - 1)
        return pdl_layer_error(&net->layers[net->loss_layer], PDL_ERR_PARSE,
                               "a loss layer must be the last layer, but '%s' comes after it",
                               net->layers[net->n_layers - 1].name);
    return PDL_OK;
}

/* Sections that are settings rather than layers, read elsewhere: [train]
 * (pdl_train_config_from_text) and [data] (pdl_data_config_from_text). */
static bool is_settings_section(const char *type)
{
    return !strcmp(type, "train") || !strcmp(type, "data");
}

pdl_status pdl_net_build(pdl_net *net)
{
    pdl_cfg *cfg = net->cfg;
    builder b = {.net = net};
    pdl_cfg_section *net_sec = NULL;
    pdl_status st = PDL_OK;
    for (int s = 0; s < cfg->n_sections; s++) {
        pdl_cfg_section *sec = &cfg->sections[s];
        if (!strcmp(sec->type, "net")) {
            if (net_sec) {
                st = pdl_cfg_error(sec, NULL, PDL_ERR_PARSE, "a second [net] section (the "
                                   "first is at line %d)", net_sec->line);
                goto done;
            }
            net_sec = sec;
        } else if (!is_settings_section(sec->type)) {
            b.n_sections++;
        }
    }
    if (!net_sec) {
        st = pdl_error(PDL_ERR_PARSE, "%s: no [net] section (input = CxHxW, classes = N)",
                       net->file);
        goto done;
    }
    if ((st = read_net_section(net, net_sec)))
        goto done;
    if (b.n_sections == 0) {
        st = pdl_error(PDL_ERR_PARSE, "%s: the model has no layers", net->file);
        goto done;
    }
    /* Each section makes at most two layers (itself and its activation). */
    net->layers = calloc(2 * (size_t)b.n_sections, sizeof *net->layers);
    b.nodes = calloc(2 * (size_t)b.n_sections, sizeof *b.nodes);
    b.section_output = calloc((size_t)b.n_sections, sizeof *b.section_output);
    if (!net->layers || !b.nodes || !b.section_output) {
        st = pdl_error(PDL_ERR_NOMEM, "%s: out of memory building the net", net->file);
        goto done;
    }
    for (int s = 0, section = 0; s < cfg->n_sections; s++) {
        pdl_cfg_section *sec = &cfg->sections[s];
        if (strcmp(sec->type, "net") != 0 && !is_settings_section(sec->type) &&
            (st = read_layer_section(&b, sec, section++)))
            goto done;
    }
    if ((st = check_duplicates(&b)) || (st = resolve_inputs(&b)) || (st = sort_layers(net)))
        goto done;
    st = find_loss(net);
done:
    free(b.nodes);
    free(b.section_output);
    return st;
}
