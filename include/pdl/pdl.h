/* libpdl: practical deep learning in C. Include this one header for the whole public API. */
#ifndef PDL_PDL_H
#define PDL_PDL_H

#include "pdl/bench.h"
#include "pdl/checkpoint.h"
#include "pdl/data.h"
#include "pdl/dataset.h"
#include "pdl/loader.h"
#include "pdl/net.h"
#include "pdl/optim.h"
#include "pdl/status.h"
#include "pdl/tensor.h"
#include "pdl/train.h"

#define PDL_VERSION "0.1.0"

#endif
