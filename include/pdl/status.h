/* Status codes, the thread-local error detail and the logging callback.
 * Every libpdl function that can fail returns pdl_status; on failure pdl_last_error() says why,
 * naming the file/line/field involved. The library never prints; it logs through a callback. */
#ifndef PDL_STATUS_H
#define PDL_STATUS_H

#ifdef __cplusplus
extern "C" {
#endif

typedef enum pdl_status {
    PDL_OK = 0,
    PDL_ERR_INVALID = -1,     /* a bad argument or option value */
    PDL_ERR_PARSE = -2,       /* a malformed model file or text */
    PDL_ERR_IO = -3,          /* open/read/write failed; errno's message attached */
    PDL_ERR_NOMEM = -4,       /* an allocation failed */
    PDL_ERR_SHAPE = -5,       /* shapes do not fit together */
    PDL_ERR_FORMAT = -6,      /* a truncated or corrupted data, weights or state file */
    PDL_ERR_UNSUPPORTED = -7, /* valid, but not implemented by this build */
    PDL_ERR_INTERRUPTED = -8, /* stopped on request (Ctrl-C); state was saved */
} pdl_status;

/* The detail message of the last error on this thread ("" when none). Valid until the next
 * failing call on this thread. */
const char *pdl_last_error(void);

/* A short constant name for a status ("invalid argument", "parse error", ...). */
const char *pdl_status_name(pdl_status status);

typedef enum pdl_log_level {
    PDL_LOG_DEBUG = 0,
    PDL_LOG_INFO = 1,
    PDL_LOG_WARN = 2,
    PDL_LOG_ERROR = 3,
} pdl_log_level;

typedef void (*pdl_log_fn)(pdl_log_level level, const char *message, void *user);

/* Routes library log messages at or above min_level to fn (NULL silences the library). */
void pdl_log_set_callback(pdl_log_fn fn, void *user, pdl_log_level min_level);

#ifdef __cplusplus
}
#endif
#endif
