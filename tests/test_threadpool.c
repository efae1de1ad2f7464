/* Tests of the thread pool: every index of [0, n) is visited exactly once, ranges are contiguous
 * and at most `threads`, each range runs on its own thread, and a pool survives many rounds. */
#include "core/threadpool.h"
#include "harness.h"

#include <pthread.h>
#include <stdint.h>
#include <string.h>

enum { RANGES_MAX = 64 };

typedef struct visit_log {
    int *hits;                    /* (n) */
    pthread_mutex_t lock;
    int ranges;
    int64_t begin[RANGES_MAX], end[RANGES_MAX];
    pthread_t thread[RANGES_MAX];
} visit_log;

static void visit(void *arg, int64_t begin, int64_t end)
{
    visit_log *log = (visit_log *)arg;
    for (int64_t i = begin; i < end; i++)
        log->hits[i]++;
    pthread_mutex_lock(&log->lock);
    if (log->ranges < RANGES_MAX) {
        log->begin[log->ranges] = begin;
        log->end[log->ranges] = end;
        log->thread[log->ranges] = pthread_self();
    }
    log->ranges++;
    pthread_mutex_unlock(&log->lock);
}

/* Runs one parallel_for and checks coverage, contiguity, the range count and distinct threads. */
static void check_cover(pdl_threadpool *pool, int64_t n, int64_t grain)
{
    visit_log log;
    memset(&log, 0, sizeof log);
    pthread_mutex_init(&log.lock, NULL);
    log.hits = calloc((size_t)(n > 0 ? n : 1), sizeof(int));
    pdl_parallel_for(pool, n, grain, visit, &log);
    int bad = 0;
    for (int64_t i = 0; i < n; i++)
        bad += log.hits[i] != 1;
    CHECK(bad == 0);
    int64_t g = grain < 1 ? 1 : grain;
    int64_t most = n <= 0 ? 0 : (n + g - 1) / g;
    int threads = pdl_threadpool_threads(pool);
    if (most > threads)
        most = threads;
    CHECK(log.ranges <= most);
    CHECK(n <= 0 || log.ranges >= 1);
    int64_t covered = 0;
    for (int r = 0; r < log.ranges && r < RANGES_MAX; r++) {
        CHECK(log.begin[r] < log.end[r]);
        covered += log.end[r] - log.begin[r];
        for (int q = 0; q < r; q++)
            CHECK(!pthread_equal(log.thread[q], log.thread[r]));
    }
    CHECK(covered == (n > 0 ? n : 0));
    free(log.hits);
    pthread_mutex_destroy(&log.lock);
}

static void test_null_pool_runs_inline(void)
{
    visit_log log;
    memset(&log, 0, sizeof log);
    pthread_mutex_init(&log.lock, NULL);
    log.hits = calloc(10, sizeof(int));
    pdl_parallel_for(NULL, 10, 1, visit, &log);
    CHECK(log.ranges == 1);
    CHECK(log.begin[0] == 0 && log.end[0] == 10);
    CHECK(pthread_equal(log.thread[0], pthread_self()));
    CHECK(pdl_threadpool_threads(NULL) == 1);
    free(log.hits);
    pthread_mutex_destroy(&log.lock);
}

static void test_cover_sizes(void)
{
    const int64_t sizes[] = {0, 1, 2, 3, 5, 7, 64, 100, 1001};
    const int64_t grains[] = {1, 3, 50, 2000};
    for (int threads = 1; threads <= 4; threads++) {
        pdl_threadpool *pool = NULL;
        CHECK_OK(pdl_threadpool_create(threads, &pool));
        if (!pool)
            continue;
        CHECK(pdl_threadpool_threads(pool) == threads);
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
            for (size_t g = 0; g < sizeof grains / sizeof grains[0]; g++)
                check_cover(pool, sizes[s], grains[g]);
        pdl_threadpool_free(pool);
    }
}

/* All threads take part when there is enough work: 4 ranges of 1000 on a 4-thread pool. */
static void test_all_threads_used(void)
{
    pdl_threadpool *pool = NULL;
    CHECK_OK(pdl_threadpool_create(4, &pool));
    visit_log log;
    memset(&log, 0, sizeof log);
    pthread_mutex_init(&log.lock, NULL);
    log.hits = calloc(4000, sizeof(int));
    pdl_parallel_for(pool, 4000, 1, visit, &log);
    CHECK(log.ranges == 4);
    for (int r = 0; r < log.ranges; r++)
        CHECK(log.end[r] - log.begin[r] == 1000);
    free(log.hits);
    pthread_mutex_destroy(&log.lock);
    pdl_threadpool_free(pool);
}

typedef struct sum_job {
    const int64_t *values;
    int64_t partial[8]; /* one slot per range, indexed by begin / (n / ranges) */
    int64_t n, ranges;
} sum_job;

static void sum_range(void *arg, int64_t begin, int64_t end)
{
    sum_job *job = (sum_job *)arg;
    int64_t slot = begin * job->ranges / job->n;
    int64_t sum = 0;
    for (int64_t i = begin; i < end; i++)
        sum += job->values[i];
    job->partial[slot] = sum;
}

/* Many rounds in a row on one pool: the generation handshake never loses or repeats a range. */
static void test_many_rounds(void)
{
    pdl_threadpool *pool = NULL;
    CHECK_OK(pdl_threadpool_create(3, &pool));
    enum { N = 999 };
    int64_t values[N];
    int64_t expected = 0;
    for (int64_t i = 0; i < N; i++) {
        values[i] = i * i % 101;
        expected += values[i];
    }
    int wrong = 0;
    for (int round = 0; round < 3000; round++) {
        sum_job job = {.values = values, .n = N, .ranges = 3};
        pdl_parallel_for(pool, N, 1, sum_range, &job);
        int64_t total = job.partial[0] + job.partial[1] + job.partial[2];
        wrong += total != expected;
    }
    CHECK(wrong == 0);
    pdl_threadpool_free(pool);
}

static void test_env_and_free(void)
{
    setenv("PDL_NUM_THREADS", "3", 1);
    pdl_threadpool *pool = NULL;
    CHECK_OK(pdl_threadpool_create(0, &pool));
    CHECK(pdl_threadpool_threads(pool) == 3);
    pdl_threadpool_free(pool);
    unsetenv("PDL_NUM_THREADS");
    CHECK_OK(pdl_threadpool_create(-1, &pool));
    CHECK(pdl_threadpool_threads(pool) >= 1);
    pdl_threadpool_free(pool);
    pdl_threadpool_free(NULL);
    pool = NULL;
    CHECK(pdl_threadpool_create(100000, &pool) == PDL_ERR_INVALID);
    CHECK(pool == NULL);
    CHECK(strstr(pdl_last_error(), "thread") != NULL);
}

int main(void)
{
    RUN(test_null_pool_runs_inline);
    RUN(test_cover_sizes);
    RUN(test_all_threads_used);
    RUN(test_many_rounds);
    RUN(test_env_and_free);
    return harness_summary();
}
