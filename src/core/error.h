/* Setting the thread-local error detail behind pdl_last_error(). Internal to libpdl. */
#ifndef PDL_CORE_ERROR_H
#define PDL_CORE_ERROR_H

#include "pdl/status.h"

#if defined(__GNUC__)
#define PDL_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define PDL_PRINTF(f, a)
#endif

/* Sets the detail message and returns code, so that failures read `return pdl_error(...)`. */
pdl_status pdl_error(pdl_status code, const char *fmt, ...) PDL_PRINTF(2, 3);
/* Prepends "context: " to the current detail message and returns code. */
pdl_status pdl_error_context(pdl_status code, const char *fmt, ...) PDL_PRINTF(2, 3);
/* PDL_ERR_IO with "<what> '<path>': <strerror(errno)>". */
pdl_status pdl_error_errno(const char *what, const char *path);

/* Programmer errors only (never bad input): on in release builds, aborts with file:line. */
#define PDL_ASSERT(cond)                                                                          \
    ((cond) ? (void)0 : pdl_assert_fail(#cond, __FILE__, __LINE__))
_Noreturn void pdl_assert_fail(const char *cond, const char *file, int line);

#endif
