/* Reducers over a transport: the sum of a float buffer over all ranks, left in every rank's
 * buffer (tree, ring, or the MPI library's allreduce), and a broadcast from rank 0. Tree and
 * ring add in an order fixed by the algorithm alone (docs/distributed.md spells it out), so
 * the result is the same bits whatever the timing, and the same bits on every rank. Knows
 * nothing of nets or buckets (workers.c). Internal to libpdl. */
#ifndef PDL_DIST_REDUCE_H
#define PDL_DIST_REDUCE_H

#include "dist/transport.h"

/* Replaces buf (n) on every rank by the sum over the ranks; every rank calls it with the same
 * n and algo (PDL_REDUCE_MPI needs a transport with an allreduce: PDL_ERR_UNSUPPORTED
 * otherwise; PDL_REDUCE_DEFAULT means ring). self is the caller's rank. */
pdl_status pdl_reduce_sum(pdl_transport *t, int self, pdl_reduce_algo algo, float *buf, int64_t n);
/* Copies rank 0's bytes of buf to every other rank, down the tree of PDL_REDUCE_TREE. */
pdl_status pdl_reduce_broadcast(pdl_transport *t, int self, void *buf, size_t bytes);

#endif
