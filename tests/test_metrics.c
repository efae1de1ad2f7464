/* Tests of pdl_topk_correct: plain cases, the tie rule (lower class index first), NaN scores,
 * labels out of range, and agreement with a stable-sort reference on rows full of ties. */
#include "core/rng.h"
#include "harness.h"
#include "pdl/net.h"

#include <stdlib.h>

static int64_t one(const float *row, int classes, int32_t label, int k)
{
    return pdl_topk_correct(row, &label, 1, classes, k);
}

static void test_plain(void)
{
    const float scores[] = {0.1f, 0.7f, 0.2f, /* row 0: best 1, then 2 */
                            0.6f, 0.3f, 0.1f}; /* row 1: best 0, then 1 */
    const int32_t labels[] = {2, 0};
    CHECK(pdl_topk_correct(scores, labels, 2, 3, 1) == 1);
    CHECK(pdl_topk_correct(scores, labels, 2, 3, 2) == 2);
    const int32_t wrong[] = {0, 2};
    CHECK(pdl_topk_correct(scores, wrong, 2, 3, 2) == 0);
    CHECK(pdl_topk_correct(scores, wrong, 2, 3, 3) == 2);
    CHECK(pdl_topk_correct(scores, wrong, 2, 3, 10) == 2);
}

static void test_ties(void)
{
    const float row[] = {0.5f, 0.5f, 0.1f, 0.5f};
    CHECK(one(row, 4, 0, 1) == 1); /* the lowest index of the tied best wins */
    CHECK(one(row, 4, 1, 1) == 0);
    CHECK(one(row, 4, 1, 2) == 1);
    CHECK(one(row, 4, 3, 2) == 0);
    CHECK(one(row, 4, 3, 3) == 1);
    CHECK(one(row, 4, 2, 3) == 0);
    CHECK(one(row, 4, 2, 4) == 1);
    const float flat[] = {1, 1, 1, 1, 1};
    for (int label = 0; label < 5; label++)
        for (int k = 1; k <= 5; k++)
            CHECK(one(flat, 5, label, k) == (label < k));
}

static void test_nan_and_range(void)
{
    const float row[] = {NAN, 0.1f, 0.2f};
    CHECK(one(row, 3, 0, 3) == 0); /* a NaN score of the label is never correct */
    CHECK(one(row, 3, 1, 1) == 0);
    CHECK(one(row, 3, 1, 2) == 1); /* NaN elsewhere ranks below every number */
    CHECK(one(row, 3, 2, 1) == 1);
    CHECK(one(row, 3, -1, 3) == 0);
    CHECK(one(row, 3, 3, 3) == 0);
}

/* Reference: rank = position of label after a stable sort by descending score. */
static int reference_rank(const float *row, int classes, int label)
{
    int order[16];
    for (int i = 0; i < classes; i++)
        order[i] = i;
    for (int i = 1; i < classes; i++) /* insertion sort is stable */
        for (int j = i; j > 0 && row[order[j]] > row[order[j - 1]]; j--) {
            int t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    for (int i = 0; i < classes; i++)
        if (order[i] == label)
            return i;
    return classes;
}

static void test_against_sort(void)
{
    enum { ROWS = 500, CLASSES = 7 };
    float *scores = malloc(sizeof(float) * ROWS * CLASSES);
    int32_t *labels = malloc(sizeof(int32_t) * ROWS);
    for (int i = 0; i < ROWS * CLASSES; i++)
        scores[i] = (float)pdl_rng_below(3, 1, (uint64_t)i, 3); /* many ties */
    for (int i = 0; i < ROWS; i++)
        labels[i] = (int32_t)pdl_rng_below(3, 2, (uint64_t)i, CLASSES);
    for (int k = 1; k <= CLASSES; k++) {
        int64_t expected = 0;
        for (int i = 0; i < ROWS; i++)
            expected += reference_rank(scores + i * CLASSES, CLASSES, labels[i]) < k;
        CHECK(pdl_topk_correct(scores, labels, ROWS, CLASSES, k) == expected);
    }
    free(scores);
    free(labels);
}

int main(void)
{
    RUN(test_plain);
    RUN(test_ties);
    RUN(test_nan_and_range);
    RUN(test_against_sort);
    return harness_summary();
}
