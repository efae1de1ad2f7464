/* Files on disk: weights as safetensors (PyTorch-style names, the model text in the metadata,
 * a checksum) and the training state for an exact resume. Writes are atomic (temp file, fsync,
 * rename); reads verify sizes and checksums and refuse a truncated or corrupted file whole. */
#ifndef PDL_CHECKPOINT_H
#define PDL_CHECKPOINT_H

#include "pdl/net.h"
#include "pdl/optim.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Writes every named tensor of net (parameters and buffers, F32) to path as safetensors with
 * metadata {"pdl_model": model text, "pdl_format": "pdl-weights-1", "pdl_crc32": ...}. */
pdl_status pdl_weights_save(pdl_net *net, const char *path);
/* Loads tensors by name into net. Every tensor of the net must be present with its shape, else a
 * clear error naming the tensor (extra tensors in the file are ignored, as PyTorch's
 * num_batches_tracked). Accepts files written by Python's safetensors (no checksum) too. */
pdl_status pdl_weights_load(pdl_net *net, const char *path);
/* Reads just the model text stored in a pdl weights file's metadata. Caller frees *text. */
pdl_status pdl_weights_model_text(const char *path, char **text);

/* Where a training run stands, enough to continue it bit for bit. */
typedef struct pdl_train_position {
    int64_t epoch;       /* epoch in progress (0-based) */
    int64_t batch_index; /* next batch within that epoch */
    int64_t step;        /* optimizer steps done */
    uint64_t seed;
    int64_t workers;     /* data-parallel workers (world size) that trained it; 0 counts as 1.
                          * A resume needs the same number (pdl_train checks). */
} pdl_train_position;

/* Writes weights, buffers, optimizer state and position to path (safetensors layout with
 * "pdl_format": "pdl-state-1"), atomically and checksummed. */
pdl_status pdl_state_save(pdl_net *net, pdl_optimizer *opt, const pdl_train_position *pos,
                          const char *path);
/* Restores what pdl_state_save wrote into a net built from the same model and an optimizer of
 * the same kind and size. */
pdl_status pdl_state_load(pdl_net *net, pdl_optimizer *opt, pdl_train_position *pos,
                          const char *path);

#ifdef __cplusplus
}
#endif
#endif
