/* The model-file text format: splitting lines into [section] headers and key = value entries,
 * expanding [repeat] blocks with ${...} arithmetic, and the typed, validated getters.
 * Knows nothing of layers, nets or training: what a key means is its reader's business. */
#include "graph/cfg.h"

#include <float.h>
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
    SHOWN_SIZE = 4 * SHOW_MAX + 16, /* a quote's buffer: \xNN escapes and "..." */
    MESSAGE_MAX = 768,
};
#define EXPANDED_BYTES_MAX ((size_t)16 << 20) /* strings and structs after expansion */

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

/* A decimal integer with an optional sign filling all of s[0..n). */
static bool parse_i64(const char *s, size_t n, int64_t *out)
{
    size_t i = 0;
    bool negative = n > 0 && s[0] == '-';
    if (n > 0 && (s[0] == '-' || s[0] == '+'))
        i = 1;
    if (i == n)
        return false;
    int64_t v = 0;
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        int digit = s[i] - '0';
        if (__builtin_mul_overflow(v, 10, &v) ||
            __builtin_add_overflow(v, negative ? -digit : digit, &v))
            return false;
    }
    *out = v;
    return true;
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

static pdl_status nomem(const char *file)
{
    return pdl_error(PDL_ERR_NOMEM, "%s: out of memory reading the model file", file);
}

/* array (holding n of *cap elements of size bytes) with room for one more, or NULL when out of
 * memory (array is then unchanged). */
static void *grow(void *array, int *cap, int n, size_t size)
{
    if (n < *cap)
        return array;
    int bigger = *cap ? 2 * *cap : 16;
    void *grown = realloc(array, (size_t)bigger * size);
    if (grown)
        *cap = bigger;
    return grown;
}

static pdl_status item_push(parser *p, item it)
{
    item *items = grow(p->items, &p->cap_items, p->n_items, sizeof *items);
    if (!items)
        return nomem(p->file);
    p->items = items;
    p->items[p->n_items++] = it;
    return PDL_OK;
}

/* Classifies one trimmed, comment-free line s[0..n) (n > 0) into an item. */
static pdl_status classify(const parser *p, int line, const char *s, size_t n, item *it)
{
    char shown[SHOWN_SIZE];
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
        return nomem(p->file);
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
    char key[SHOWN_SIZE];
    return line_error(p, dup->line, "[%.*s] key '%s': duplicate key (first set on line %d)",
                      (int)head->a_len, head->a, show(key, sizeof key, dup->a, dup->a_len),
                      orig->line);
}

/* Ends the section headed by items[head] (keys up to items[end]): duplicate keys, and a
 * [repeat] takes exactly one key, count. */
static pdl_status close_section(const parser *p, int head, int end)
{
    if (head < 0)
        return PDL_OK;
    pdl_status st = check_duplicates(p, head + 1, end);
    if (st || p->items[head].kind != ITEM_REPEAT)
        return st;
    char key[SHOWN_SIZE];
    for (int i = head + 1; i < end; i++) {
        const item *it = &p->items[i];
        if (it->a_len != 5 || memcmp(it->a, "count", 5) != 0)
            return line_error(p, it->line,
                              "[repeat] key '%s': unknown key (a [repeat] takes only count)",
                              show(key, sizeof key, it->a, it->a_len));
    }
    if (end == head + 1)
        return line_error(p, p->items[head].line, "[repeat] needs 'count = N'");
    return PDL_OK;
}

/* Pass 1: text into items; checks everything that does not depend on ${...} values. */
static pdl_status read_items(parser *p, const char *text, size_t len)
{
    char shown[SHOWN_SIZE];
    int open[REPEAT_DEPTH_MAX];
    int depth = 0, head = -1, line = 0, end_line = 0;
    size_t pos = 0;
    pdl_status st = PDL_OK;
    if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0)
        pos = 3; /* UTF-8 byte order mark */
    while (pos < len) {
        if (line == INT_MAX)
            return line_error(p, line, "too many lines");
        line++;
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t b = pos, e = nl ? (size_t)(nl - text) : len;
        pos = nl ? e + 1 : len;
        if (e > b && text[e - 1] == '\r')
            e--;
        for (size_t i = b; i < e; i++) {
            unsigned char c = (unsigned char)text[i];
            if ((c < 0x20 && c != '\t') || c == 0x7f)
                return line_error(p, line, "control character 0x%02x in '%s'", c,
                                  show(shown, sizeof shown, text + b, e - b));
        }
        const char *hash = memchr(text + b, '#', e - b);
        if (hash)
            e = (size_t)(hash - text);
        trim(text, &b, &e);
        if (b == e)
            continue;
        item it;
        if ((st = classify(p, line, text + b, e - b, &it)))
            return st;
        if (it.kind == ITEM_KEY && head < 0) {
            if (end_line)
                return line_error(p, line,
                                  "'%s' follows [end] (line %d): start a [section] first",
                                  show(shown, sizeof shown, text + b, e - b), end_line);
            return line_error(p, line, "'%s' before the first [section]",
                              show(shown, sizeof shown, text + b, e - b));
        }
        if (it.kind != ITEM_KEY) {
            if ((st = close_section(p, head, p->n_items)))
                return st;
            head = p->n_items;
        }
        if (it.kind == ITEM_REPEAT) {
            if (depth == REPEAT_DEPTH_MAX)
                return line_error(p, line, "[repeat] nested more than %d deep",
                                  REPEAT_DEPTH_MAX);
            open[depth++] = p->n_items;
        } else if (it.kind == ITEM_END) {
            if (depth == 0)
                return line_error(p, line, "[end] without a matching [repeat]");
            p->items[open[--depth]].match = p->n_items;
            head = -1;
            end_line = line;
        }
        if ((st = item_push(p, it)))
            return st;
    }
    if ((st = close_section(p, head, p->n_items)))
        return st;
    if (depth > 0)
        return line_error(p, p->items[open[depth - 1]].line,
                          "[repeat] is never closed by [end]");
    return PDL_OK;
}

/* ---- ${...} arithmetic ----------------------------------------------------------------- */

typedef struct expr {
    const char *s;
    size_t n, pos;
    const int64_t *vars; /* vars[0] = i (innermost), vars[1] = j, vars[2] = k */
    int n_vars;
    int depth;
    char why[320];
} expr;

static bool expr_fail(expr *e, const char *why)
{
    snprintf(e->why, sizeof e->why, "%s", why);
    return false;
}

static void expr_space(expr *e)
{
    while (e->pos < e->n && is_space(e->s[e->pos]))
        e->pos++;
}

static bool expr_sum(expr *e, int64_t *out);

static bool expr_factor(expr *e, int64_t *out)
{
    expr_space(e);
    if (e->pos == e->n)
        return expr_fail(e, "expression ends early");
    if (++e->depth > EXPR_DEPTH_MAX)
        return expr_fail(e, "expression nested too deeply");
    char c = e->s[e->pos];
    bool ok = true;
    if (c == '(') {
        e->pos++;
        ok = expr_sum(e, out);
        expr_space(e);
        if (ok && (e->pos == e->n || e->s[e->pos] != ')'))
            ok = expr_fail(e, "missing ')'");
        e->pos++;
    } else if (c == '-' || c == '+') {
        e->pos++;
        ok = expr_factor(e, out);
        if (ok && c == '-') {
            if (*out == INT64_MIN)
                ok = expr_fail(e, "integer overflow");
            else
                *out = -*out;
        }
    } else if (c >= '0' && c <= '9') {
        int64_t v = 0;
        while (ok && e->pos < e->n && e->s[e->pos] >= '0' && e->s[e->pos] <= '9') {
            if (__builtin_mul_overflow(v, 10, &v) ||
                __builtin_add_overflow(v, e->s[e->pos] - '0', &v))
                ok = expr_fail(e, "integer overflow");
            e->pos++;
        }
        *out = v;
    } else if (is_key_char(c)) {
        size_t b = e->pos;
        while (e->pos < e->n && is_key_char(e->s[e->pos]))
            e->pos++;
        size_t len = e->pos - b;
        int index = len == 1 && c >= 'i' && c <= 'k' ? c - 'i' : -1;
        char name[SHOWN_SIZE];
        show(name, sizeof name, e->s + b, len);
        if (index < 0) {
            snprintf(e->why, sizeof e->why, "unknown variable '%s' (the variables are i, j, k)",
                     name);
            ok = false;
        } else if (index >= e->n_vars) {
            static const char *const defined[] = {"no enclosing [repeat]",
                                                  "inside 1 [repeat] only i is defined",
                                                  "inside 2 [repeat]s only i and j are defined"};
            snprintf(e->why, sizeof e->why, "unknown variable '%s' (%s)", name,
                     defined[e->n_vars]);
            ok = false;
        } else {
            *out = e->vars[index];
        }
    } else {
        snprintf(e->why, sizeof e->why, "unexpected character '%c'", c);
        ok = false;
    }
    e->depth--;
    return ok;
}

static bool expr_product(expr *e, int64_t *out)
{
    if (!expr_factor(e, out))
        return false;
    for (;;) {
        expr_space(e);
        if (e->pos == e->n)
            return true;
        char op = e->s[e->pos];
        if (op != '*' && op != '/' && op != '%')
            return true;
        e->pos++;
        int64_t rhs;
        if (!expr_factor(e, &rhs))
            return false;
        if (op == '*') {
            if (__builtin_mul_overflow(*out, rhs, out))
                return expr_fail(e, "integer overflow");
        } else if (rhs == 0) {
            return expr_fail(e, "division by zero");
        } else if (*out == INT64_MIN && rhs == -1) {
            return expr_fail(e, "integer overflow");
        } else {
            *out = op == '/' ? *out / rhs : *out % rhs;
        }
    }
}

static bool expr_sum(expr *e, int64_t *out)
{
    if (!expr_product(e, out))
        return false;
    for (;;) {
        expr_space(e);
        if (e->pos == e->n)
            return true;
        char op = e->s[e->pos];
        if (op != '+' && op != '-')
            return true;
        e->pos++;
        int64_t rhs;
        if (!expr_product(e, &rhs))
            return false;
        if (op == '+' ? __builtin_add_overflow(*out, rhs, out)
                      : __builtin_sub_overflow(*out, rhs, out))
            return expr_fail(e, "integer overflow");
    }
}

/* ---- pass 2: expansion ----------------------------------------------------------------- */

typedef struct strbuf {
    char *data;
    size_t len, cap;
} strbuf;

static bool strbuf_add(strbuf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *grown = realloc(b->data, cap);
        if (!grown)
            return false;
        b->data = grown;
        b->cap = cap;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
    return true;
}

/* The value of key item it with every ${expr} replaced by its value, into out. */
static pdl_status substitute(const parser *p, const char *type, const item *it,
                             const int64_t *vars, int n_vars, strbuf *out)
{
    char key[SHOWN_SIZE], shown[SHOWN_SIZE];
    const char *s = it->b, *end = it->b + it->b_len;
    out->len = 0;
    if (!strbuf_add(out, "", 0))
        return nomem(p->file);
    while (s < end) {
        const char *dollar = s;
        while (dollar + 1 < end && !(dollar[0] == '$' && dollar[1] == '{'))
            dollar++;
        if (dollar + 1 >= end)
            dollar = end;
        if (!strbuf_add(out, s, (size_t)(dollar - s)))
            return nomem(p->file);
        if (dollar == end)
            break;
        const char *close = memchr(dollar, '}', (size_t)(end - dollar));
        show(key, sizeof key, it->a, it->a_len);
        if (!close)
            return line_error(p, it->line, "[%s] key '%s': '${' without a closing '}' in '%s'",
                              type, key, show(shown, sizeof shown, it->b, it->b_len));
        expr e = {.s = dollar + 2, .n = (size_t)(close - dollar - 2), .vars = vars,
                  .n_vars = n_vars};
        int64_t v = 0;
        bool ok = expr_sum(&e, &v);
        expr_space(&e);
        if (ok && e.pos != e.n)
            ok = expr_fail(&e, "unexpected text after the expression");
        if (!ok)
            return line_error(p, it->line, "[%s] key '%s': bad expression '%s': %s", type, key,
                              show(shown, sizeof shown, dollar, (size_t)(close - dollar + 1)),
                              e.why);
        char number[24];
        int len = snprintf(number, sizeof number, "%lld", (long long)v);
        if (!strbuf_add(out, number, (size_t)len))
            return nomem(p->file);
        s = close + 1;
    }
    return PDL_OK;
}

static char *dup_n(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

static pdl_status add_section(parser *p, const item *it)
{
    pdl_cfg *cfg = p->cfg;
    if (cfg->n_sections == SECTIONS_MAX)
        return line_error(p, it->line,
                          "the model has more than %d sections after [repeat] expansion",
                          SECTIONS_MAX);
    pdl_cfg_section *sections = grow(cfg->sections, &p->cap_sections, cfg->n_sections,
                                     sizeof *sections);
    if (!sections)
        return nomem(p->file);
    cfg->sections = sections;
    pdl_cfg_section *sec = &cfg->sections[cfg->n_sections];
    memset(sec, 0, sizeof *sec);
    if (!(sec->type = dup_n(it->a, it->a_len)))
        return nomem(p->file);
    sec->line = it->line;
    sec->file = cfg->file;
    p->bytes += sizeof *sec + it->a_len + 1;
    cfg->n_sections++;
    p->cap_entries = 0;
    return PDL_OK;
}

/* Appends key item it with value to the last section. One allocation holds the key, the value
 * and a scratch copy of the value for pdl_cfg_list; entry->key owns it. */
static pdl_status add_entry(parser *p, const item *it, const char *value, size_t len)
{
    pdl_cfg_section *sec = &p->cfg->sections[p->cfg->n_sections - 1];
    p->bytes += sizeof(pdl_cfg_entry) + it->a_len + 2 * len + 3;
    if (p->bytes > EXPANDED_BYTES_MAX)
        return line_error(p, it->line,
                          "the model is larger than %zu MiB after [repeat] expansion",
                          EXPANDED_BYTES_MAX >> 20);
    pdl_cfg_entry *entries = grow(sec->entries, &p->cap_entries, sec->n_entries,
                                  sizeof *entries);
    if (!entries)
        return nomem(p->file);
    sec->entries = entries;
    char *block = malloc(it->a_len + 2 * len + 3);
    if (!block)
        return nomem(p->file);
    memcpy(block, it->a, it->a_len);
    block[it->a_len] = '\0';
    memcpy(block + it->a_len + 1, value, len);
    block[it->a_len + 1 + len] = '\0';
    block[it->a_len + 2 + len] = '\0';
    pdl_cfg_entry *e = &sec->entries[sec->n_entries++];
    e->key = block;
    e->value = block + it->a_len + 1;
    e->line = it->line;
    e->used = false;
    return PDL_OK;
}

/* Counts one step of the expansion, which is bounded whatever the counts. */
static pdl_status visit(parser *p, int line)
{
    if (++p->visits > VISITS_MAX)
        return line_error(p, line,
                          "the model is too large after [repeat] expansion (over %d lines)",
                          VISITS_MAX);
    return PDL_OK;
}

/* Pass 2: emits sections for items[from..to) with the repeat indices vars[0..n_vars). */
static pdl_status expand(parser *p, int from, int to, const int64_t *vars, int n_vars,
                         strbuf *buf)
{
    pdl_status st = PDL_OK;
    for (int i = from; i < to && !st; i++) {
        const item *it = &p->items[i];
        if ((st = visit(p, it->line)))
            return st;
        PDL_ASSERT(it->kind != ITEM_END);
        if (it->kind == ITEM_SECTION) {
            st = add_section(p, it);
        } else if (it->kind == ITEM_KEY) {
            const char *type = p->cfg->sections[p->cfg->n_sections - 1].type;
            if (!(st = substitute(p, type, it, vars, n_vars, buf)))
                st = add_entry(p, it, buf->data, buf->len);
        } else {
            const item *count_item = &p->items[i + 1];
            int64_t count;
            char shown[SHOWN_SIZE];
            if ((st = substitute(p, "repeat", count_item, vars, n_vars, buf)))
                return st;
            if (!parse_i64(buf->data, buf->len, &count) || count < 1 || count > REPEAT_COUNT_MAX)
                return line_error(p, count_item->line,
                                  "[repeat] key 'count': expected an integer in [1, %d], got '%s'",
                                  REPEAT_COUNT_MAX, show(shown, sizeof shown, buf->data, buf->len));
            int64_t inner[REPEAT_DEPTH_MAX];
            if (n_vars > 0)
                memcpy(inner + 1, vars, (size_t)n_vars * sizeof *vars);
            for (int64_t r = 0; r < count && !st; r++) {
                if ((st = visit(p, it->line)))
                    return st;
                inner[0] = r;
                st = expand(p, i + 2, it->match, inner, n_vars + 1, buf);
            }
            i = it->match;
        }
    }
    return st;
}

pdl_status pdl_cfg_parse(const char *text, size_t len, const char *file, pdl_cfg **out)
{
    PDL_ASSERT(out && (text || len == 0));
    parser p = {.file = file ? file : "<model>"};
    strbuf buf = {0};
    pdl_status st = PDL_OK;
    *out = NULL;
    p.cfg = calloc(1, sizeof *p.cfg);
    if (!p.cfg || !(p.cfg->file = dup_n(p.file, strlen(p.file)))) {
        st = nomem(p.file);
        goto fail;
    }
    if ((st = read_items(&p, text, len)) || (st = expand(&p, 0, p.n_items, NULL, 0, &buf)))
        goto fail;
    free(p.items);
    free(buf.data);
    *out = p.cfg;
    return PDL_OK;
fail:
    free(p.items);
    free(buf.data);
    pdl_cfg_free(p.cfg);
    return st;
}

void pdl_cfg_free(pdl_cfg *cfg)
{
    if (!cfg)
        return;
    for (int s = 0; s < cfg->n_sections; s++) {
        pdl_cfg_section *sec = &cfg->sections[s];
        for (int e = 0; e < sec->n_entries; e++)
            free(sec->entries[e].key);
        free(sec->entries);
        free(sec->type);
    }
    free(cfg->sections);
    free(cfg->file);
    free(cfg);
}

/* ---- typed getters --------------------------------------------------------------------- */

static const char *file_of(const pdl_cfg_section *sec) { return sec->file ? sec->file : "<model>"; }

static const pdl_cfg_entry *lookup(const pdl_cfg_section *sec, const char *key)
{
    for (int i = 0; i < sec->n_entries; i++)
        if (strcmp(sec->entries[i].key, key) == 0)
            return &sec->entries[i];
    return NULL;
}

pdl_cfg_entry *pdl_cfg_find(pdl_cfg_section *sec, const char *key)
{
    pdl_cfg_entry *e = (pdl_cfg_entry *)lookup(sec, key);
    if (e)
        e->used = true;
    return e;
}

pdl_status pdl_cfg_error(const pdl_cfg_section *sec, const char *key, pdl_status code,
                         const char *fmt, ...)
{
    char message[MESSAGE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    if (!key)
        return pdl_error(code, "%s:%d: [%s]: %s", file_of(sec), sec->line, sec->type, message);
    const pdl_cfg_entry *e = lookup(sec, key);
    return pdl_error(code, "%s:%d: [%s] key '%s': %s", file_of(sec), e ? e->line : sec->line,
                     sec->type, key, message);
}

/* "expected <what>, got '<value>'" for entry e of sec. */
static pdl_status bad_value(const pdl_cfg_section *sec, const pdl_cfg_entry *e, const char *what)
{
    char shown[SHOWN_SIZE];
    if (!e->value[0])
        return pdl_cfg_error(sec, e->key, PDL_ERR_PARSE, "expected %s, got an empty value", what);
    return pdl_cfg_error(sec, e->key, PDL_ERR_PARSE, "expected %s, got '%s'", what,
                         show(shown, sizeof shown, e->value, strlen(e->value)));
}

/* "an integer in [1, 10]", "an integer >= 1", ... */
static const char *int_range(char *buf, size_t cap, int64_t min, int64_t max)
{
    if (min == INT64_MIN && max == INT64_MAX)
        snprintf(buf, cap, "an integer");
    else if (max == INT64_MAX)
        snprintf(buf, cap, "an integer >= %lld", (long long)min);
    else if (min == INT64_MIN)
        snprintf(buf, cap, "an integer <= %lld", (long long)max);
    else
        snprintf(buf, cap, "an integer in [%lld, %lld]", (long long)min, (long long)max);
    return buf;
}

pdl_status pdl_cfg_int(pdl_cfg_section *sec, const char *key, int64_t def, int64_t min,
                       int64_t max, int64_t *out)
{
    const pdl_cfg_entry *e = pdl_cfg_find(sec, key);
    char what[96];
    int64_t v;
    if (!e) {
        *out = def;
        return PDL_OK;
    }
    if (!parse_i64(e->value, strlen(e->value), &v) || v < min || v > max)
        return bad_value(sec, e, int_range(what, sizeof what, min, max));
    *out = v;
    return PDL_OK;
}

pdl_status pdl_cfg_float(pdl_cfg_section *sec, const char *key, double def, double min,
                         double max, double *out)
{
    const pdl_cfg_entry *e = pdl_cfg_find(sec, key);
    char what[96];
    if (!e) {
        *out = def;
        return PDL_OK;
    }
    bool low = isfinite(min) && min > -DBL_MAX, high = isfinite(max) && max < DBL_MAX;
    if (low && high)
        snprintf(what, sizeof what, "a number in [%g, %g]", min, max);
    else if (low)
        snprintf(what, sizeof what, "a number >= %g", min);
    else if (high)
        snprintf(what, sizeof what, "a number <= %g", max);
    else
        snprintf(what, sizeof what, "a finite number");
    size_t n = strlen(e->value);
    if (n == 0 || strspn(e->value, "0123456789+-.eE") != n)
        return bad_value(sec, e, what);
    char *end;
    double v = strtod(e->value, &end);
    if (end != e->value + n || !isfinite(v) || v < min || v > max)
        return bad_value(sec, e, what);
    *out = v;
    return PDL_OK;
}

static bool equal_ignoring_case(const char *a, const char *b)
{
    for (; *a && *b; a++, b++) {
        char x = *a >= 'A' && *a <= 'Z' ? (char)(*a - 'A' + 'a') : *a;
        if (x != *b)
            return false;
    }
    return *a == *b;
}

pdl_status pdl_cfg_bool(pdl_cfg_section *sec, const char *key, bool def, bool *out)
{
    static const char *const words[] = {"1", "true", "yes", "on", "0", "false", "no", "off"};
    const pdl_cfg_entry *e = pdl_cfg_find(sec, key);
    if (!e) {
        *out = def;
        return PDL_OK;
    }
    for (int i = 0; i < 8; i++) {
        if (equal_ignoring_case(e->value, words[i])) {
            *out = i < 4;
            return PDL_OK;
        }
    }
    return bad_value(sec, e, "a boolean (1, 0, true, false, yes, no, on, off)");
}

pdl_status pdl_cfg_string(pdl_cfg_section *sec, const char *key, const char *def,
                          const char **out)
{
    const pdl_cfg_entry *e = pdl_cfg_find(sec, key);
    if (!e) {
        *out = def;
        return PDL_OK;
    }
    if (!e->value[0])
        return bad_value(sec, e, "a value");
    *out = e->value;
    return PDL_OK;
}

pdl_status pdl_cfg_enum(pdl_cfg_section *sec, const char *key, const char *const *names, int n,
                        int def, int *out)
{
    const pdl_cfg_entry *e = pdl_cfg_find(sec, key);
    if (!e) {
        *out = def;
        return PDL_OK;
    }
    for (int i = 0; i < n; i++) {
        if (strcmp(e->value, names[i]) == 0) {
            *out = i;
            return PDL_OK;
        }
    }
    char what[MESSAGE_MAX / 2];
    size_t used = (size_t)snprintf(what, sizeof what, "one of ");
    for (int i = 0; i < n && used < sizeof what; i++)
        used += (size_t)snprintf(what + used, sizeof what - used, "%s%s", i ? ", " : "", names[i]);
    return bad_value(sec, e, what);
}

/* Splits s[0..n) at each 'x' or 'X' into up to max trimmed integers in [min, max]. */
static int parse_sizes(const char *s, size_t n, int max_parts, int64_t min, int64_t max,
                       int64_t *parts)
{
    int count = 0;
    size_t b = 0;
    for (;;) {
        size_t e = b;
        while (e < n && s[e] != 'x' && s[e] != 'X')
            e++;
        size_t tb = b, te = e;
        trim(s, &tb, &te);
        if (count == max_parts || !parse_i64(s + tb, te - tb, &parts[count]) ||
            parts[count] < min || parts[count] > max)
            return -1;
        count++;
        if (e == n)
            return count;
        b = e + 1;
    }
}

pdl_status pdl_cfg_pair(pdl_cfg_section *sec, const char *key, int64_t def_h, int64_t def_w,
                        int64_t min, int64_t max, int64_t out[2])
{
    const pdl_cfg_entry *e = pdl_cfg_find(sec, key);
    if (!e) {
        out[0] = def_h;
        out[1] = def_w;
        return PDL_OK;
    }
    int64_t parts[2];
    int n = parse_sizes(e->value, strlen(e->value), 2, min, max, parts);
    if (n < 1) {
        char range[96], what[160];
        snprintf(what, sizeof what, "N or HxW, each %s", int_range(range, sizeof range, min, max));
        return bad_value(sec, e, what);
    }
    out[0] = parts[0];
    out[1] = parts[n - 1];
    return PDL_OK;
}

pdl_status pdl_cfg_dims(pdl_cfg_section *sec, const char *key, int max_dims, int64_t *dims,
                        int *n_dims)
{
    PDL_ASSERT(max_dims >= 1);
    const pdl_cfg_entry *e = pdl_cfg_find(sec, key);
    *n_dims = 0;
    if (!e)
        return PDL_OK;
    int n = parse_sizes(e->value, strlen(e->value), max_dims, 1, INT32_MAX, dims);
    if (n < 1) {
        char what[128];
        snprintf(what, sizeof what, "1 to %d sizes in [1, %d] separated by 'x' (like 3x224x224)",
                 max_dims, INT32_MAX);
        return bad_value(sec, e, what);
    }
    *n_dims = n;
    return PDL_OK;
}

pdl_status pdl_cfg_list(pdl_cfg_section *sec, const char *key, int max, const char **items,
                        int *n)
{
    pdl_cfg_entry *e = pdl_cfg_find(sec, key);
    *n = 0;
    if (!e)
        return PDL_OK;
    if (!e->value[0])
        return bad_value(sec, e, "a comma-separated list");
    size_t len = strlen(e->value);
    char *copy = e->value + len + 1; /* the scratch copy that add_entry reserved */
    memcpy(copy, e->value, len + 1);
    int count = 0;
    for (char *part = copy;;) {
        char *comma = strchr(part, ',');
        if (comma)
            *comma = '\0';
        size_t b = 0, end = strlen(part);
        trim(part, &b, &end);
        part[end] = '\0';
        if (b == end)
            return bad_value(sec, e, "a comma-separated list without empty items");
        if (count == max) {
            char what[96];
            snprintf(what, sizeof what, "at most %d comma-separated items", max);
            return bad_value(sec, e, what);
        }
        items[count++] = part + b;
        if (!comma)
            break;
        part = comma + 1;
    }
    *n = count;
    return PDL_OK;
}

pdl_status pdl_cfg_check_unused(const pdl_cfg_section *sec)
{
    for (int i = 0; i < sec->n_entries; i++)
        if (!sec->entries[i].used)
            return pdl_cfg_error(sec, sec->entries[i].key, PDL_ERR_PARSE, "unknown key");
    return PDL_OK;
}
