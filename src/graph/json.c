/* The strict JSON cursor and writer for safetensors headers (see json.h). Owns no knowledge of
 * safetensors itself: which keys and values a header has is graph/safetensors.c's business. */
#include "graph/json.h"

#include "core/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

pdl_json pdl_json_reader(const char *text, size_t len) { return (pdl_json){text, len, 0}; }

static pdl_status fail(const pdl_json *j, const char *what)
{
    if (j->pos >= j->len)
        return pdl_error(PDL_ERR_FORMAT, "JSON header ends early: %s", what);
    unsigned char c = (unsigned char)j->text[j->pos];
    if (c >= 0x20 && c < 0x7f)
        return pdl_error(PDL_ERR_FORMAT, "JSON header byte %zu ('%c'): %s", j->pos, c, what);
    return pdl_error(PDL_ERR_FORMAT, "JSON header byte %zu (0x%02x): %s", j->pos, c, what);
}

static void skip_space(pdl_json *j)
{
    while (j->pos < j->len) {
        char c = j->text[j->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            break;
        j->pos++;
    }
}

/* The next character after whitespace, or -1 at the end. */
static int peek(pdl_json *j)
{
    skip_space(j);
    return j->pos < j->len ? (unsigned char)j->text[j->pos] : -1;
}

pdl_status pdl_json_open(pdl_json *j, char open)
{
    if (peek(j) != open)
        return fail(j, open == '{' ? "expected '{'" : "expected '['");
    j->pos++;
    return PDL_OK;
}

pdl_status pdl_json_next(pdl_json *j, char close, int index, bool *more)
{
    int c = peek(j);
    *more = false;
    if (c == close) {
        j->pos++;
        return PDL_OK;
    }
    if (index > 0) {
        if (c != ',')
            return fail(j, close == '}' ? "expected ',' or '}'" : "expected ',' or ']'");
        j->pos++;
    }
    *more = true;
    return PDL_OK;
}

/* Length of the valid UTF-8 sequence at s[0..n), 0 when it is not one. */
static size_t utf8_sequence(const unsigned char *s, size_t n)
{
    unsigned char lo = 0x80, hi = 0xbf;
    size_t len;
    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xc2 && s[0] <= 0xdf)
        len = 2;
    else if (s[0] >= 0xe0 && s[0] <= 0xef)
        len = 3, lo = s[0] == 0xe0 ? 0xa0 : 0x80, hi = s[0] == 0xed ? 0x9f : 0xbf;
    else if (s[0] >= 0xf0 && s[0] <= 0xf4)
        len = 4, lo = s[0] == 0xf0 ? 0x90 : 0x80, hi = s[0] == 0xf4 ? 0x8f : 0xbf;
    else
        return 0;
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if (s[i] < 0x80 || s[i] > 0xbf)
            return 0;
    return len;
}

bool pdl_json_utf8_valid(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0, len; i < n; i += len)
        if (!(len = utf8_sequence(u + i, n - i)))
            return false;
    return true;
}

void pdl_json_utf8_sanitize(char *s)
{
    unsigned char *u = (unsigned char *)s;
    size_t n = strlen(s);
    for (size_t i = 0, len; i < n; i += len)
        if (!(len = utf8_sequence(u + i, n - i))) {
            u[i] = '?';
            len = 1;
        }
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Four hex digits after "\u" at j->pos; advances past them. */
static bool read_hex4(pdl_json *j, unsigned *out)
{
    unsigned v = 0;
    if (j->len - j->pos < 4)
        return false;
    for (int i = 0; i < 4; i++) {
        int d = hex_digit(j->text[j->pos + (size_t)i]);
        if (d < 0)
            return false;
        v = v * 16 + (unsigned)d;
    }
    j->pos += 4;
    *out = v;
    return true;
}

/* Decodes the escape after a backslash at j->pos into out (1-4 bytes); returns the count or 0. */
static size_t read_escape(pdl_json *j, char *out)
{
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    const char *hit;
    unsigned cp, low;
    if (j->pos >= j->len)
        return 0;
    char c = j->text[j->pos++];
    if (c != 'u') {
        if (!c || !(hit = strchr(from, c)))
            return 0;
        out[0] = to[hit - from];
        return 1;
    }
    if (!read_hex4(j, &cp) || cp == 0 || (cp >= 0xdc00 && cp <= 0xdfff))
        return 0;
    if (cp >= 0xd800 && cp <= 0xdbff) {
        if (j->len - j->pos < 2 || j->text[j->pos] != '\\' || j->text[j->pos + 1] != 'u')
            return 0;
        j->pos += 2;
        if (!read_hex4(j, &low) || low < 0xdc00 || low > 0xdfff)
            return 0;
        cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
    }
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xc0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xe0 | cp >> 12);
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (char)(0xf0 | cp >> 18);
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    out[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

pdl_status pdl_json_string(pdl_json *j, char **out)
{
    pdl_status st = PDL_OK;
    *out = NULL;
    if (peek(j) != '"')
        return fail(j, "expected a string");
    j->pos++;
    /* The decoded string is never longer than its encoding, up to the closing quote. */
    size_t end = j->pos, n = 0;
    while (end < j->len && j->text[end] != '"')
        end += j->text[end] == '\\' ? 2 : 1;
    char *s = malloc(end - j->pos + 5);
    if (!s)
        return pdl_error(PDL_ERR_NOMEM, "out of memory reading a JSON header");
    for (;;) {
        if (j->pos >= j->len) {
            st = fail(j, "unterminated string");
            goto fail;
        }
        unsigned char c = (unsigned char)j->text[j->pos];
        if (c == '"')
            break;
        if (c < 0x20) {
            st = fail(j, "control character in a string");
            goto fail;
        }
        if (c == '\\') {
            size_t at = j->pos++;
            size_t len = read_escape(j, s + n);
            if (!len) {
                j->pos = at;
                st = fail(j, "bad escape in a string");
                goto fail;
            }
            n += len;
            continue;
        }
        size_t len = utf8_sequence((const unsigned char *)j->text + j->pos, j->len - j->pos);
        if (!len) {
            st = fail(j, "invalid UTF-8 in a string");
            goto fail;
        }
        memcpy(s + n, j->text + j->pos, len);
        n += len;
        j->pos += len;
    }
    j->pos++;
    s[n] = '\0';
    *out = s;
    return PDL_OK;
fail:
    free(s);
    return st;
}

pdl_status pdl_json_key(pdl_json *j, char **key)
{
    pdl_status st = pdl_json_string(j, key);
    if (st)
        return st;
    if (peek(j) != ':') {
        free(*key);
        *key = NULL;
        return fail(j, "expected ':'");
    }
    j->pos++;
    return PDL_OK;
}

pdl_status pdl_json_uint(pdl_json *j, uint64_t *out)
{
    int c = peek(j);
    uint64_t v = 0;
    if (c < '0' || c > '9')
        return fail(j, "expected a non-negative integer");
    size_t start = j->pos;
    while (j->pos < j->len && j->text[j->pos] >= '0' && j->text[j->pos] <= '9') {
        unsigned d = (unsigned)(j->text[j->pos] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return fail(j, "integer too large");
        v = v * 10 + d;
        j->pos++;
    }
    if (j->text[start] == '0' && j->pos - start > 1) {
        j->pos = start;
        return fail(j, "leading zero in an integer");
    }
    if (j->pos < j->len && (j->text[j->pos] == '.' || j->text[j->pos] == 'e' ||
                            j->text[j->pos] == 'E'))
        return fail(j, "expected an integer, not a fraction");
    *out = v;
    return PDL_OK;
}

pdl_status pdl_json_finish(pdl_json *j)
{
    if (peek(j) != -1)
        return fail(j, "unexpected text after the header object");
    return PDL_OK;
}

void pdl_json_put(pdl_json_buf *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *grown = realloc(b->data, cap);
        if (!grown) {
            b->failed = true;
            return;
        }
        b->data = grown;
        b->cap = cap;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void pdl_json_put_string(pdl_json_buf *b, const char *s)
{
    pdl_json_put(b, "\"", 1);
    for (const char *run = s;; s++) {
        unsigned char c = (unsigned char)*s;
        if (c != 0 && c != '"' && c != '\\' && c >= 0x20)
            continue;
        pdl_json_put(b, run, (size_t)(s - run));
        run = s + 1;
        if (!c)
            break;
        char esc[8];
        if (c == '"' || c == '\\')
            snprintf(esc, sizeof esc, "\\%c", c);
        else if (c == '\n')
            snprintf(esc, sizeof esc, "\\n");
        else if (c == '\t')
            snprintf(esc, sizeof esc, "\\t");
        else
            snprintf(esc, sizeof esc, "\\u%04x", c);
        pdl_json_put(b, esc, strlen(esc));
    }
    pdl_json_put(b, "\"", 1);
}

void pdl_json_put_uint(pdl_json_buf *b, uint64_t v)
{
    char digits[24];
    int n = snprintf(digits, sizeof digits, "%llu", (unsigned long long)v);
    pdl_json_put(b, digits, (size_t)n);
}
