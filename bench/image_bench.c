/* Benchmark of image decoding and resizing (src/data/image*.c) on one thread: decode, and
 * decode + resize, of synthetic photo-like 256x256 and 500x375 RGB images stored as PNG and
 * JPEG, as images/s of this process's CPU time (so that other processes on a shared machine
 * count less; median of --runs samples after a warm-up). Not part of the test run; the
 * loader's end-to-end numbers against a peer are bench/data_bench.c's.
 * Built by CMake (PDL_BENCH, on by default) as build/bench/image_bench.
 * Usage: image_bench [--runs N] */
#include "core/rng.h"
#include "data/image.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SAMPLE_SECONDS 0.2 /* a sample repeats the work until it used about this much CPU */
#define MAX_RUNS 64

typedef struct job {
    const uint8_t *bytes;
    size_t size;
    int width, height; /* resize target; 0: decode only */
    pdl_resize_mode mode;
} job;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void run_once(const job *j)
{
    pdl_image img, out;
    if (pdl_image_decode(j->bytes, j->size, 3, "bench", &img) != PDL_OK) {
        fprintf(stderr, "image_bench: %s\n", pdl_last_error());
        exit(1);
    }
    if (j->width) {
        if (pdl_image_resize(&img, j->width, j->height, j->mode, 1, 2, &out) != PDL_OK) {
            fprintf(stderr, "image_bench: %s\n", pdl_last_error());
            exit(1);
        }
        pdl_image_free(&out);
    }
    pdl_image_free(&img);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median images/s over runs samples. */
static double measure(const job *j, int runs)
{
    double rates[MAX_RUNS];
    run_once(j); /* warm-up */
    for (int r = 0; r < runs; r++) {
        int n = 0;
        double t0 = now(), t;
        do {
            run_once(j);
            n++;
        } while ((t = now() - t0) < SAMPLE_SECONDS);
        rates[r] = n / t;
    }
    qsort(rates, (size_t)runs, sizeof rates[0], cmp_double);
    return rates[runs / 2];
}

/* Smooth shapes plus sensor-like noise: compresses like a photo, not like a flat test card. */
static void photo(pdl_image *img, int width, int height)
{
    if (pdl_image_alloc(img, width, height, 3) != PDL_OK)
        exit(1);
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++) {
                double v = 128 + 70 * sin(x / (11.0 + 5 * c)) * cos(y / 17.0) +
                           30 * sin((x + y) / 41.0) +
                           (int)(pdl_rng_u64(9, (uint64_t)c, (uint64_t)(y * width + x)) >> 60) - 8;
                img->data[((size_t)c * height + y) * width + x] =
                    (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
            }
}

int main(int argc, char **argv)
{
    int runs = 5;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc) {
            runs = atoi(argv[++i]);
        } else {
            fprintf(stderr, "usage: image_bench [--runs N]\n");
            return 2;
        }
    }
    runs = runs < 1 ? 1 : runs > MAX_RUNS ? MAX_RUNS : runs;
    static const int sizes[2][2] = {{256, 256}, {500, 375}};
    printf("%-38s %10s %12s\n", "work (one thread)", "bytes", "images/s");
    for (int s = 0; s < 2; s++) {
        pdl_image img;
        photo(&img, sizes[s][0], sizes[s][1]);
        uint8_t *png = NULL, *jpg = NULL;
        size_t png_size = 0, jpg_size = 0;
        if (pdl_image_encode_png(&img, 6, &png, &png_size) != PDL_OK ||
            pdl_image_encode_jpeg(&img, 90, &jpg, &jpg_size) != PDL_OK) {
            fprintf(stderr, "image_bench: %s\n", pdl_last_error());
            return 1;
        }
        for (int f = 0; f < 2; f++) {
            job j = {f ? jpg : png, f ? jpg_size : png_size, 0, 0, PDL_RESIZE_SQUASH};
            const char *fmt = f ? "JPEG q90" : "PNG";
            char what[64];
            snprintf(what, sizeof what, "decode %dx%d %s", img.width, img.height, fmt);
            printf("%-38s %10zu %12.0f\n", what, j.size, measure(&j, runs));
            for (int m = 0; m < 2; m++) {
                j.mode = m ? PDL_RESIZE_CROP : PDL_RESIZE_SQUASH;
                j.width = j.height = s ? 256 : 227;
                snprintf(what, sizeof what, "  + %s to %dx%d", pdl_resize_mode_name(j.mode),
                         j.width, j.height);
                printf("%-38s %10s %12.0f\n", what, "", measure(&j, runs));
            }
        }
        free(png);
        free(jpg);
        pdl_image_free(&img);
    }
    return 0;
}
