/* Library-internal logging through the callback set by pdl_log_set_callback. */
#ifndef PDL_CORE_LOG_H
#define PDL_CORE_LOG_H

#include "core/error.h"

void pdl_log(pdl_log_level level, const char *fmt, ...) PDL_PRINTF(2, 3);

#endif
