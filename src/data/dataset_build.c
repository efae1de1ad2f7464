/* pdl_dataset_create: from a folder of class folders or a list file of "path LABEL" lines to
 * the DIGITS layout. Owns finding the files, classes and labels, the per-class splits (DIGITS'
 * rounding), shuffles, and the parallel decode + resize + encode of each file. Writing the
 * folder (LMDB, keys, mean, manifest, rename) is dataset_write.c's. */
#include "data/dataset_build.h"

#include "core/error.h"
#include "core/rng.h"
#include "data/datum.h"
#include "pdl/data.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

/* Files decoded per parallel step; records are written in order after each step. */
#define CHUNK 128
/* Class folders nested deeper than this are not followed (symbolic link loops). */
#define MAX_DEPTH 32

/* One input file. */
typedef struct item {
    char *path;
    int label; /* class index in the input's class list (folder input) or the label (lists) */
    int64_t id; /* its position in the whole listing: the stream of its fill noise */
} item;

typedef struct item_list {
    item *items;
    int64_t n, cap;
} item_list;

/* What the inputs give: the files of each class and the class names. */
typedef struct inputs {
    char **names; /* class names, classes entries */
    int classes;
    item_list per_class_files; /* main input, in class order */
    item_list split_files[PDL_SPLITS]; /* the files of each split, in writing order */
    int64_t next_id;
} inputs;

static pdl_status oom(void)
{
    return pdl_error(PDL_ERR_NOMEM, "dataset build: out of memory");
}

static pdl_status list_add(item_list *l, const char *path, int label, int64_t id)
{
    if (l->n == l->cap) {
        int64_t cap = l->cap ? 2 * l->cap : 256;
        item *grown = realloc(l->items, (size_t)cap * sizeof *grown);
        if (!grown)
            return oom();
        l->items = grown;
        l->cap = cap;
    }
    char *copy = strdup(path);
    if (!copy)
        return oom();
    l->items[l->n++] = (item){.path = copy, .label = label, .id = id};
    return PDL_OK;
}

static void list_free(item_list *l)
{
    for (int64_t i = 0; i < l->n; i++)
        free(l->items[i].path);
    free(l->items);
    *l = (item_list){0};
}

static void inputs_free(inputs *in)
{
    for (int i = 0; i < in->classes; i++)
        free(in->names[i]);
    free(in->names);
    list_free(&in->per_class_files);
    for (int s = 0; s < PDL_SPLITS; s++)
        list_free(&in->split_files[s]);
}

static pdl_status add_name(inputs *in, const char *name)
{
    char **grown = realloc(in->names, (size_t)(in->classes + 1) * sizeof *grown);
    if (!grown)
        return oom();
    in->names = grown;
    if (!(grown[in->classes] = strdup(name)))
        return oom();
    in->classes++;
    return PDL_OK;
}

static bool is_image_name(const char *name)
{
    static const char *const ext[] = {".png", ".jpg", ".jpeg", ".pgm", ".ppm", ".pnm"};
    size_t len = strlen(name);
    for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++) {
        size_t e = strlen(ext[i]);
        if (len > e && !strcasecmp(name + len - e, ext[i]))
            return true;
    }
    return false;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The sorted entries of dir that are folders (want_dirs) or image files (else), hidden ones
 * left out; *out and its strings malloc'ed. */
static pdl_status list_dir(const char *dir, bool want_dirs, char ***out, int64_t *count)
{
    *out = NULL;
    *count = 0;
    DIR *d = opendir(dir);
    if (!d)
        return pdl_error_errno("cannot list the folder", dir);
    char **names = NULL;
    int64_t n = 0, cap = 0;
    pdl_status status = PDL_OK;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char *path = pdl_path_join(dir, "/", e->d_name);
        struct stat st;
        bool keep = path && stat(path, &st) == 0 &&
                    (want_dirs ? S_ISDIR(st.st_mode)
                               : S_ISDIR(st.st_mode) || is_image_name(e->d_name));
        free(path);
        if (!keep)
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            char **grown = realloc(names, (size_t)cap * sizeof *grown);
            if (!grown) {
                status = oom();
                break;
            }
            names = grown;
        }
        if (!(names[n] = strdup(e->d_name))) {
            status = oom();
            break;
        }
        n++;
    }
    closedir(d);
    if (status != PDL_OK) {
        for (int64_t i = 0; i < n; i++)
            free(names[i]);
        free(names);
        return status;
    }
    qsort(names, (size_t)n, sizeof *names, by_name);
    *out = names;
    *count = n;
    return PDL_OK;
}

/* Adds the image files under dir (recursively, in sorted order) with label to l. */
static pdl_status walk_class(inputs *in, item_list *l, const char *dir, int label, int depth)
{
    char **names = NULL;
    int64_t n = 0;
    pdl_status status = list_dir(dir, false, &names, &n);
    for (int64_t i = 0; i < n && status == PDL_OK; i++) {
        char *path = pdl_path_join(dir, "/", names[i]);
        struct stat st;
        if (!path)
            status = oom();
        else if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
            status = depth < MAX_DEPTH ? walk_class(in, l, path, label, depth + 1) : PDL_OK;
        else
            status = list_add(l, path, label, in->next_id++);
        free(path);
    }
    for (int64_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return status;
}

/* DIGITS' class name of a folder: its name with '_' shown as ' '. */
static void class_name(const char *folder, char *buf, size_t size)
{
    snprintf(buf, size, "%s", folder);
    for (char *p = buf; *p; p++)
        if (*p == '_')
            *p = ' ';
}

/* The class folders of a folder input. With names NULL, the classes are the folders (names are
 * added to in); else each folder is matched to a name in in->names and unknown ones skipped. */
static pdl_status scan_folder(inputs *in, const char *folder, bool main_input, item_list *l,
                              pdl_dataset_report *report)
{
    char **dirs = NULL;
    int64_t n = 0;
    pdl_status status = list_dir(folder, true, &dirs, &n);
    if (status == PDL_OK && n == 0)
        status = pdl_error(PDL_ERR_INVALID, "'%s' has no class folders", folder);
    for (int64_t i = 0; i < n && status == PDL_OK; i++) {
        char name[1024];
        class_name(dirs[i], name, sizeof name);
        char *path = pdl_path_join(folder, "/", dirs[i]);
        int label = main_input ? in->classes : -1;
        for (int c = 0; !main_input && c < in->classes; c++)
            if (!strcmp(in->names[c], name))
                label = c;
        if (!path)
            status = oom();
        else if (main_input)
            status = add_name(in, name);
        if (status == PDL_OK && label >= 0) {
            status = walk_class(in, l, path, label, 1);
        } else if (status == PDL_OK) {
            item_list unknown = {0};
            status = walk_class(in, &unknown, path, 0, 1);
            for (int64_t f = 0; f < unknown.n && status == PDL_OK; f++) {
                report->found++;
                status = pdl_report_skip(report, unknown.items[f].path,
                                         "its class folder is not a class of the main input");
            }
            list_free(&unknown);
        }
        free(path);
    }
    for (int64_t i = 0; i < n; i++)
        free(dirs[i]);
    free(dirs);
    return status;
}

/* Parses "path LABEL" (the label is the last word); false with reason for a bad line. */
static bool parse_line(char *line, char **path, int *label, char *reason, size_t size)
{
    size_t len = strlen(line);
    while (len > 0 && isspace((unsigned char)line[len - 1]))
        line[--len] = '\0';
    char *start = line;
    while (isspace((unsigned char)*start))
        start++;
    char *space = NULL;
    for (char *p = start; *p; p++)
        if (isspace((unsigned char)*p))
            space = p;
    if (!space) {
        snprintf(reason, size, "no label (expected 'path LABEL')");
        return false;
    }
    char *word = space + 1, *end = NULL;
    errno = 0;
    long value = strtol(word, &end, 10);
    if (*end || end == word || errno) {
        snprintf(reason, size, "label '%.64s' is not an integer", word);
        return false;
    }
    if (value < 0 || value > INT_MAX / 2) {
        snprintf(reason, size, "label %ld is %s", value, value < 0 ? "negative" : "too large");
        return false;
    }
    while (space > start && isspace((unsigned char)space[-1]))
        space--;
    *space = '\0';
    *path = start;
    *label = (int)value;
    return true;
}

/* The folder relative paths of list lines start from: root, else the list file's folder. */
static char *list_root(const char *list, const char *root)
{
    if (root)
        return strdup(root);
    const char *slash = strrchr(list, '/');
    if (!slash)
        return strdup(".");
    return strndup(list, slash == list ? 1 : (size_t)(slash - list));
}

static pdl_status skip_line(pdl_dataset_report *report, const char *list, int64_t number,
                            const char *reason)
{
    size_t len = strlen(list) + 32;
    char *where = malloc(len);
    if (!where)
        return oom();
    snprintf(where, len, "%s:%lld", list, (long long)number);
    pdl_status status = pdl_report_skip(report, where, reason);
    free(where);
    return status;
}

/* Reads a list file into l (in line order); bad lines are skipped into report, and so are
 * labels >= classes when classes > 0. */
static pdl_status scan_list(inputs *in, const char *list, const char *root_opt, int classes,
                            item_list *l, pdl_dataset_report *report)
{
    FILE *f = fopen(list, "r");
    if (!f)
        return pdl_error_errno("cannot open the list file", list);
    char *root = list_root(list, root_opt), *line = NULL;
    size_t cap = 0;
    int64_t number = 0;
    pdl_status status = root ? PDL_OK : oom();
    while (status == PDL_OK && getline(&line, &cap, f) >= 0) {
        number++;
        char *path = NULL, reason[128];
        int label = 0;
        bool blank = true;
        for (char *p = line; *p && blank; p++)
            blank = isspace((unsigned char)*p);
        if (blank)
            continue;
        report->found++;
        if (!parse_line(line, &path, &label, reason, sizeof reason)) {
            status = skip_line(report, list, number, reason);
            continue;
        }
        if (classes > 0 && label >= classes) {
            snprintf(reason, sizeof reason, "label %d has no class (%d classes)", label, classes);
            status = skip_line(report, list, number, reason);
            continue;
        }
        char *full = path[0] == '/' ? strdup(path) : pdl_path_join(root, "/", path);
        status = full ? list_add(l, full, label, in->next_id++) : oom();
        free(full);
    }
    if (status == PDL_OK && ferror(f))
        status = pdl_error_errno("cannot read the list file", list);
    free(line);
    free(root);
    fclose(f);
    return status;
}

/* DIGITS' three_way_split_indices: per class, train gets round(n * train%), val round(n * val%)
 * (rounding half away from zero, as Python 2's round), test the rest; a split asked for gets at
 * least one file when that is possible, taken from its neighbour. */
void pdl_split_counts(int64_t size, double pct_b, double pct_c, int64_t counts[PDL_SPLITS])
{
    double pct_a = 100 - (pct_b + pct_c);
    int64_t a = 0, b = 0;
    if (pct_a >= 100) {
        a = size;
    } else if (pct_b >= 100) {
        b = size;
    } else if (pct_c < 100) {
        a = llround((double)size * pct_a / 100);
        if (pct_a > 0 && a == 0)
            a = 1;
        b = llround((double)size * pct_b / 100);
        if (a + b > size)
            b = size - a;
        if (pct_b > 0 && b == 0) {
            if (a > 1) {
                a--;
                b = 1;
            } else if (a != size) {
                b = 1;
            }
        }
        if (pct_c > 0 && size - (a + b) == 0) {
            if (b > 1)
                b--;
            else if (a > 1)
                a--;
        }
    }
    counts[PDL_SPLIT_TRAIN] = a;
    counts[PDL_SPLIT_VAL] = b;
    counts[PDL_SPLIT_TEST] = size - a - b;
}

void pdl_build_order(const pdl_dataset_options *o, int64_t k, int64_t n, int64_t *order)
{
    if (o->shuffle) {
        pdl_epoch_order(pdl_rng_u64(o->seed, pdl_rng_stream_of("dataset.shuffle"), 0), k, n,
                        order);
        return;
    }
    for (int64_t i = 0; i < n; i++)
        order[i] = i;
}

/* Shuffles items [0, n) with permutation number k. */
static pdl_status shuffle_items(const pdl_dataset_options *o, int64_t k, item *items, int64_t n)
{
    if (!o->shuffle || n < 2)
        return PDL_OK;
    int64_t *order = malloc((size_t)n * sizeof *order);
    item *copy = malloc((size_t)n * sizeof *copy);
    pdl_status status = order && copy ? PDL_OK : oom();
    if (status == PDL_OK) {
        pdl_build_order(o, k, n, order);
        for (int64_t i = 0; i < n; i++)
            copy[i] = items[order[i]];
        memcpy(items, copy, (size_t)n * sizeof *copy);
    }
    free(order);
    free(copy);
    return status;
}

/* Per class of the main input (items grouped by class): shuffle, cap at max_per_class, drop
 * classes below min_per_class, split. renumber (folder input): the kept classes get labels
 * 0, 1, ... in folder order and the dropped ones leave names; list input keeps its labels. */
static pdl_status split_classes(inputs *in, const pdl_dataset_options *o, bool renumber,
                                double val_pct, double test_pct, pdl_dataset_report *report)
{
    item_list *all = &in->per_class_files;
    int64_t required = (val_pct + test_pct < 100) + (val_pct > 0) + (test_pct > 0);
    int kept = 0;
    pdl_status status = PDL_OK;
    int64_t begin = 0;
    for (int c = 0; c < in->classes && status == PDL_OK; c++) {
        int64_t end = begin;
        while (end < all->n && all->items[end].label == c)
            end++;
        int64_t n = end - begin;
        status = shuffle_items(o, c, all->items + begin, n);
        if (o->max_per_class > 0 && n > o->max_per_class)
            n = o->max_per_class;
        if (status != PDL_OK) {
            break;
        } else if (n < o->min_per_class || n < required || n == 0) {
            status = pdl_report_drop(report, in->names[c]);
            if (renumber) {
                free(in->names[c]);
                in->names[c] = NULL;
            }
        } else {
            int64_t counts[PDL_SPLITS], i = begin;
            pdl_split_counts(n, val_pct, test_pct, counts);
            for (int s = 0; s < PDL_SPLITS; s++)
                for (int64_t k = 0; k < counts[s] && status == PDL_OK; k++, i++)
                    status = list_add(&in->split_files[s], all->items[i].path,
                                      renumber ? kept : c, all->items[i].id);
            if (renumber && kept != c) {
                in->names[kept] = in->names[c];
                in->names[c] = NULL;
            }
            kept++;
        }
        begin = end;
    }
    if (renumber && status == PDL_OK)
        in->classes = kept;
    return status;
}

/* Files by label, then by position in the listing. */
static int by_label(const void *a, const void *b)
{
    const item *x = a, *y = b;
    if (x->label != y->label)
        return x->label < y->label ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

/* Names for list input: the labels file, else "0" .. "max". */
static pdl_status list_names(inputs *in, const pdl_dataset_options *o, int max_label)
{
    if (o->labels)
        return pdl_labels_read(o->labels, true, &in->names, &in->classes);
    pdl_status status = PDL_OK;
    for (int c = 0; c <= max_label && status == PDL_OK; c++) {
        char name[16];
        snprintf(name, sizeof name, "%d", c);
        status = add_name(in, name);
    }
    return status;
}

static bool is_folder(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The main input: classes and their files, split per class. */
static pdl_status gather_main(inputs *in, const char *input, const pdl_dataset_options *o,
                              pdl_dataset_report *report)
{
    double val_pct = o->val_input ? 0 : o->val_pct, test_pct = o->test_input ? 0 : o->test_pct;
    item_list *l = &in->per_class_files;
    pdl_status status = PDL_OK;
    struct stat st;
    if (stat(input, &st) != 0)
        return pdl_error_errno("cannot open the input", input);
    if (S_ISDIR(st.st_mode)) {
        status = scan_folder(in, input, true, l, report);
        report->found += l->n;
        return status == PDL_OK ? split_classes(in, o, true, val_pct, test_pct, report) : status;
    }
    int classes = 0;
    if (o->labels && (status = list_names(in, o, -1)) != PDL_OK)
        return status;
    classes = in->classes;
    if ((status = scan_list(in, input, o->root, classes, l, report)) != PDL_OK)
        return status;
    int max_label = -1;
    for (int64_t i = 0; i < l->n; i++)
        max_label = l->items[i].label > max_label ? l->items[i].label : max_label;
    if (!o->labels && (status = list_names(in, o, max_label)) != PDL_OK)
        return status;
    qsort(l->items, (size_t)l->n, sizeof *l->items, by_label);
    return split_classes(in, o, false, val_pct, test_pct, report);
}

/* A separate val or test input: all its files go to split. */
static pdl_status gather_extra(inputs *in, const char *input, const pdl_dataset_options *o,
                               int split, pdl_dataset_report *report)
{
    item_list l = {0};
    pdl_status status = PDL_OK;
    if (is_folder(input)) {
        status = scan_folder(in, input, false, &l, report);
        report->found += l.n;
    } else {
        status = scan_list(in, input, o->root, in->classes, &l, report);
        qsort(l.items, (size_t)l.n, sizeof *l.items, by_label);
    }
    for (int64_t i = 0; i < l.n && status == PDL_OK; i++)
        status = list_add(&in->split_files[split], l.items[i].path, l.items[i].label,
                          l.items[i].id);
    list_free(&l);
    return status;
}

static pdl_status check_options(const pdl_dataset_options *o, pdl_resize_mode *mode,
                                pdl_datum_encoding *encoding)
{
    if (o->channels != 1 && o->channels != 3)
        return pdl_error(PDL_ERR_INVALID, "channels must be 1 (gray) or 3 (color), not %d",
                         o->channels);
    if (o->width < 1 || o->height < 1 || o->width > PDL_IMAGE_MAX_SIDE ||
        o->height > PDL_IMAGE_MAX_SIDE)
        return pdl_error(PDL_ERR_INVALID, "size %dx%d is outside 1..%d", o->width, o->height,
                         PDL_IMAGE_MAX_SIDE);
    if (!o->resize || !pdl_resize_mode_parse(o->resize, mode))
        return pdl_error(PDL_ERR_INVALID, "resize '%s' is none of squash, crop, fill, half_crop",
                         o->resize ? o->resize : "(null)");
    if (!o->encoding || !pdl_datum_encoding_parse(o->encoding, encoding))
        return pdl_error(PDL_ERR_INVALID, "encoding '%s' is none of none, png, jpg",
                         o->encoding ? o->encoding : "(null)");
    if (!(o->val_pct >= 0 && o->test_pct >= 0 && o->val_pct + o->test_pct < 100))
        return pdl_error(PDL_ERR_INVALID,
                         "val_pct %g and test_pct %g must be >= 0 and leave some for training",
                         o->val_pct, o->test_pct);
    if (o->min_per_class < 0 || o->max_per_class < 0)
        return pdl_error(PDL_ERR_INVALID, "min_per_class and max_per_class must be >= 0");
    if (o->jpeg_quality < 1 || o->jpeg_quality > 100 || o->png_level < 0 || o->png_level > 9)
        return pdl_error(PDL_ERR_INVALID, "jpeg_quality must be in 1..100, png_level in 0..9");
    if (o->map_size < 4096)
        return pdl_error(PDL_ERR_INVALID, "map_size %zu is below one page", o->map_size);
    return PDL_OK;
}

typedef struct slot {
    pdl_image img; /* the resized image */
    uint8_t *datum;
    size_t size;
} slot;

typedef struct work {
    const pdl_dataset_options *o;
    pdl_resize_mode mode;
    pdl_datum_encoding encoding;
    pdl_build *b;
    pdl_dataset_report *report;
    const item *items; /* of the split being written */
    int split;
    slot slots[CHUNK];
} work;

/* Reads, resizes and encodes one file (any thread). */
static pdl_status process_file(void *arg, int64_t index, int64_t i)
{
    work *w = arg;
    const pdl_dataset_options *o = w->o;
    const item *it = &w->items[index];
    slot *s = &w->slots[i];
    pdl_image src = {0};
    pdl_image_free(&s->img);
    pdl_status status = pdl_image_read_file(it->path, o->channels, &src);
    if (status == PDL_OK)
        status = pdl_image_resize(&src, o->width, o->height, w->mode, o->seed,
                                  pdl_rng_stream_of("dataset.fill") + (uint64_t)it->id, &s->img);
    pdl_image_free(&src);
    if (status == PDL_OK)
        status = pdl_datum_encode(&s->img, it->label, w->encoding, o->png_level,
                                  o->jpeg_quality, &s->datum, &s->size);
    return status;
}

/* The reason of a failed file without the "'<path>': " its message starts with. */
static const char *reason_of(const char *message, const char *path)
{
    size_t len = strlen(path);
    if (message[0] == '\'' && !strncmp(message + 1, path, len) && !strncmp(message + 1 + len,
                                                                           "': ", 3))
        return message + len + 4;
    return message;
}

/* In file order: the record goes to the database, or the file to the skipped list. */
static pdl_status commit_file(void *arg, int64_t index, int64_t i, pdl_status status,
                              const char *message)
{
    work *w = arg;
    slot *s = &w->slots[i];
    const item *it = &w->items[index];
    uint8_t *datum = s->datum;
    s->datum = NULL;
    if (status != PDL_OK) {
        free(datum);
        return pdl_report_skip(w->report, it->path, reason_of(message, it->path));
    }
    return pdl_build_put(w->b, w->split, datum, s->size, it->label, &s->img);
}

static pdl_status write_all(pdl_build *b, const inputs *in, const pdl_dataset_options *o,
                            pdl_resize_mode mode, pdl_datum_encoding encoding,
                            pdl_dataset_report *report)
{
    work *w = calloc(1, sizeof *w);
    if (!w)
        return oom();
    *w = (work){.o = o, .mode = mode, .encoding = encoding, .b = b, .report = report};
    pdl_chunked c = {.chunk = CHUNK, .item = process_file, .commit = commit_file, .arg = w,
                     .progress = o->progress, .user = o->progress_user};
    for (int s = 0; s < PDL_SPLITS; s++)
        c.total += in->split_files[s].n;
    pdl_status status = pdl_threadpool_create(o->threads, &c.pool);
    for (int s = 0; s < PDL_SPLITS && status == PDL_OK; s++) {
        w->items = in->split_files[s].items;
        w->split = s;
        c.n = in->split_files[s].n;
        c.stage = pdl_split_name(s);
        status = pdl_chunked_run(&c);
        c.done_before += c.n;
    }
    for (int i = 0; i < CHUNK; i++) {
        pdl_image_free(&w->slots[i].img);
        free(w->slots[i].datum);
    }
    free(w);
    pdl_threadpool_free(c.pool);
    return status;
}

/* "input (val: V, test: T)" for the manifest. */
static char *describe(const char *input, const pdl_dataset_options *o)
{
    size_t len = strlen(input) + (o->val_input ? strlen(o->val_input) : 0) +
                 (o->test_input ? strlen(o->test_input) : 0) + 32;
    char *s = malloc(len);
    if (s)
        snprintf(s, len, "%s%s%s%s%s%s", input, o->val_input ? " (val: " : "",
                 o->val_input ? o->val_input : "", o->val_input ? ")" : "",
                 o->test_input ? " (test: " : "", o->test_input ? o->test_input : "");
    if (s && o->test_input)
        strcat(s, ")");
    return s;
}

pdl_status pdl_dataset_create(const char *input, const char *out, const pdl_dataset_options *o,
                              pdl_dataset_report *report_out)
{
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pdl_dataset_report local = {0}, *report = report_out ? report_out : &local;
    *report = (pdl_dataset_report){0};
    pdl_resize_mode mode;
    pdl_datum_encoding encoding;
    inputs in = {0};
    pdl_build *b = NULL;
    char *source = NULL;
    pdl_status status = check_options(o, &mode, &encoding);
    if (status == PDL_OK)
        status = gather_main(&in, input, o, report);
    if (status == PDL_OK && o->val_input)
        status = gather_extra(&in, o->val_input, o, PDL_SPLIT_VAL, report);
    if (status == PDL_OK && o->test_input)
        status = gather_extra(&in, o->test_input, o, PDL_SPLIT_TEST, report);
    for (int s = 0; s < PDL_SPLITS && status == PDL_OK; s++)
        status = shuffle_items(o, -1 - s, in.split_files[s].items, in.split_files[s].n);
    if (status == PDL_OK && in.split_files[PDL_SPLIT_TRAIN].n == 0)
        status = pdl_error(PDL_ERR_INVALID, "'%s': no image files for training (%lld found, "
                           "%d classes dropped)", input, (long long)report->found,
                           report->dropped_count);
    if (status == PDL_OK && !(source = describe(input, o)))
        status = oom();
    if (status == PDL_OK)
        status = pdl_build_begin(out, o, &b);
    if (status == PDL_OK)
        status = write_all(b, &in, o, mode, encoding, report);
    if (status == PDL_OK) {
        status = pdl_build_finish(b, source, in.names, in.classes, report);
        b = NULL;
    }
    pdl_build_abort(b);
    free(source);
    inputs_free(&in);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    report->seconds = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    pdl_dataset_report_free(&local);
    return status;
}
