/* The model-file text format: splitting lines into [section] headers and key = value entries,
 * expanding [repeat] blocks with ${...} arithmetic, and the typed, validated getters.
 * Knows nothing of layers, nets or training: what a key means is its reader's business. */
#include "graph/cfg.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    REPEAT_DEPTH_MAX = 4,
    REPEAT_COUNT_MAX = 10000,
    SECTIONS_MAX = 100000,       /* after expansion */
    VISITS_MAX = 4000000,        /* lines visited while expanding: bounds the work */
    EXPR_DEPTH_MAX = 64,         /* nesting of parentheses and unary signs in ${...} */
    SHOW_MAX = 60,               /* characters of a line or value quoted in a message */
    MESSAGE_MAX = 768,
};
#define EXPANDED_BYTES_MAX ((size_t)64 << 20)

/* ---- quoting text in messages ---------------------------------------------------------- */

/* Writes s[0..n) into buf for a message: non-printable bytes as \xNN, cut after SHOW_MAX. */
static const char *show(char *buf, size_t cap, const char *s, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n && o + 8 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        if (i == SHOW_MAX) {
            memcpy(buf + o, "...", 3);
            o += 3;
            break;
        }
        if (c >= 0x20 && c < 0x7f)
            buf[o++] = (char)c;
        else
            o += (size_t)snprintf(buf + o, cap - o, "\\x%02x", c);
    }
    buf[o] = '\0';
    return buf;
}

static bool is_space(char c) { return c == ' ' || c == '\t'; }
static bool is_type_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}
static bool is_key_char(char c)
{
    return is_type_char(c) || (c >= 'A' && c <= 'Z') || c == '.';
}

/* Trims spaces and tabs from both ends of s[*b..*e). */
static void trim(const char *s, size_t *b, size_t *e)
{
    while (*b < *e && is_space(s[*b]))
        (*b)++;
    while (*e > *b && is_space(s[*e - 1]))
        (*e)--;
}

/* ---- pass 1: lines into items ---------------------------------------------------------- */

typedef enum item_kind { ITEM_SECTION, ITEM_KEY, ITEM_REPEAT, ITEM_END } item_kind;

typedef struct item {
    item_kind kind;
    int line;
    const char *a; /* section type or key */
    size_t a_len;
    const char *b; /* value */
    size_t b_len;
    int match;     /* ITEM_REPEAT: index of its [end] */
} item;

typedef struct parser {
    const char *file;
    item *items;
    int n_items, cap_items;
    /* expansion output */
    pdl_cfg *cfg;
    int cap_sections, cap_entries; /* of cfg->sections and of the last section's entries */
    int64_t visits;
    size_t bytes;
} parser;

static pdl_status line_error(const parser *p, int line, const char *fmt, ...) PDL_PRINTF(3, 4);
static pdl_status line_error(const parser *p, int line, const char *fmt, ...)
{
    char message[MESSAGE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    return pdl_error(PDL_ERR_PARSE, "%s:%d: %s", p->file, line, message);
}

static pdl_status item_push(parser *p, item it)
{
    if (p->n_items == p->cap_items) {
        int cap = p->cap_items ? 2 * p->cap_items : 64;
        item *grown = realloc(p->items, (size_t)cap * sizeof *grown);
        if (!grown)
            return pdl_error(PDL_ERR_NOMEM, "%s: out of memory reading the model file", p->file);
        p->items = grown;
        p->cap_items = cap;
    }
    p->items[p->n_items++] = it;
    return PDL_OK;
}

/* Classifies one trimmed, comment-free line s[0..n) (n > 0) into an item. */
static pdl_status classify(const parser *p, int line, const char *s, size_t n, item *it)
{
    char shown[4 * SHOW_MAX + 16];
    memset(it, 0, sizeof *it);
    it->line = line;
    if (s[0] == '[') {
        if (s[n - 1] != ']')
            return line_error(p, line, "section header without closing ']': '%s'",
                              show(shown, sizeof shown, s, n));
        size_t b = 1, e = n - 1;
        trim(s, &b, &e);
        bool ok = b < e;
        for (size_t i = b; i < e; i++)
            ok = ok && is_type_char(s[i]);
        if (!ok)
            return line_error(p, line,
                              "bad section header '%s': the type is lowercase letters, digits "
                              "and '_' like [conv]",
                              show(shown, sizeof shown, s, n));
        it->a = s + b;
        it->a_len = e - b;
        it->kind = ITEM_SECTION;
        if (it->a_len == 6 && memcmp(it->a, "repeat", 6) == 0)
            it->kind = ITEM_REPEAT;
        else if (it->a_len == 3 && memcmp(it->a, "end", 3) == 0)
            it->kind = ITEM_END;
        return PDL_OK;
    }
    const char *eq = memchr(s, '=', n);
    if (!eq)
        return line_error(p, line, "expected '[section]' or 'key = value', got '%s'",
                          show(shown, sizeof shown, s, n));
    size_t kb = 0, ke = (size_t)(eq - s), vb = ke + 1, ve = n;
    trim(s, &kb, &ke);
    trim(s, &vb, &ve);
    if (kb == ke)
        return line_error(p, line, "missing key before '=' in '%s'",
                          show(shown, sizeof shown, s, n));
    for (size_t i = kb; i < ke; i++)
        if (!is_key_char(s[i]))
            return line_error(p, line,
                              "bad key '%s': keys are letters, digits, '_' and '.'",
                              show(shown, sizeof shown, s + kb, ke - kb));
    it->kind = ITEM_KEY;
    it->a = s + kb;
    it->a_len = ke - kb;
    it->b = s + vb;
    it->b_len = ve - vb;
    return PDL_OK;
}

static int cmp_key_items(const void *x, const void *y)
{
    const item *a = *(const item *const *)x, *b = *(const item *const *)y;
    size_t n = a->a_len < b->a_len ? a->a_len : b->a_len;
    int c = memcmp(a->a, b->a, n);
    if (c)
        return c;
    if (a->a_len != b->a_len)
        return a->a_len < b->a_len ? -1 : 1;
    return (a->line > b->line) - (a->line < b->line);
}

/* The keys items[first..end) of the section headed by items[first - 1]: no key twice. */
static pdl_status check_duplicates(const parser *p, int first, int end)
{
    int n = end - first;
    if (n < 2)
        return PDL_OK;
    const item **sorted = malloc((size_t)n * sizeof *sorted);
    if (!sorted)
        return pdl_error(PDL_ERR_NOMEM, "%s: out of memory reading the model file", p->file);
    for (int i = 0; i < n; i++)
        sorted[i] = &p->items[first + i];
    qsort(sorted, (size_t)n, sizeof *sorted, cmp_key_items);
    const item *dup = NULL, *orig = NULL;
    for (int i = 0; i < n;) {
        int j = i + 1;
        while (j < n && sorted[j]->a_len == sorted[i]->a_len &&
               memcmp(sorted[j]->a, sorted[i]->a, sorted[i]->a_len) == 0)
            j++;
        if (j - i >= 2 && (!dup || sorted[i + 1]->line < dup->line)) {
            orig = sorted[i];
            dup = sorted[i + 1];
        }
        i = j;
    }
    free(sorted);
    if (!dup)
        return PDL_OK;
    const item *head = &p->items[first - 1];
    char key[4 * SHOW_MAX + 16];
    return line_error(p, dup->line, "[%.*s] key '%s': duplicate key (first set on line %d)",
                      (int)head->a_len, head->a, show(key, sizeof key, dup->a, dup->a_len),
                      orig->line);
}
