/* What the training loop and evaluation share inside src/train; not public API. */
#ifndef PDL_TRAIN_INTERNAL_H
#define PDL_TRAIN_INTERNAL_H

#include "pdl/train.h"

/* Checks that src fits net: sample shape equals the net's input, labels exist and are below the
 * net's classes, at least one sample. Errors name the source. */
pdl_status pdl_train_check_source(const pdl_net *net, const pdl_data_source *src);

#endif
