/* The logging callback. The library never prints: messages go to the callback or nowhere. */
#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>

static pdl_log_fn log_fn;
static void *log_user;
static pdl_log_level log_min = PDL_LOG_INFO;

void pdl_log_set_callback(pdl_log_fn fn, void *user, pdl_log_level min_level)
{
    log_fn = fn;
    log_user = user;
    log_min = min_level;
}

void pdl_log(pdl_log_level level, const char *fmt, ...)
{
    if (!log_fn || level < log_min)
        return;
    char message[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    log_fn(level, message, log_user);
}
