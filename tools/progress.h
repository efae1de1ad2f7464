/* Formatting of training progress for the terminal: durations, the one-line progress bar and the
 * per-epoch result table. Owns no state and does no I/O besides writing to the given stream. */
#ifndef PDL_TOOLS_PROGRESS_H
#define PDL_TOOLS_PROGRESS_H

#include "pdl/train.h"

#include <stddef.h>
#include <stdio.h>

/* "42s", "3m05s", "1h02m", "2d03h", or "?" for a negative or non-finite time; returns buf. */
char *progress_duration(double seconds, char *buf, size_t size);

/* "epoch 2/10 [=======>      ] 311/937 loss 0.4321 lr 0.01 5210 img/s ETA 3m05s" into buf
 * (bar_width characters between the brackets, 0 = no bar). */
void progress_line(const pdl_train_progress *p, int bar_width, char *buf, size_t size);

/* The result table: a header, then one row per epoch result. */
void progress_table_header(FILE *out, int k);
void progress_table_row(FILE *out, const pdl_epoch_result *e);

#endif
