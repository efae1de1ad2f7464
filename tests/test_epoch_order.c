/* Tests of pdl_epoch_order: a permutation, a function of (seed, epoch) only, different across
 * epochs and seeds, and unbiased (every order of 3 samples about equally often). */
#include "harness.h"
#include "pdl/data.h"

#include <stdlib.h>
#include <string.h>

static bool is_permutation(const int64_t *order, int64_t n)
{
    char *seen = calloc((size_t)n, 1);
    bool ok = true;
    for (int64_t i = 0; i < n && ok; i++) {
        ok = order[i] >= 0 && order[i] < n && !seen[order[i]];
        if (ok)
            seen[order[i]] = 1;
    }
    free(seen);
    return ok;
}

static void test_permutation(void)
{
    const int64_t sizes[] = {1, 2, 7, 1000, 60000};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        int64_t *order = malloc(sizeof(int64_t) * (size_t)sizes[s]);
        for (int64_t epoch = 0; epoch < 3; epoch++) {
            pdl_epoch_order(42, epoch, sizes[s], order);
            CHECK(is_permutation(order, sizes[s]));
        }
        free(order);
    }
}

static void test_determinism(void)
{
    enum { N = 1000 };
    static int64_t a[N], b[N], c[N], d[N];
    pdl_epoch_order(7, 3, N, a);
    pdl_epoch_order(7, 4, N, c); /* other calls in between change nothing */
    pdl_epoch_order(7, 3, N, b);
    CHECK(memcmp(a, b, sizeof a) == 0);
    CHECK(memcmp(a, c, sizeof a) != 0);
    pdl_epoch_order(8, 3, N, d);
    CHECK(memcmp(a, d, sizeof a) != 0);
    int64_t identity = 0;
    for (int64_t i = 0; i < N; i++)
        identity += a[i] == i;
    CHECK(identity < 20); /* a shuffle leaves about one element in place */
}

static void test_unbiased(void)
{
    enum { EPOCHS = 60000 };
    int64_t counts[6] = {0};
    for (int64_t e = 0; e < EPOCHS; e++) {
        int64_t o[3];
        pdl_epoch_order(1, e, 3, o);
        /* index the 6 orders by (first element, whether the rest is ascending) */
        counts[o[0] * 2 + (o[1] < o[2])]++;
    }
    for (int i = 0; i < 6; i++)
        CHECK_CLOSE(counts[i], EPOCHS / 6, 600, 0); /* about 6 standard deviations */
}

int main(void)
{
    RUN(test_permutation);
    RUN(test_determinism);
    RUN(test_unbiased);
    return harness_summary();
}
