/* Winograd F(4x4, 3x3) convolution for 3x3 stride-1 dilation-1 ungrouped layers, forward and
 * backward-data (the forward of dy with the kernel rotated 180 degrees and K, C swapped). Owns
 * the tile transforms and the tile-chunk layout; the products go to pdl_cpu_gemm (gemm.c).
 *
 * Each 6x6 input tile d gives a 4x4 output tile A^T [ (G g G^T) .* (B^T d B) ] A (Lavin & Gray,
 * 2016, points 0, +-1, +-2, infinity). The 36 element-wise products summed over channels are 36
 * GEMMs: M[xi] (K, tiles) = U[xi] (K, C) * V[xi] (C, tiles). Tiles run over the whole batch in
 * chunks of a fixed size (from the geometry only), so the workspace is declared up front. The
 * point index xi sits between the channel and the tile (U is (K, 36, C), V (C, 36, tiles), M
 * (K, 36, tiles)): a transform reads or writes the 36 points of a channel in one compact block,
 * and each point's GEMM takes its matrices with a leading dimension 36 times wider.
 *
 * Error bound (fp32, tested in tests/test_conv_algos.c on random odd shapes): the largest
 * |y - reference| stays below 1e-4 * max |reference|, forward and backward-data. F(4x4) loses
 * about one to two decimal digits against direct summation (its transforms have entries from
 * 1/24 to 8): 40 random shapes with C up to 1000 and inputs in [-1, 1) or [0, 1) gave 5e-7 to
 * 1.3e-5 of the output's range.
 *
 * Deterministic: every output element is computed by one fixed sequence of operations (the
 * chunks, lane groups and GEMM column blocks depend only on the geometry), whatever the pool's
 * thread count. */
#include "backend/cpu/conv.h"

#include "backend/cpu/gemm.h"
#include "core/error.h"

#include <stddef.h>
#include <string.h>

enum {
    TILE = 4,               /* output tile: 4x4 */
    ALPHA = 6,              /* input tile: 6x6 */
    POINTS = ALPHA * ALPHA, /* 36 transformed positions, one GEMM each */
    LANES = 8,              /* tiles (or channels) transformed together, one vector */
    GEMM_COLS = 128,        /* tiles per GEMM job */
    CHUNK_FLOATS = 1 << 20, /* V + M of one chunk: about 4 MB, kept in the last-level cache */
};

typedef float lanes[LANES];

/* One pass: cin planes (n, cin, h, w) -> cout planes (n, cout, oh, ow), a 3x3 kernel at stride
 * 1 whose window starts at -pad (pad may be negative: backward-data with pad > 2). */
typedef struct wino_pass {
    int64_t n, cin, cout, h, w, oh, ow, pad_h, pad_w;
    int64_t tiles_h, tiles_w, tiles; /* output tiles per image row, column; in the batch */
    int64_t chunk;                   /* tiles per chunk */
} wino_pass;

static wino_pass pass_of(int64_t n, int64_t cin, int64_t cout, int64_t h, int64_t w, int64_t oh,
                         int64_t ow, int64_t pad_h, int64_t pad_w)
{
    wino_pass p = {.n = n, .cin = cin, .cout = cout, .h = h, .w = w, .oh = oh, .ow = ow,
                   .pad_h = pad_h, .pad_w = pad_w};
    p.tiles_h = (oh + TILE - 1) / TILE;
    p.tiles_w = (ow + TILE - 1) / TILE;
    p.tiles = n * p.tiles_h * p.tiles_w;
    p.chunk = CHUNK_FLOATS / (POINTS * (cin + cout)) / GEMM_COLS * GEMM_COLS;
    if (p.chunk < GEMM_COLS)
        p.chunk = GEMM_COLS;
    if (p.chunk > p.tiles)
        p.chunk = p.tiles;
    return p;
}

static wino_pass forward_pass(const pdl_conv_geom *g)
{
    return pass_of(g->n, g->c, g->k, g->h, g->w, g->out_h, g->out_w, g->pad_h, g->pad_w);
}

/* dx = dy convolved with the rotated kernel, padded by 2 - pad. */
static wino_pass backward_pass(const pdl_conv_geom *g)
{
    return pass_of(g->n, g->k, g->c, g->out_h, g->out_w, g->h, g->w, 2 - g->pad_h,
                   2 - g->pad_w);
}

/* U (cout, 36, cin), then V (cin, 36, chunk) and M (cout, 36, chunk). */
static size_t pass_floats(const wino_pass *p)
{
    return (size_t)(POINTS * p->cout * p->cin) + (size_t)(POINTS * (p->cin + p->cout) * p->chunk);
}

bool pdl_conv_winograd_applies(const pdl_conv_geom *g)
{
    return g->r == 3 && g->s == 3 && g->stride_h == 1 && g->stride_w == 1 && g->dil_h == 1 &&
           g->dil_w == 1 && g->groups == 1;
}

size_t pdl_conv_winograd_workspace_size(const pdl_conv_geom *g)
{
    wino_pass f = forward_pass(g), b = backward_pass(g);
    size_t ff = pass_floats(&f), fb = pass_floats(&b);
    return (ff > fb ? ff : fb) * sizeof(float);
}

/* ---- the three 1-D transforms over LANES lanes: in[k] at in + k * is, out[i] at out + i * os */

/* out = G g: the kernel's 3 taps to 6 points. */
static inline void weight_1d(lanes *in, ptrdiff_t is, lanes *out, ptrdiff_t os)
{
    for (int l = 0; l < LANES; l++) {
        float g0 = in[0][l], g1 = in[is][l], g2 = in[2 * is][l];
        out[0][l] = g0 * (1.0f / 4.0f);
        out[os][l] = (g0 + g1 + g2) * (-1.0f / 6.0f);
        out[2 * os][l] = (g0 - g1 + g2) * (-1.0f / 6.0f);
        out[3 * os][l] = g0 * (1.0f / 24.0f) + g1 * (1.0f / 12.0f) + g2 * (1.0f / 6.0f);
        out[4 * os][l] = g0 * (1.0f / 24.0f) - g1 * (1.0f / 12.0f) + g2 * (1.0f / 6.0f);
        out[5 * os][l] = g2;
    }
}

/* out = B^T d: 6 inputs to 6 points. */
static inline void input_1d(lanes *in, ptrdiff_t is, lanes *out, ptrdiff_t os)
{
    for (int l = 0; l < LANES; l++) {
        float d0 = in[0][l], d1 = in[is][l], d2 = in[2 * is][l];
        float d3 = in[3 * is][l], d4 = in[4 * is][l], d5 = in[5 * is][l];
        out[0][l] = (4.0f * d0 - 5.0f * d2) + d4;
        out[os][l] = (d3 + d4) - 4.0f * (d1 + d2);
        out[2 * os][l] = 4.0f * (d1 - d2) + (d4 - d3);
        out[3 * os][l] = 2.0f * (d3 - d1) + (d4 - d2);
        out[4 * os][l] = 2.0f * (d1 - d3) + (d4 - d2);
        out[5 * os][l] = (4.0f * d1 - 5.0f * d3) + d5;
    }
}

/* out = A^T m: 6 points to 4 outputs. */
static inline void output_1d(lanes *in, ptrdiff_t is, lanes *out, ptrdiff_t os)
{
    for (int l = 0; l < LANES; l++) {
        float m0 = in[0][l], m1 = in[is][l], m2 = in[2 * is][l];
        float m3 = in[3 * is][l], m4 = in[4 * is][l], m5 = in[5 * is][l];
        float s12 = m1 + m2, d12 = m1 - m2, s34 = m3 + m4, d34 = m3 - m4;
        out[0][l] = m0 + s12 + s34;
        out[os][l] = d12 + 2.0f * d34;
        out[2 * os][l] = s12 + 4.0f * s34;
        out[3 * os][l] = (d12 + 8.0f * d34) + m5;
    }
}

/* ---- jobs ------------------------------------------------------------------------------------ */

typedef struct wino_job {
    const wino_pass *p;
    const float *in;    // in is (n, cin, h, w)
    const float *w;     // w is (K, C, 3, 3): (cout, cin) forward, (cin, cout) when rotate
    bool rotate;        /* backward-data: U[c][xi][k] from w[k][c] turned by 180 degrees */
    const float *bias;  // bias is (cout) or NULL
    bool accumulate;    /* out += result (backward-data) instead of out = result + bias */
    float *out;         // out is (n, cout, oh, ow)
    float *u;           // u is (cout, 36, cin): the transformed kernels
    float *v;           // v is (cin, 36, nt): the chunk's transformed input tiles
    float *m;           // m is (cout, 36, nt): their products
    int64_t t0, nt;     /* the chunk: tiles [t0, t0 + nt) of the batch */
    int64_t groups;     /* lane groups per chunk: ceil(nt / LANES) */
    int64_t gemm_jobs;  /* GEMM column blocks per point: ceil(nt / GEMM_COLS) */
} wino_job;

/* U[o][xi][i] = (G g G^T)[xi] for the kernel g joining input plane i to output plane o; rows o
 * in [begin, end), LANES input planes at a time. */
static void transform_weights(void *arg, int64_t begin, int64_t end)
{
    const wino_job *job = (const wino_job *)arg;
    const wino_pass *p = job->p;
    /* The tap k of lane l is at first[l * step + k * dir]: kernels (o, i) are 9 floats apart
     * forward; rotated, (i, o) are cout * 9 apart and read from their last tap back. */
    const int64_t step = job->rotate ? p->cout * 9 : 9, dir = job->rotate ? -1 : 1;
    for (int64_t o = begin; o < end; o++)
        for (int64_t i0 = 0; i0 < p->cin; i0 += LANES) {
            const float *first = job->rotate ? job->w + (i0 * p->cout + o) * 9 + 8
                                             : job->w + (o * p->cin + i0) * 9;
            int64_t count = p->cin - i0 < LANES ? p->cin - i0 : LANES;
            lanes g[9], t[6 * 3], u[POINTS];
            for (int k = 0; k < 9; k++)
                for (int l = 0; l < LANES; l++)
                    g[k][l] = l < count ? first[l * step + k * dir] : 0.0f;
            for (int s = 0; s < 3; s++)
                weight_1d(&g[s], 3, &t[s], 3);
            for (int r = 0; r < ALPHA; r++)
                weight_1d(&t[r * 3], 1, &u[r * ALPHA], 1);
            for (int xi = 0; xi < POINTS; xi++) {
                float *dst = job->u + (o * POINTS + xi) * p->cin + i0;
                if (count == LANES)
                    for (int l = 0; l < LANES; l++)
                        dst[l] = u[xi][l];
                else
                    for (int64_t l = 0; l < count; l++)
                        dst[l] = u[xi][l];
            }
        }
}

/* The corners of up to LANES consecutive tiles of the batch: image n, output row oh0 and
 * column ow0 of each. */
typedef struct tile_corners {
    int64_t group;            /* the lane group these are for; -1: none yet */
    int64_t count;            /* tiles in the group */
    int64_t n[LANES], oh0[LANES], ow0[LANES];
    int64_t next[3];          /* (n, tile row, tile column) of the tile after the group */
} tile_corners;

/* Fills tc for lane group `group` of the chunk: stepping on from the previous group, else
 * dividing the tile's index. */
static void corners_of(const wino_job *job, int64_t group, tile_corners *tc)
{
    const wino_pass *p = job->p;
    int64_t j0 = group * LANES, t = job->t0 + j0, per_image = p->tiles_h * p->tiles_w;
    int64_t n, th, tw;
    if (tc->group >= 0 && tc->group + 1 == group) {
        n = tc->next[0], th = tc->next[1], tw = tc->next[2];
    } else {
        n = t / per_image, th = t % per_image / p->tiles_w, tw = t % p->tiles_w;
    }
    tc->group = group;
    tc->count = job->nt - j0 < LANES ? job->nt - j0 : LANES;
    for (int64_t l = 0; l < tc->count; l++) {
        tc->n[l] = n;
        tc->oh0[l] = th * TILE;
        tc->ow0[l] = tw * TILE;
        if (++tw == p->tiles_w) {
            tw = 0;
            if (++th == p->tiles_h) {
                th = 0;
                n++;
            }
        }
    }
    tc->next[0] = n, tc->next[1] = th, tc->next[2] = tw;
}

/* V[c][xi][j] = (B^T d B)[xi] for the 6x6 input patch d of the chunk's tile j in plane c (zero
 * outside the input); items [begin, end) of (c, lane group). */
static void transform_input(void *arg, int64_t begin, int64_t end)
{
    const wino_job *job = (const wino_job *)arg;
    const wino_pass *p = job->p;
    tile_corners tc = {.group = -1};
    for (int64_t item = begin; item < end; item++) {
        int64_t c = item / job->groups, j0 = item % job->groups * LANES;
        corners_of(job, item % job->groups, &tc);
        lanes d[POINTS], t[POINTS], v[POINTS];
        for (int l = 0; l < LANES; l++) {
            if (l >= tc.count) {
                for (int k = 0; k < POINTS; k++)
                    d[k][l] = 0.0f;
                continue;
            }
            const float *plane = job->in + (tc.n[l] * p->cin + c) * p->h * p->w;
            int64_t ih0 = tc.oh0[l] - p->pad_h, iw0 = tc.ow0[l] - p->pad_w;
            if (ih0 >= 0 && iw0 >= 0 && ih0 + ALPHA <= p->h && iw0 + ALPHA <= p->w) {
                const float *src = plane + ih0 * p->w + iw0;
                for (int r = 0; r < ALPHA; r++)
                    for (int s = 0; s < ALPHA; s++)
                        d[r * ALPHA + s][l] = src[r * p->w + s];
                continue;
            }
            for (int r = 0; r < ALPHA; r++)
                for (int s = 0; s < ALPHA; s++) {
                    int64_t ih = ih0 + r, iw = iw0 + s;
                    bool inside = ih >= 0 && ih < p->h && iw >= 0 && iw < p->w;
                    d[r * ALPHA + s][l] = inside ? plane[ih * p->w + iw] : 0.0f;
                }
        }
        for (int s = 0; s < ALPHA; s++)
            input_1d(&d[s], ALPHA, &t[s], ALPHA);
        for (int r = 0; r < ALPHA; r++)
            input_1d(&t[r * ALPHA], 1, &v[r * ALPHA], 1);
        for (int xi = 0; xi < POINTS; xi++) {
            float *dst = job->v + (c * POINTS + xi) * job->nt + j0;
            if (tc.count == LANES)
                memcpy(dst, v[xi], sizeof v[xi]);
            else
                for (int64_t l = 0; l < tc.count; l++)
                    dst[l] = v[xi][l];
        }
    }
}

/* M[:, xi, block] = U[:, xi, :] (cout, cin) * V[:, xi, block] (cin, cols); items [begin, end) of
 * (xi, column block), each GEMM single-threaded. */
static void multiply(void *arg, int64_t begin, int64_t end)
{
    const wino_job *job = (const wino_job *)arg;
    const wino_pass *p = job->p;
    for (int64_t item = begin; item < end; item++) {
        int64_t xi = item / job->gemm_jobs, j0 = item % job->gemm_jobs * GEMM_COLS;
        int64_t cols = job->nt - j0 < GEMM_COLS ? job->nt - j0 : GEMM_COLS;
        pdl_cpu_gemm(NULL, false, false, p->cout, cols, p->cin, 1.0f,
                     job->u + xi * p->cin, POINTS * p->cin, job->v + xi * job->nt + j0,
                     POINTS * job->nt, 0.0f, job->m + xi * job->nt + j0, POINTS * job->nt);
    }
}

/* The 4x4 output tiles A^T M A of the chunk, written (plus bias) or added to out, clipped at
 * the bottom and right edges; items [begin, end) of (output plane, lane group). */
static void transform_output(void *arg, int64_t begin, int64_t end)
{
    const wino_job *job = (const wino_job *)arg;
    const wino_pass *p = job->p;
    tile_corners tc = {.group = -1};
    for (int64_t item = begin; item < end; item++) {
        int64_t o = item / job->groups, j0 = item % job->groups * LANES;
        corners_of(job, item % job->groups, &tc);
        lanes m[POINTS], t[TILE * ALPHA], y[TILE * TILE];
        for (int xi = 0; xi < POINTS; xi++) {
            const float *src = job->m + (o * POINTS + xi) * job->nt + j0;
            if (tc.count == LANES) {
                memcpy(m[xi], src, sizeof m[xi]);
            } else {
                for (int l = 0; l < LANES; l++)
                    m[xi][l] = l < tc.count ? src[l] : 0.0f;
            }
        }
        for (int s = 0; s < ALPHA; s++)
            output_1d(&m[s], ALPHA, &t[s], ALPHA);
        for (int r = 0; r < TILE; r++)
            output_1d(&t[r * ALPHA], 1, &y[r * TILE], 1);
        float bias = job->bias ? job->bias[o] : 0.0f;
        for (int64_t l = 0; l < tc.count; l++) {
            float *plane = job->out + (tc.n[l] * p->cout + o) * p->oh * p->ow;
            int64_t oh0 = tc.oh0[l], ow0 = tc.ow0[l];
            int rows = p->oh - oh0 < TILE ? (int)(p->oh - oh0) : TILE;
            int cols = p->ow - ow0 < TILE ? (int)(p->ow - ow0) : TILE;
            for (int r = 0; r < rows; r++) {
                float *dst = plane + (oh0 + r) * p->ow + ow0;
                if (job->accumulate)
                    for (int s = 0; s < cols; s++)
                        dst[s] += y[r * TILE + s][l];
                else
                    for (int s = 0; s < cols; s++)
                        dst[s] = y[r * TILE + s][l] + bias;
            }
        }
    }
}

/* Runs pass p over the batch: weights once, then per chunk the input transform, the 36 GEMMs
 * and the output transform, each spread over the pool. */
static void run_pass(pdl_threadpool *pool, const wino_pass *p, wino_job *job, float *workspace)
{
    job->p = p;
    job->u = workspace;
    job->v = workspace + POINTS * p->cout * p->cin;
    job->m = job->v + POINTS * p->cin * p->chunk;
    pdl_parallel_for(pool, p->cout, 1, transform_weights, job);
    for (job->t0 = 0; job->t0 < p->tiles; job->t0 += p->chunk) {
        job->nt = p->tiles - job->t0 < p->chunk ? p->tiles - job->t0 : p->chunk;
        job->groups = (job->nt + LANES - 1) / LANES;
        job->gemm_jobs = (job->nt + GEMM_COLS - 1) / GEMM_COLS;
        pdl_parallel_for(pool, p->cin * job->groups, 4, transform_input, job);
        pdl_parallel_for(pool, POINTS * job->gemm_jobs, 1, multiply, job);
        pdl_parallel_for(pool, p->cout * job->groups, 4, transform_output, job);
    }
}

void pdl_conv_winograd_forward(pdl_threadpool *pool, const pdl_conv_geom *g, const float *x,
                               const float *w, const float *bias, float *y, float *workspace)
{
    // x is (N, C, H, W), w is (K, C, 3, 3), bias is (K) or NULL, y is (N, K, OH, OW)
    PDL_ASSERT(pdl_conv_winograd_applies(g));
    wino_pass p = forward_pass(g);
    wino_job job = {.in = x, .w = w, .bias = bias, .out = y};
    run_pass(pool, &p, &job, workspace);
}

void pdl_conv_winograd_backward_data(pdl_threadpool *pool, const pdl_conv_geom *g,
                                     const float *dy, const float *w, float *dx, float *workspace)
{
    // dy is (N, K, OH, OW), w is (K, C, 3, 3), dx is (N, C, H, W)
    PDL_ASSERT(pdl_conv_winograd_applies(g));
    wino_pass p = backward_pass(g);
    wino_job job = {.in = dy, .w = w, .rotate = true, .accumulate = true, .out = dx};
    run_pass(pool, &p, &job, workspace);
}
