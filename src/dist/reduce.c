/* Tree and ring allreduce over pdl_transport's exchange, and the tree broadcast. The orders of
 * addition (a + b == b + a in IEEE arithmetic, so only the grouping matters):
 *   tree: at stride s = 1, 2, 4, ... rank r with r % 2s == 0 adds rank r + s's partial sum to
 *         its own, so with 5 ranks the sum is ((g0 + g1) + (g2 + g3)) + g4; rank 0 then sends
 *         the total back down the same tree;
 *   ring: the buffer is cut into N chunks (chunk c is [c*n/N, (c+1)*n/N), some empty when
 *         n < N); chunk c is summed along the ring starting at rank c:
 *         ((g_c + g_c+1) + g_c+2) + ... + g_c-1 (indices mod N), then passed around whole.
 * Owns no transport (transport_*.c) and no buckets (workers.c). */
#include "dist/reduce.h"

#include "core/error.h"

static pdl_status tree_up(pdl_transport *t, int self, float *buf, int64_t n)
{
    const int size = t->size;
    const size_t bytes = (size_t)n * sizeof(float);
    for (int s = 1; s < size; s *= 2) {
        if (self % (2 * s) == s)
            return t->ops->exchange(t, self, self - s, buf, bytes, -1, NULL, 0, false);
        if (self + s < size) {
            pdl_status status = t->ops->exchange(t, self, -1, NULL, 0, self + s, buf, bytes, true);
            if (status != PDL_OK)
                return status;
        }
    }
    return PDL_OK;
}

pdl_status pdl_reduce_broadcast(pdl_transport *t, int self, void *buf, size_t bytes)
{
    const int size = t->size;
    int top = 1;
    while (top * 2 < size)
        top *= 2;
    for (int s = top; s >= 1 && size > 1; s /= 2) {
        pdl_status status = PDL_OK;
        if (self % (2 * s) == 0 && self + s < size)
            status = t->ops->exchange(t, self, self + s, buf, bytes, -1, NULL, 0, false);
        else if (self % (2 * s) == s)
            status = t->ops->exchange(t, self, -1, NULL, 0, self - s, buf, bytes, false);
        if (status != PDL_OK)
            return status;
    }
    return PDL_OK;
}

/* Chunk c of N over n floats: [*begin, *end). */
static void chunk(int64_t n, int chunks, int c, int64_t *begin, int64_t *end)
{
    *begin = n * c / chunks;
    *end = n * (c + 1) / chunks;
}

static pdl_status ring(pdl_transport *t, int self, float *buf, int64_t n)
{
    const int size = t->size;
    const int next = (self + 1) % size, prev = (self + size - 1) % size;
    /* Reduce-scatter: at step s, send chunk self - s, add chunk self - s - 1 from prev; after
     * size - 1 steps this rank holds the whole sum of chunk self + 1. All-gather: at step s,
     * send chunk self + 1 - s, copy chunk self - s from prev. */
    for (int s = 0; s < 2 * (size - 1); s++) {
        bool gather = s >= size - 1;
        int first = gather ? self + 1 - (s - (size - 1)) : self - s;
        int send_c = (first % size + size) % size, recv_c = (send_c + size - 1) % size;
        int64_t sb, se, rb, re;
        chunk(n, size, send_c, &sb, &se);
        chunk(n, size, recv_c, &rb, &re);
        pdl_status status =
            t->ops->exchange(t, self, next, buf + sb, (size_t)(se - sb) * sizeof(float), prev,
                             buf + rb, (size_t)(re - rb) * sizeof(float), !gather);
        if (status != PDL_OK)
            return status;
    }
    return PDL_OK;
}

pdl_status pdl_reduce_sum(pdl_transport *t, int self, pdl_reduce_algo algo, float *buf, int64_t n)
{
    if (t->size == 1 || n == 0)
        return PDL_OK;
    switch (algo) {
    case PDL_REDUCE_TREE: {
        pdl_status status = tree_up(t, self, buf, n);
        return status != PDL_OK ? status
                                : pdl_reduce_broadcast(t, self, buf, (size_t)n * sizeof(float));
    }
    case PDL_REDUCE_MPI:
        if (!t->ops->allreduce)
            return pdl_error(PDL_ERR_UNSUPPORTED, "reduce 'mpi' needs MPI ranks; workers in "
                                                  "one process use 'tree' or 'ring'");
        return t->ops->allreduce(t, self, buf, n);
    case PDL_REDUCE_DEFAULT:
    case PDL_REDUCE_RING:
        return ring(t, self, buf, n);
    }
    return pdl_error(PDL_ERR_INVALID, "reduce: unknown algorithm %d", (int)algo);
}
