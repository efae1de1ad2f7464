/* A persistent pool of worker threads for intra-op parallelism. Work is split into index
 * ranges; callers keep results independent of the thread count by never splitting a reduction
 * across ranges (each output element is summed by exactly one range, in a fixed order). */
#ifndef PDL_CORE_THREADPOOL_H
#define PDL_CORE_THREADPOOL_H

#include "pdl/status.h"
#include <stdint.h>

typedef struct pdl_threadpool pdl_threadpool;

/* threads <= 0: PDL_NUM_THREADS from the environment, else the number of online cores. */
pdl_status pdl_threadpool_create(int threads, pdl_threadpool **out);
void pdl_threadpool_free(pdl_threadpool *pool);
int pdl_threadpool_threads(const pdl_threadpool *pool);

/* Calls fn(arg, begin, end) over disjoint ranges covering [0, n), in parallel, and returns when
 * all are done. grain is the smallest range worth a thread. A NULL pool runs fn(arg, 0, n)
 * inline. Not reentrant: fn must not call pdl_parallel_for on the same pool. */
typedef void (*pdl_range_fn)(void *arg, int64_t begin, int64_t end);
void pdl_parallel_for(pdl_threadpool *pool, int64_t n, int64_t grain, pdl_range_fn fn, void *arg);

#endif
