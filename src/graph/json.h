/* A strict reader and a small writer for the JSON subset safetensors headers use: objects,
 * arrays, strings (all escapes, \uXXXX with surrogate pairs, valid UTF-8 only) and non-negative
 * integers. The reader is a cursor: the caller walks the structure it expects, so nothing else
 * (numbers with fractions, true/false/null, nesting beyond what is asked for) is ever accepted.
 * Errors are PDL_ERR_FORMAT naming the byte offset; the caller adds the file name. */
#ifndef PDL_GRAPH_JSON_H
#define PDL_GRAPH_JSON_H

#include "pdl/status.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct pdl_json {
    const char *text;
    size_t len;
    size_t pos;
} pdl_json;

/* A cursor at the start of text (len bytes, need not be NUL-terminated). */
pdl_json pdl_json_reader(const char *text, size_t len);

/* Consumes open ('{' or '['), after optional whitespace. */
pdl_status pdl_json_open(pdl_json *j, char open);
/* Before the index-th item of the object or array closed by close: *more = false and the close
 * is consumed when it comes next; otherwise *more = true and, for index > 0, the ',' before the
 * item is consumed. */
pdl_status pdl_json_next(pdl_json *j, char close, int index, bool *more);
/* A string into a new NUL-terminated buffer the caller frees; "\u0000" is refused. */
pdl_status pdl_json_string(pdl_json *j, char **out);
/* An object key: a string and the ':' after it. Caller frees *key. */
pdl_status pdl_json_key(pdl_json *j, char **key);
/* A non-negative integer without sign, fraction, exponent or leading zeros, < 2^64. */
pdl_status pdl_json_uint(pdl_json *j, uint64_t *out);
/* Only whitespace may remain. */
pdl_status pdl_json_finish(pdl_json *j);

/* A growable output buffer; after a failed allocation every append is a no-op and failed is set. */
typedef struct pdl_json_buf {
    char *data;
    size_t len, cap;
    bool failed;
} pdl_json_buf;

void pdl_json_put(pdl_json_buf *b, const char *s, size_t n);
/* s (NUL-terminated) as a quoted JSON string; s must be valid UTF-8. */
void pdl_json_put_string(pdl_json_buf *b, const char *s);
void pdl_json_put_uint(pdl_json_buf *b, uint64_t v);

/* Whether s[0..n) is valid UTF-8 (no overlong forms, surrogates or code points > U+10FFFF). */
bool pdl_json_utf8_valid(const char *s, size_t n);
/* Replaces every byte of s that is not part of a valid UTF-8 sequence with '?', in place. */
void pdl_json_utf8_sanitize(char *s);

#endif
