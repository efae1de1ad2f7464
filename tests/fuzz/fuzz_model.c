/* libFuzzer target for whole model files: any bytes through pdl_net_from_text (parse, build,
 * shape inference, memory planning for batch 1), then the per-layer analysis of a net that
 * builds. Checks only "never crash, never leak, never read out of bounds"; meaning is tested in
 * test_bad_models.c and test_net.c. */
#include "graph/cfg.h"
#include "pdl/net.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Building is quadratic in the layer count (net_build.c's name lookups and topological sort):
 * 20,000 layers take 20 s under ASan, time the search spends better elsewhere. */
enum { LAYERS_MAX = 1000 };

static bool small_enough(const char *text)
{
    pdl_cfg *cfg = NULL;
    if (pdl_cfg_parse(text, strlen(text), "fuzz.cfg", &cfg) != PDL_OK)
        return true; /* the net refuses it the same way: still worth running */
    bool small = cfg->n_sections <= LAYERS_MAX;
    pdl_cfg_free(cfg);
    return small;
}

/* A model file may declare any size; the net refuses what exceeds PDL_MAX_MEMORY_MB with an
 * error, which keeps the fuzzer under libFuzzer's own malloc limit (2 GiB). */
int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    setenv("PDL_MAX_MEMORY_MB", "256", 1);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1); /* pdl_net_from_text takes a C string */
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    pdl_net *net = NULL;
    if (small_enough(text) && pdl_net_from_text(text, "fuzz.cfg", &net) == PDL_OK) {
        for (int i = 0; i < pdl_net_layer_count(net); i++) {
            pdl_layer_info info;
            pdl_net_layer_info(net, i, &info);
        }
        pdl_net_training_bytes(net, 2);
        pdl_net_inference_bytes(net);
        pdl_net_free(net);
    }
    free(text);
    return 0;
}
