/* The thread-local error detail and status names. Owns nothing else. */
#include "core/error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { ERROR_MESSAGE_MAX = 1024 };
static _Thread_local char last_error[ERROR_MESSAGE_MAX];

const char *pdl_last_error(void) { return last_error; }

const char *pdl_status_name(pdl_status status)
{
    switch (status) {
    case PDL_OK: return "ok";
    case PDL_ERR_INVALID: return "invalid argument";
    case PDL_ERR_PARSE: return "parse error";
    case PDL_ERR_IO: return "i/o error";
    case PDL_ERR_NOMEM: return "out of memory";
    case PDL_ERR_SHAPE: return "shape mismatch";
    case PDL_ERR_FORMAT: return "bad file format";
    case PDL_ERR_UNSUPPORTED: return "unsupported";
    case PDL_ERR_INTERRUPTED: return "interrupted";
    }
    return "unknown status";
}

pdl_status pdl_error(pdl_status code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return code;
}

pdl_status pdl_error_context(pdl_status code, const char *fmt, ...)
{
    char prefix[ERROR_MESSAGE_MAX];
    char previous[ERROR_MESSAGE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(previous, last_error, sizeof previous);
    snprintf(last_error, sizeof last_error, "%.500s: %.500s", prefix, previous);
    return code;
}

pdl_status pdl_error_errno(const char *what, const char *path)
{
    int saved = errno;
    return pdl_error(PDL_ERR_IO, "%s '%s': %s", what, path, strerror(saved));
}

void pdl_assert_fail(const char *cond, const char *file, int line)
{
    fprintf(stderr, "pdl: internal error: assertion '%s' failed at %s:%d\n", cond, file, line);
    abort();
}
