/* Tests of the model-file text parser (src/graph/cfg.c): syntax, [repeat] expansion, every
 * getter with its defaults and ranges, and every error path with the line and key it names.
 * Net-level errors (layers, inputs, shapes) live in test_bad_models.c. */
#include "core/rng.h"
#include "graph/cfg.h"
#include "harness.h"

#include <float.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

static pdl_cfg *parse(const char *text)
{
    pdl_cfg *cfg = NULL;
    CHECK_OK(pdl_cfg_parse(text, strlen(text), "t.cfg", &cfg));
    return cfg;
}

/* Parsing must fail with PDL_ERR_PARSE and a message containing want and want2 (may be NULL). */
static void check_parse_error(const char *text, size_t len, const char *want, const char *want2)
{
    pdl_cfg *cfg = (pdl_cfg *)1;
    pdl_status st = pdl_cfg_parse(text, len, "t.cfg", &cfg);
    CHECK(st == PDL_ERR_PARSE);
    CHECK(cfg == NULL);
    const char *message = pdl_last_error();
    if (!strstr(message, want) || (want2 && !strstr(message, want2))) {
        fprintf(stderr, "  message '%s' lacks '%s' / '%s'\n", message, want, want2 ? want2 : "");
        CHECK(!"expected substring in the error message");
    }
}
#define PARSE_ERROR(text, want, want2) check_parse_error(text, strlen(text), want, want2)

/* The error message of the last failing call must contain want. */
static void check_message(pdl_status st, const char *want)
{
    CHECK(st == PDL_ERR_PARSE);
    if (!strstr(pdl_last_error(), want)) {
        fprintf(stderr, "  message '%s' lacks '%s'\n", pdl_last_error(), want);
        CHECK(!"expected substring in the error message");
    }
}

static void test_syntax(void)
{
    const char *text = "\xef\xbb\xbf# a model\r\n"
                       "\n"
                       "[net]   # the net\r\n"
                       "  input =  1x28x28  \r\n"
                       "\tclasses=10#ten\n"
                       "   \n"
                       "[conv_2]\n"
                       "name = a=b\n"
                       "empty =\n"
                       "[fc]";
    pdl_cfg *cfg = parse(text);
    if (!cfg)
        return;
    CHECK(strcmp(cfg->file, "t.cfg") == 0);
    CHECK(cfg->n_sections == 3);
    pdl_cfg_section *net = &cfg->sections[0], *conv = &cfg->sections[1];
    CHECK(strcmp(net->type, "net") == 0 && net->line == 3);
    CHECK(strcmp(net->file, "t.cfg") == 0);
    CHECK(net->n_entries == 2);
    CHECK(strcmp(net->entries[0].key, "input") == 0);
    CHECK(strcmp(net->entries[0].value, "1x28x28") == 0);
    CHECK(net->entries[0].line == 4 && !net->entries[0].used);
    CHECK(strcmp(net->entries[1].key, "classes") == 0);
    CHECK(strcmp(net->entries[1].value, "10") == 0 && net->entries[1].line == 5);
    CHECK(strcmp(conv->type, "conv_2") == 0 && conv->line == 7);
    CHECK(strcmp(conv->entries[0].value, "a=b") == 0);
    CHECK(strcmp(conv->entries[1].value, "") == 0);
    CHECK(strcmp(cfg->sections[2].type, "fc") == 0 && cfg->sections[2].n_entries == 0);
    CHECK(pdl_cfg_find(conv, "name") == &conv->entries[0] && conv->entries[0].used);
    CHECK(pdl_cfg_find(conv, "nope") == NULL);
    pdl_cfg_free(cfg);

    cfg = parse("");
    CHECK(cfg && cfg->n_sections == 0);
    pdl_cfg_free(cfg);
    cfg = parse("# only a comment\n\n");
    CHECK(cfg && cfg->n_sections == 0);
    pdl_cfg_free(cfg);
    pdl_cfg_free(NULL);

    /* The text need not be NUL-terminated: only len bytes are read. */
    char unterminated[] = {'[', 'a', ']', '\n', 'k', '=', '1', '2', '3'};
    cfg = NULL;
    CHECK_OK(pdl_cfg_parse(unterminated, 8, "u.cfg", &cfg));
    CHECK(cfg && strcmp(cfg->sections[0].entries[0].value, "12") == 0);
    pdl_cfg_free(cfg);
}

static void test_syntax_errors(void)
{
    PARSE_ERROR("# c\nfilters = 3\n[conv]\n", "t.cfg:2: 'filters = 3' before the first [section]",
                NULL);
    PARSE_ERROR("[conv]\nfilters = 3\nsize = 3\nfilters = 4\n", "t.cfg:4: [conv] key 'filters'",
                "duplicate key (first set on line 2)");
    PARSE_ERROR("[a]\nx=1\n[b]\ny=1\nz=2\ny=3\nz=4\n", "t.cfg:6: [b] key 'y'", "line 4");
    PARSE_ERROR("[net]\ninput = 1x2x2\nthis is not a key\n", "t.cfg:3: expected '[section]' or "
                "'key = value', got 'this is not a key'", NULL);
    PARSE_ERROR("[net]\n = 3\n", "t.cfg:2: missing key before '='", NULL);
    PARSE_ERROR("[net]\nfil ters = 3\n", "t.cfg:2: bad key 'fil ters'", NULL);
    PARSE_ERROR("[net]\n[Conv]\n", "t.cfg:2: bad section header '[Conv]'", NULL);
    PARSE_ERROR("[net]\n[]\n", "t.cfg:2: bad section header '[]'", NULL);
    PARSE_ERROR("[net]\n[conv\n", "t.cfg:2: section header without closing ']'", NULL);
    PARSE_ERROR("[net]\n[conv] x\n", "t.cfg:2: section header without closing ']'", NULL);
    PARSE_ERROR("[net]\nname = a\x01" "b\n", "t.cfg:2: control character 0x01", "a\\x01b");
    check_parse_error("[net]\nname = a\0b\n", 15, "t.cfg:2: control character 0x00", NULL);
    PARSE_ERROR("[net]\nname = a\rb\n", "t.cfg:2: control character 0x0d", NULL);

    /* A huge line is quoted truncated, so the message still names the line. */
    size_t n = 1 << 20;
    char *huge = malloc(n + 16);
    if (!huge)
        return;
    memcpy(huge, "[net]\n", 6);
    memset(huge + 6, 'z', n);
    huge[6 + n] = '\0';
    PARSE_ERROR(huge, "t.cfg:2: expected '[section]' or 'key = value', got 'zzzz", "...'");
    CHECK(strlen(pdl_last_error()) < 200);
    free(huge);
}

static void test_repeat(void)
{
    const char *text = "[net]\n"                    /* 1 */
                       "[repeat]\n"                 /* 2 */
                       "count = 3 # three\n"        /* 3 */
                       "[conv]\n"                   /* 4 */
                       "name = c${i}\n"             /* 5 */
                       "filters = ${2*i + 1}\n"     /* 6 */
                       "x = ${(i+1)*(i+2)}-${-i}-${i/2}-${i%2}-${ 7 - 2 - 1 }$ {i} $\n" /* 7 */
                       "[end]\n"                    /* 8 */
                       "[fc]\n"                     /* 9 */
                       "output = 10\n";             /* 10 */
    pdl_cfg *cfg = parse(text);
    if (!cfg)
        return;
    CHECK(cfg->n_sections == 5);
    for (int i = 0; i < 3 && cfg->n_sections == 5; i++) {
        pdl_cfg_section *sec = &cfg->sections[1 + i];
        char want[64];
        CHECK(strcmp(sec->type, "conv") == 0 && sec->line == 4 && sec->n_entries == 3);
        snprintf(want, sizeof want, "c%d", i);
        CHECK(strcmp(sec->entries[0].value, want) == 0);
        int64_t filters = 0;
        CHECK_OK(pdl_cfg_int(sec, "filters", 0, 1, 100, &filters));
        CHECK(filters == 2 * i + 1);
        snprintf(want, sizeof want, "%d-%d-%d-%d-4$ {i} $", (i + 1) * (i + 2), -i, i / 2, i % 2);
        CHECK(strcmp(sec->entries[2].value, want) == 0);
        CHECK(sec->entries[0].line == 5 && sec->entries[1].line == 6 && sec->entries[2].line == 7);
    }
    CHECK(strcmp(cfg->sections[4].type, "fc") == 0 && cfg->sections[4].line == 9);
    pdl_cfg_free(cfg);

    /* Nested: i innermost, j and k outer; an inner count may use the outer index. */
    text = "[repeat]\ncount = 2\n"
           "[repeat]\ncount = ${i+2}\n"
           "[repeat]\ncount = 2\n"
           "[s]\nv = ${k}${j}${i}\n"
           "[end]\n[end]\n[end]\n";
    cfg = parse(text);
    if (!cfg)
        return;
    CHECK(cfg->n_sections == (2 + 3) * 2);
    int s = 0;
    for (int k = 0; k < 2; k++)
        for (int j = 0; j < k + 2; j++)
            for (int i = 0; i < 2 && s < cfg->n_sections; i++, s++) {
                char want[4] = {(char)('0' + k), (char)('0' + j), (char)('0' + i), '\0'};
                CHECK(strcmp(cfg->sections[s].entries[0].value, want) == 0);
                CHECK(cfg->sections[s].line == 7 && cfg->sections[s].entries[0].line == 8);
            }
    pdl_cfg_free(cfg);

    /* Four deep is allowed; a repeat with no sections expands to nothing. */
    cfg = parse("[repeat]\ncount=2\n[repeat]\ncount=2\n[repeat]\ncount=2\n[repeat]\ncount=2\n"
                "[a]\n[end]\n[end]\n[end]\n[end]\n[repeat]\ncount = 5\n[end]\n");
    CHECK(cfg && cfg->n_sections == 16);
    pdl_cfg_free(cfg);
}

static void test_repeat_errors(void)
{
    PARSE_ERROR("[net]\n[repeat]\ncount = 2\n[conv]\n", "t.cfg:2: [repeat] is never closed by [end]",
                NULL);
    PARSE_ERROR("[net]\n[end]\n", "t.cfg:2: [end] without a matching [repeat]", NULL);
    PARSE_ERROR("[repeat]\ncount=1\n[a]\n[end]\nx = 1\n", "t.cfg:5: 'x = 1' follows [end] (line 4)",
                NULL);
    PARSE_ERROR("[repeat]\ncount=1\n[repeat]\ncount=1\n[repeat]\ncount=1\n[repeat]\ncount=1\n"
                "[repeat]\ncount=1\n[a]\n[end]\n[end]\n[end]\n[end]\n[end]\n",
                "t.cfg:9: [repeat] nested more than 4 deep", NULL);
    PARSE_ERROR("[repeat]\n[a]\n[end]\n", "t.cfg:1: [repeat] needs 'count = N'", NULL);
    PARSE_ERROR("[repeat]\ncount = 2\ntimes = 3\n[a]\n[end]\n",
                "t.cfg:3: [repeat] key 'times': unknown key", NULL);
    PARSE_ERROR("[repeat]\ncount = 2\ncount = 3\n[a]\n[end]\n", "t.cfg:3: [repeat] key 'count'",
                "duplicate");
    PARSE_ERROR("[repeat]\ncount = 0\n[a]\n[end]\n",
                "t.cfg:2: [repeat] key 'count': expected an integer in [1, 10000], got '0'", NULL);
    PARSE_ERROR("[repeat]\ncount = 10001\n[a]\n[end]\n", "t.cfg:2: [repeat] key 'count'", "10001");
    PARSE_ERROR("[repeat]\ncount = two\n[a]\n[end]\n", "t.cfg:2: [repeat] key 'count'", "'two'");
    PARSE_ERROR("[repeat]\ncount = 2\n[a]\nx = ${i\n[end]\n",
                "t.cfg:4: [a] key 'x': '${' without a closing '}'", NULL);
    PARSE_ERROR("[a]\nx = ${i}\n", "t.cfg:2: [a] key 'x': bad expression '${i}'",
                "unknown variable 'i' (no enclosing [repeat])");
    PARSE_ERROR("[repeat]\ncount = 2\n[a]\nx = ${j}\n[end]\n", "t.cfg:4: [a] key 'x'",
                "unknown variable 'j' (inside 1 [repeat] only i is defined)");
    PARSE_ERROR("[repeat]\ncount = 2\n[a]\n\n x = ${n + 1}\n[end]\n", "t.cfg:5: [a] key 'x'",
                "unknown variable 'n'");
    PARSE_ERROR("[repeat]\ncount = 2\n[a]\nx = ${i+}\n[end]\n", "t.cfg:4: [a] key 'x'",
                "bad expression '${i+}': expression ends early");
    PARSE_ERROR("[repeat]\ncount = 2\n[a]\nx = ${(i+1}\n[end]\n", "t.cfg:4:", "missing ')'");
    PARSE_ERROR("[repeat]\ncount = 2\n[a]\nx = ${i 2}\n[end]\n", "t.cfg:4:", "unexpected text");
    PARSE_ERROR("[repeat]\ncount = 2\n[a]\nx = ${}\n[end]\n", "t.cfg:4:", "ends early");
    PARSE_ERROR("[repeat]\ncount = 2\n[a]\nx = ${i ^ 2}\n[end]\n", "t.cfg:4:",
                "unexpected text after the expression");
    PARSE_ERROR("[repeat]\ncount = 2\n[a]\nx = ${4/(i-1)}\n[end]\n", "t.cfg:4: [a] key 'x'",
                "division by zero");
    PARSE_ERROR("[repeat]\ncount = 2\n[a]\nx = ${i%0}\n[end]\n", "t.cfg:4:", "division by zero");
    PARSE_ERROR("[a]\nx = ${99999999999 * 99999999999}\n", "t.cfg:2:", "integer overflow");
    PARSE_ERROR("[a]\nx = ${99999999999999999999}\n", "t.cfg:2:", "integer overflow");

    /* Deep parentheses are refused, not a stack overflow. */
    char deep[4096] = "[a]\nx = ${";
    size_t at = strlen(deep);
    for (int i = 0; i < 1000; i++)
        deep[at++] = '(';
    memcpy(deep + at, "1}\n", 4);
    PARSE_ERROR(deep, "t.cfg:2:", "nested too deeply");

    /* Expansion is bounded: too many sections, or too much work with no sections at all. */
    PARSE_ERROR("[repeat]\ncount = 10000\n[repeat]\ncount = 11\n[a]\n[end]\n[end]\n",
                "t.cfg:5: the model has more than 100000 sections after [repeat] expansion", NULL);
    PARSE_ERROR("[repeat]\ncount=10000\n[repeat]\ncount=10000\n[repeat]\ncount=10000\n[end]\n"
                "[end]\n[end]\n",
                "the model is too large after [repeat] expansion", NULL);
    char wide[1200] = "[repeat]\ncount = 10000\n[a]\nk = ";
    at = strlen(wide);
    memset(wide + at, 'v', 1000);
    memcpy(wide + at + 1000, "\n[end]\n", 8);
    PARSE_ERROR(wide, "t.cfg:4: the model is larger than 16 MiB after [repeat] expansion", NULL);
}

static pdl_cfg_section *first_section(pdl_cfg *cfg) { return cfg ? &cfg->sections[0] : NULL; }

static void test_int(void)
{
    pdl_cfg *cfg = parse("[t]\na = 42\nb = -7\nc = +3\nd = 3x\ne = 3.5\nf =\n"
                         "g = 99999999999999999999\nh = 0\ni = 9223372036854775807\n");
    pdl_cfg_section *sec = first_section(cfg);
    if (!sec)
        return;
    int64_t v = 0;
    CHECK_OK(pdl_cfg_int(sec, "a", 0, 1, 100, &v));
    CHECK(v == 42);
    CHECK_OK(pdl_cfg_int(sec, "b", 0, INT64_MIN, INT64_MAX, &v));
    CHECK(v == -7);
    CHECK_OK(pdl_cfg_int(sec, "c", 0, 0, 10, &v));
    CHECK(v == 3);
    CHECK_OK(pdl_cfg_int(sec, "i", 0, INT64_MIN, INT64_MAX, &v));
    CHECK(v == INT64_MAX);
    CHECK_OK(pdl_cfg_int(sec, "absent", 17, 1, 10, &v)); /* the default is not range-checked */
    CHECK(v == 17);
    check_message(pdl_cfg_int(sec, "d", 0, 1, 100, &v),
                  "t.cfg:5: [t] key 'd': expected an integer in [1, 100], got '3x'");
    check_message(pdl_cfg_int(sec, "e", 0, 1, INT64_MAX, &v),
                  "t.cfg:6: [t] key 'e': expected an integer >= 1, got '3.5'");
    check_message(pdl_cfg_int(sec, "f", 0, INT64_MIN, 5, &v),
                  "t.cfg:7: [t] key 'f': expected an integer <= 5, got an empty value");
    check_message(pdl_cfg_int(sec, "g", 0, INT64_MIN, INT64_MAX, &v),
                  "t.cfg:8: [t] key 'g': expected an integer, got '99999999999999999999'");
    check_message(pdl_cfg_int(sec, "h", 0, 1, 10, &v), "t.cfg:9: [t] key 'h'");
    check_message(pdl_cfg_int(sec, "a", 0, 1, 41, &v), "got '42'");
    CHECK(v == 0 || v == 17); /* untouched by failures */
    CHECK(pdl_cfg_check_unused(sec) == PDL_OK);
    pdl_cfg_free(cfg);
}

static void test_float(void)
{
    pdl_cfg *cfg = parse("[t]\na = 0.5\nb = -1e-3\nc = .25\nd = 1e999\ne = nan\nf = inf\n"
                         "g = 0x10\nh = 1.5\ni = 1..2\nj =\nk = 3\n");
    pdl_cfg_section *sec = first_section(cfg);
    if (!sec)
        return;
    double v = 0;
    CHECK_OK(pdl_cfg_float(sec, "a", 0, 0, 1, &v));
    CHECK(v == 0.5);
    CHECK_OK(pdl_cfg_float(sec, "b", 0, -DBL_MAX, DBL_MAX, &v));
    CHECK(v == -1e-3);
    CHECK_OK(pdl_cfg_float(sec, "c", 0, 0, 1, &v));
    CHECK(v == 0.25);
    CHECK_OK(pdl_cfg_float(sec, "k", 0, -INFINITY, INFINITY, &v));
    CHECK(v == 3.0);
    CHECK_OK(pdl_cfg_float(sec, "absent", 0.125, 0, 1, &v));
    CHECK(v == 0.125);
    check_message(pdl_cfg_float(sec, "d", 0, -DBL_MAX, DBL_MAX, &v),
                  "t.cfg:5: [t] key 'd': expected a finite number, got '1e999'");
    check_message(pdl_cfg_float(sec, "e", 0, 0, 1, &v),
                  "t.cfg:6: [t] key 'e': expected a number in [0, 1], got 'nan'");
    check_message(pdl_cfg_float(sec, "f", 0, 0, INFINITY, &v),
                  "t.cfg:7: [t] key 'f': expected a number >= 0, got 'inf'");
    check_message(pdl_cfg_float(sec, "g", 0, -INFINITY, 2, &v),
                  "t.cfg:8: [t] key 'g': expected a number <= 2, got '0x10'");
    check_message(pdl_cfg_float(sec, "h", 0, 0, 1, &v), "t.cfg:9: [t] key 'h'");
    check_message(pdl_cfg_float(sec, "i", 0, 0, 1, &v), "got '1..2'");
    check_message(pdl_cfg_float(sec, "j", 0, 0, 1, &v), "t.cfg:11: [t] key 'j'");
    pdl_cfg_free(cfg);
}

static void test_bool_string_enum(void)
{
    pdl_cfg *cfg = parse("[t]\na = 1\nb = 0\nc = true\nd = False\ne = YES\nf = no\ng = on\n"
                         "h = off\ni = maybe\nj =\ns = hello world\nm = adam\nn = Adam\n");
    pdl_cfg_section *sec = first_section(cfg);
    if (!sec)
        return;
    const char *keys = "abcdefgh";
    for (int i = 0; i < 8; i++) {
        char key[2] = {keys[i], '\0'};
        bool v = i % 2 == 1;
        CHECK_OK(pdl_cfg_bool(sec, key, i % 2 == 1, &v));
        CHECK(v == (i % 2 == 0));
    }
    bool b = false;
    CHECK_OK(pdl_cfg_bool(sec, "absent", true, &b));
    CHECK(b);
    check_message(pdl_cfg_bool(sec, "i", false, &b),
                  "t.cfg:10: [t] key 'i': expected a boolean (1, 0, true, false, yes, no, on, "
                  "off), got 'maybe'");
    check_message(pdl_cfg_bool(sec, "j", false, &b), "t.cfg:11: [t] key 'j'");

    const char *s = NULL;
    CHECK_OK(pdl_cfg_string(sec, "s", NULL, &s));
    CHECK(s && strcmp(s, "hello world") == 0);
    CHECK_OK(pdl_cfg_string(sec, "absent", "dflt", &s));
    CHECK(s && strcmp(s, "dflt") == 0);
    check_message(pdl_cfg_string(sec, "j", NULL, &s), "got an empty value");

    static const char *const names[] = {"sgd", "adam", "adamw"};
    int e = -1;
    CHECK_OK(pdl_cfg_enum(sec, "m", names, 3, 0, &e));
    CHECK(e == 1);
    CHECK_OK(pdl_cfg_enum(sec, "absent", names, 3, 2, &e));
    CHECK(e == 2);
    check_message(pdl_cfg_enum(sec, "n", names, 3, 0, &e),
                  "t.cfg:14: [t] key 'n': expected one of sgd, adam, adamw, got 'Adam'");
    pdl_cfg_free(cfg);
}

static void test_pair_dims(void)
{
    pdl_cfg *cfg = parse("[t]\na = 3\nb = 1x7\nc = 2 X 5\nd = 3x\ne = x3\nf = 1x2x3\ng = 0x3\n"
                         "h = 28x28x1\ni = 3\nj = 1x0x4\nk = 1x2x3x4\nl = -1x2\nm =\n");
    pdl_cfg_section *sec = first_section(cfg);
    if (!sec)
        return;
    int64_t p[2] = {0, 0};
    CHECK_OK(pdl_cfg_pair(sec, "a", 9, 9, 1, 100, p));
    CHECK(p[0] == 3 && p[1] == 3);
    CHECK_OK(pdl_cfg_pair(sec, "b", 9, 9, 1, 100, p));
    CHECK(p[0] == 1 && p[1] == 7);
    CHECK_OK(pdl_cfg_pair(sec, "c", 9, 9, 1, 100, p));
    CHECK(p[0] == 2 && p[1] == 5);
    CHECK_OK(pdl_cfg_pair(sec, "absent", 4, 6, 1, 100, p));
    CHECK(p[0] == 4 && p[1] == 6);
    check_message(pdl_cfg_pair(sec, "d", 1, 1, 1, 100, p),
                  "t.cfg:5: [t] key 'd': expected N or HxW, each an integer in [1, 100], got '3x'");
    check_message(pdl_cfg_pair(sec, "e", 1, 1, 1, 100, p), "t.cfg:6: [t] key 'e'");
    check_message(pdl_cfg_pair(sec, "f", 1, 1, 1, 100, p), "t.cfg:7: [t] key 'f'");
    check_message(pdl_cfg_pair(sec, "g", 1, 1, 1, 100, p), "t.cfg:8: [t] key 'g'");
    check_message(pdl_cfg_pair(sec, "l", 1, 1, 0, INT64_MAX, p), "each an integer >= 0");

    int64_t dims[3] = {0, 0, 0};
    int n = -1;
    CHECK_OK(pdl_cfg_dims(sec, "h", 3, dims, &n));
    CHECK(n == 3 && dims[0] == 28 && dims[1] == 28 && dims[2] == 1);
    CHECK_OK(pdl_cfg_dims(sec, "i", 3, dims, &n));
    CHECK(n == 1 && dims[0] == 3);
    CHECK_OK(pdl_cfg_dims(sec, "absent", 3, dims, &n));
    CHECK(n == 0);
    check_message(pdl_cfg_dims(sec, "j", 3, dims, &n), "t.cfg:11: [t] key 'j': expected 1 to 3");
    check_message(pdl_cfg_dims(sec, "k", 3, dims, &n), "got '1x2x3x4'");
    check_message(pdl_cfg_dims(sec, "m", 3, dims, &n), "t.cfg:14: [t] key 'm'");
    CHECK(n == 0);
    pdl_cfg_free(cfg);
}

static void test_list(void)
{
    pdl_cfg *cfg = parse("[t]\na = conv1, b ,-2\nb = x\nc = a,,b\nd = a,\ne = 1,2,3\nf =\n");
    pdl_cfg_section *sec = first_section(cfg);
    if (!sec)
        return;
    const char *items[3] = {NULL, NULL, NULL};
    int n = -1;
    for (int twice = 0; twice < 2; twice++) {
        CHECK_OK(pdl_cfg_list(sec, "a", 3, items, &n));
        CHECK(n == 3);
        CHECK(n == 3 && strcmp(items[0], "conv1") == 0 && strcmp(items[1], "b") == 0 &&
              strcmp(items[2], "-2") == 0);
    }
    CHECK(strcmp(sec->entries[0].value, "conv1, b ,-2") == 0); /* the value is untouched */
    CHECK_OK(pdl_cfg_list(sec, "b", 3, items, &n));
    CHECK(n == 1 && strcmp(items[0], "x") == 0);
    CHECK_OK(pdl_cfg_list(sec, "absent", 3, items, &n));
    CHECK(n == 0);
    check_message(pdl_cfg_list(sec, "c", 3, items, &n),
                  "t.cfg:4: [t] key 'c': expected a comma-separated list without empty items");
    check_message(pdl_cfg_list(sec, "d", 3, items, &n), "t.cfg:5: [t] key 'd'");
    check_message(pdl_cfg_list(sec, "e", 2, items, &n),
                  "t.cfg:6: [t] key 'e': expected at most 2 comma-separated items, got '1,2,3'");
    check_message(pdl_cfg_list(sec, "f", 2, items, &n), "t.cfg:7: [t] key 'f'");
    pdl_cfg_free(cfg);
}

static void test_unused_and_error(void)
{
    pdl_cfg *cfg = parse("[conv]\nfilters = 3\nfiltres = 4\nsize = 3\nstride = 9\n");
    pdl_cfg_section *sec = first_section(cfg);
    if (!sec)
        return;
    int64_t v;
    CHECK_OK(pdl_cfg_int(sec, "filters", 0, 1, 10, &v));
    CHECK_OK(pdl_cfg_int(sec, "size", 0, 1, 10, &v));
    check_message(pdl_cfg_check_unused(sec), "t.cfg:3: [conv] key 'filtres': unknown key");
    CHECK(pdl_cfg_find(sec, "filtres") != NULL);
    check_message(pdl_cfg_check_unused(sec), "t.cfg:5: [conv] key 'stride': unknown key");
    CHECK(pdl_cfg_find(sec, "stride") != NULL);
    CHECK(pdl_cfg_check_unused(sec) == PDL_OK);

    CHECK(pdl_cfg_error(sec, "size", PDL_ERR_SHAPE, "kernel %d too big", 3) == PDL_ERR_SHAPE);
    CHECK(strcmp(pdl_last_error(), "t.cfg:4: [conv] key 'size': kernel 3 too big") == 0);
    CHECK(pdl_cfg_error(sec, NULL, PDL_ERR_INVALID, "missing required key '%s'", "x") ==
          PDL_ERR_INVALID);
    CHECK(strcmp(pdl_last_error(), "t.cfg:1: [conv]: missing required key 'x'") == 0);
    /* An absent key is reported at the section header. */
    pdl_cfg_error(sec, "groups", PDL_ERR_PARSE, "needed");
    CHECK(strcmp(pdl_last_error(), "t.cfg:1: [conv] key 'groups': needed") == 0);
    pdl_cfg_free(cfg);
}

/* Random bytes and random mutations of a valid file: any outcome but a crash, and a failure
 * always leaves *out NULL and a message that names the file. */
static void test_random_bytes(void)
{
    static const char base[] = "[net]\ninput = 1x8x8\n[repeat]\ncount = 3\n[conv]\n"
                               "filters = ${i+1}\n[end]\n[fc]\noutput = 10\n";
    static const char alphabet[] = "[]=#${}()+-*/%ijk0123456789 \t\r\n\0\x80xa,";
    char text[256];
    int failures = 0;
    for (uint64_t t = 0; t < 3000; t++) {
        size_t len = sizeof base - 1;
        memcpy(text, base, len);
        for (int m = 0; m < 4; m++) {
            size_t at = pdl_rng_below(7, t, (uint64_t)m, len);
            text[at] = alphabet[pdl_rng_below(7, t, 100 + (uint64_t)m, sizeof alphabet - 1)];
        }
        if (t >= 2000) { /* pure noise */
            len = pdl_rng_below(8, t, 0, sizeof text);
            for (size_t i = 0; i < len; i++)
                text[i] = (char)pdl_rng_below(9, t, i, 256);
        }
        pdl_cfg *cfg = (pdl_cfg *)1;
        pdl_status st = pdl_cfg_parse(text, len, "r.cfg", &cfg);
        if (st != PDL_OK) {
            failures++;
            CHECK(cfg == NULL && st == PDL_ERR_PARSE && strncmp(pdl_last_error(), "r.cfg:", 6) == 0);
        }
        pdl_cfg_free(st == PDL_OK ? cfg : NULL);
    }
    CHECK(failures > 100 && failures < 3000);
}

int main(void)
{
    RUN(test_syntax);
    RUN(test_syntax_errors);
    RUN(test_repeat);
    RUN(test_repeat_errors);
    RUN(test_int);
    RUN(test_float);
    RUN(test_bool_string_enum);
    RUN(test_pair_dims);
    RUN(test_list);
    RUN(test_unused_and_error);
    RUN(test_random_bytes);
    return harness_summary();
}
