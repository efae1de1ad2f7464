/* The safetensors container and its JSON header: write/read round trips (dtypes, scalars, empty
 * tensors, escaped and non-ASCII metadata), every malformed header refused with a clear error,
 * files written by Python, and the atomic write leaving no temp file behind. */
#include "graph/safetensors.h"
#include "harness.h"

#include <dirent.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DIR_PATH "test_safetensors.tmp"

/* A file image: the 8-byte length of header, header, then data_len bytes 0, 1, 2, ... */
static unsigned char *image(const char *header, size_t data_len, size_t *size)
{
    size_t h = strlen(header);
    *size = 8 + h + data_len;
    unsigned char *b = malloc(*size);
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)((uint64_t)h >> (8 * i));
    memcpy(b + 8, header, h);
    for (size_t i = 0; i < data_len; i++)
        b[8 + h + i] = (unsigned char)i;
    return b;
}

static pdl_status parse(const char *header, size_t data_len, pdl_safetensors **out)
{
    size_t size;
    unsigned char *b = image(header, data_len, &size);
    pdl_status st = pdl_safetensors_parse(b, size, "mem.safetensors", out);
    free(b);
    return st;
}

/* The header must be refused as PDL_ERR_FORMAT with a message holding fragment. */
static void refused(const char *header, size_t data_len, const char *fragment)
{
    pdl_safetensors *st = (pdl_safetensors *)&st;
    pdl_status status = parse(header, data_len, &st);
    CHECK(status == PDL_ERR_FORMAT);
    CHECK(st == NULL);
    if (!strstr(pdl_last_error(), fragment) || !strstr(pdl_last_error(), "mem.safetensors")) {
        fprintf(stderr, "  header %s\n  message '%s' lacks '%s'\n", header, pdl_last_error(),
                fragment);
        CHECK(!"message fragment missing");
    }
}

#define T(name, dtype, shape, b, e)                                                               \
    "\"" name "\":{\"dtype\":\"" dtype "\",\"shape\":" shape ",\"data_offsets\":[" #b "," #e "]}"

static void test_layout_errors(void)
{
    refused("{" T("a", "F32", "[2]", 0, 16) "}", 8, "outside");
    refused("{" T("a", "F32", "[3]", 0, 8) "}", 8, "needs 12");
    refused("{" T("a", "F32", "[2]", 0, 8) "," T("b", "F32", "[2]", 4, 12) "}", 12, "overlapping");
    refused("{" T("a", "F32", "[1]", 0, 4) "," T("b", "F32", "[1]", 8, 12) "}", 12, "missing data");
    refused("{" T("a", "F32", "[1]", 0, 4) "}", 8, "cover 4 bytes of a 8-byte");
    refused("{" T("a", "F32", "[1]", 0, 4) "," T("a", "F32", "[1]", 4, 8) "}", 8,
            "'a' appears twice");
    refused("{" T("a", "F32", "[1]", 4, 0) "}", 4, "outside");
    refused("{" T("a", "F33", "[1]", 0, 4) "}", 4, "unknown dtype 'F33'");
    refused("{" T("a", "F32", "[1,1,1,1,1,1]", 0, 4) "}", 4, "more than 5");
    refused("{" T("a", "F32", "[4294967296,4294967296,4294967296]", 0, 4) "}", 4, "too large");
    refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, "missing data_offsets");
    refused("{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
            "repeated key 'dtype'");
    refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"x\":1}}", 4,
            "unknown key 'x'");
    refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}", 4,
            "more than 2");
    refused("{\"__metadata__\":{\"k\":\"v\"},\"__metadata__\":{}}", 0,
            "__metadata__ appears twice");
    refused("{\"__metadata__\":{\"k\":\"v\",\"k\":\"w\"}}", 0, "'k' appears twice");
    refused("{\"__metadata__\":{\"k\":1}}", 0, "expected a string");
}

static void test_json_errors(void)
{
    refused("", 0, "does not start with '{'");
    refused(" {}", 0, "does not start with '{'");
    refused("{", 0, "ends early");
    refused("{}x", 0, "after the header");
    refused("{} \x01", 0, "after the header");
    refused("{" T("a", "F32", "[1]", 0, 4) ",}", 4, "expected a string");
    refused("{\"a\" " T("b", "F32", "[1]", 0, 4) "}", 4, "expected ':'");
    refused("{\"__metadata__\":{\"k\":\"v\"} \"x\":{}}", 0, "expected ',' or '}'");
    refused("{\"__metadata__\":{\"k\":\"abc}}", 0, "unterminated");
    refused("{\"__metadata__\":{\"k\":\"a\\xb\"}}", 0, "bad escape");
    refused("{\"__metadata__\":{\"k\":\"\\ud800\"}}", 0, "bad escape");
    refused("{\"__metadata__\":{\"k\":\"\\udc00\\ud800\"}}", 0, "bad escape");
    refused("{\"__metadata__\":{\"k\":\"\\u0000\"}}", 0, "bad escape");
    refused("{\"__metadata__\":{\"k\":\"\\u12g4\"}}", 0, "bad escape");
    refused("{\"__metadata__\":{\"k\":\"a\tb\"}}", 0, "control character");
    refused("{\"__metadata__\":{\"k\":\"\xff\"}}", 0, "invalid UTF-8");
    refused("{\"__metadata__\":{\"k\":\"\xc0\xaf\"}}", 0, "invalid UTF-8");         /* overlong */
    refused("{\"__metadata__\":{\"k\":\"\xed\xa0\x80\"}}", 0, "invalid UTF-8");     /* surrogate */
    refused("{\"__metadata__\":{\"k\":\"\xe2\x82\"}}", 0, "invalid UTF-8");         /* cut */
    refused("{" T("a", "F32", "[01]", 0, 4) "}", 4, "leading zero");
    refused("{" T("a", "F32", "[-1]", 0, 4) "}", 4, "non-negative integer");
    refused("{" T("a", "F32", "[1.0]", 0, 4) "}", 4, "not a fraction");
    refused("{" T("a", "F32", "[1e0]", 0, 4) "}", 4, "not a fraction");
    refused("{" T("a", "F32", "[1]", 0, 18446744073709551616) "}", 4, "too large");
    refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[1,],\"data_offsets\":[0,4]}}", 4,
            "non-negative integer");
    refused("{\"a\":[]}", 0, "expected '{'");
    refused("{\"a\":{\"dtype\":F32}}", 0, "expected a string");

    /* Bytes too short for the length, and a length past the end of the file. */
    pdl_safetensors *st = NULL;
    CHECK(pdl_safetensors_parse("\x02\0\0", 3, "mem.safetensors", &st) == PDL_ERR_FORMAT);
    CHECK(strstr(pdl_last_error(), "too short") != NULL);
    CHECK(pdl_safetensors_parse("\x40\0\0\0\0\0\0\0{}", 10, "mem.safetensors", &st) ==
          PDL_ERR_FORMAT);
    CHECK(strstr(pdl_last_error(), "past the end") != NULL);
    CHECK(pdl_safetensors_parse("\x02\0\0\0\0\0\0\x80{}", 10, "mem.safetensors", &st) ==
          PDL_ERR_FORMAT);
    CHECK(st == NULL);
}

static void test_json_accepted(void)
{
    pdl_safetensors *st = NULL;
    const char *header = " {\n\t\"__metadata__\" : { \"k\\u00e9\\\"\" : "
                         "\"\\ud83d\\ude00\\n\\/\\\\\","
                         " \"e\":\"\" } ,"
                         "\"s\":{\"data_offsets\":[ 0 , 4 ],\"shape\":[],\"dtype\":\"I32\"},"
                         "\"z\":{\"dtype\":\"F32\",\"shape\":[0,3],\"data_offsets\":[4,4]},"
                         "\"b\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[4,8]}}   ";
    CHECK_OK(parse(header + 1, 8, &st)); /* the header itself starts with '{' */
    if (!st)
        return;
    CHECK(st->n_tensors == 3 && st->n_meta == 2 && st->data_size == 8);
    CHECK(pdl_safetensors_meta(st, "k\xc3\xa9\"") &&
          !strcmp(pdl_safetensors_meta(st, "k\xc3\xa9\""), "\xf0\x9f\x98\x80\n/\\"));
    CHECK(pdl_safetensors_meta(st, "e") && !pdl_safetensors_meta(st, "e")[0]);
    int s = pdl_safetensors_find(st, "s");
    CHECK(s >= 0 && st->tensors[s].shape.ndim == 0 && !strcmp(st->tensors[s].dtype, "I32"));
    int z = pdl_safetensors_find(st, "z");
    CHECK(z >= 0 && pdl_shape_count(&st->tensors[z].shape) == 0);
    CHECK(pdl_safetensors_find(st, "nope") == -1);
    pdl_shape shape;
    const unsigned char *data;
    CHECK(pdl_safetensors_f32(st, "b", &shape, &data) == PDL_ERR_FORMAT);
    CHECK(strstr(pdl_last_error(), "'b' is BF16, expected F32") != NULL);
    CHECK(pdl_safetensors_f32(st, "w", &shape, &data) == PDL_ERR_FORMAT);
    CHECK(strstr(pdl_last_error(), "'w' is missing") != NULL);
    CHECK_OK(pdl_safetensors_f32(st, "z", &shape, &data));
    CHECK(shape.ndim == 2 && shape.dim[1] == 3);
    CHECK(st->data[5] == 5); /* the data section was copied */
    pdl_safetensors_free(st);
}

static void test_round_trip(void)
{
    float w[6] = {1.5f, -2.0f, 3.25f, 0.0f, -0.0f, 1e-30f};
    int32_t counts[2] = {7, -9};
    uint8_t bytes[3] = {1, 2, 255};
    float scalar = 42.0f;
    const pdl_st_source src[] = {
        {"layer.weight", PDL_F32, pdl_shape_2d(2, 3), w},
        {"counts", PDL_I32, pdl_shape_make(1, (int64_t[]){2}), counts},
        {"empty", PDL_F32, pdl_shape_2d(0, 4), NULL},
        {"u8 \"quoted\" \xc3\xa9", PDL_U8, pdl_shape_make(1, (int64_t[]){3}), bytes},
        {"scalar", PDL_F32, pdl_shape_make(0, NULL), &scalar},
    };
    const char *keys[] = {"text", "ctl"};
    const char *values[] = {"[net]\ninput = 1x2x2 # caf\xc3\xa9 \"q\" \\ \t", "\x01\x1f"};
    const char *path = DIR_PATH "/round.safetensors";
    pdl_safetensors *st = NULL;
    CHECK_OK(pdl_safetensors_write(path, src, 5, keys, values, 2));
    CHECK_OK(pdl_safetensors_read(path, false, &st));
    if (!st)
        return;
    CHECK(st->n_tensors == 5 && st->n_meta == 2);
    CHECK(!strcmp(pdl_safetensors_meta(st, "text"), values[0]));
    CHECK(!strcmp(pdl_safetensors_meta(st, "ctl"), values[1]));
    pdl_shape shape;
    const unsigned char *data;
    CHECK_OK(pdl_safetensors_f32(st, "layer.weight", &shape, &data));
    CHECK(shape.ndim == 2 && shape.dim[0] == 2 && shape.dim[1] == 3 && !memcmp(data, w, sizeof w));
    CHECK_OK(pdl_safetensors_f32(st, "scalar", &shape, &data));
    CHECK(shape.ndim == 0 && !memcmp(data, &scalar, 4));
    int u = pdl_safetensors_find(st, "u8 \"quoted\" \xc3\xa9");
    CHECK(u >= 0 && !strcmp(st->tensors[u].dtype, "U8"));
    if (u >= 0)
        CHECK(!memcmp(st->data + st->tensors[u].begin, bytes, 3));
    int c = pdl_safetensors_find(st, "counts");
    CHECK(c >= 0 && !strcmp(st->tensors[c].dtype, "I32"));
    pdl_safetensors_free(st);

    /* The data section starts 8-byte aligned; header-only reads skip it but check its size. */
    FILE *f = fopen(path, "rb");
    unsigned char len[8];
    CHECK(f && fread(len, 1, 8, f) == 8);
    if (f)
        fclose(f);
    CHECK(len[0] % 8 == 0);
    CHECK_OK(pdl_safetensors_read(path, true, &st));
    CHECK(st && st->data == NULL && st->data_size == 6 * 4 + 2 * 4 + 3 + 4);
    pdl_safetensors_free(st);
    struct stat info;
    CHECK(stat(path, &info) == 0);
    CHECK(truncate(path, info.st_size - 1) == 0);
    CHECK(pdl_safetensors_read(path, true, &st) == PDL_ERR_FORMAT);
    CHECK(strstr(pdl_last_error(), path) != NULL);
}

/* Metadata that is not UTF-8 is refused before anything is written. */
static void test_write_errors(void)
{
    const char *keys[] = {"k"}, *bad[] = {"\xff"};
    CHECK(pdl_safetensors_write(DIR_PATH "/bad.safetensors", NULL, 0, keys, bad, 1) ==
          PDL_ERR_INVALID);
    CHECK(access(DIR_PATH "/bad.safetensors", F_OK) != 0);
    CHECK(pdl_safetensors_write(DIR_PATH "/no/such/folder/x.safetensors", NULL, 0, NULL, NULL,
                                0) == PDL_ERR_IO);
    CHECK(strstr(pdl_last_error(), "no/such/folder") != NULL);
    pdl_safetensors *st = NULL;
    CHECK(pdl_safetensors_read(DIR_PATH "/missing.safetensors", false, &st) == PDL_ERR_IO);
    CHECK(strstr(pdl_last_error(), "missing.safetensors") != NULL);
}

/* Overwriting is atomic and leaves only the target in the folder. */
static void test_atomic_overwrite(void)
{
    float a = 1.0f, b = 2.0f;
    const char *path = DIR_PATH "/atomic.safetensors";
    pdl_st_source src = {"x", PDL_F32, pdl_shape_make(1, (int64_t[]){1}), &a};
    CHECK_OK(pdl_safetensors_write(path, &src, 1, NULL, NULL, 0));
    src.data = &b;
    CHECK_OK(pdl_safetensors_write(path, &src, 1, NULL, NULL, 0));
    pdl_safetensors *st = NULL;
    CHECK_OK(pdl_safetensors_read(path, false, &st));
    CHECK(st && !memcmp(st->data, &b, 4));
    pdl_safetensors_free(st);
    DIR *dir = opendir(DIR_PATH);
    struct dirent *e;
    int temps = 0;
    while (dir && (e = readdir(dir)))
        temps += strstr(e->d_name, ".tmp") != NULL;
    if (dir)
        closedir(dir);
    CHECK(dir && temps == 0);
}

/* A file written by Python (tests/fixtures/make_optim_fixtures.py), with an I64 scalar. */
static void test_python_file(void)
{
    pdl_safetensors *st = NULL;
    CHECK_OK(pdl_safetensors_read(PDL_SOURCE_DIR "/tests/fixtures/tiny_weights.safetensors", false,
                                  &st));
    if (!st)
        return;
    CHECK(pdl_safetensors_meta(st, "format") && !strcmp(pdl_safetensors_meta(st, "format"), "pt"));
    int i = pdl_safetensors_find(st, "bn1.num_batches_tracked");
    CHECK(i >= 0 && !strcmp(st->tensors[i].dtype, "I64") && st->tensors[i].shape.ndim == 0);
    CHECK(pdl_safetensors_find(st, "conv1.weight") >= 0);
    pdl_safetensors_free(st);
}

int main(void)
{
    mkdir(DIR_PATH, 0777);
    RUN(test_layout_errors);
    RUN(test_json_errors);
    RUN(test_json_accepted);
    RUN(test_round_trip);
    RUN(test_write_errors);
    RUN(test_atomic_overwrite);
    RUN(test_python_file);
    return harness_summary();
}
