/* Accuracy metrics over score rows: top-k with a precise tie rule. Owns no loop over data
 * (evaluate.c) and no printing. */
#include "pdl/net.h"

#include <math.h>

/* Rank of the label in one row, as a stable sort by descending score would place it: the classes
 * with a strictly higher score, plus the classes of equal score and lower index. NaN scores rank
 * below every number; a NaN score of the label itself is never counted correct. */
static bool label_in_topk(const float *row, int classes, int32_t label, int k)
{
    if (label < 0 || label >= classes || isnan(row[label]))
        return false;
    float s = row[label];
    int rank = 0;
    for (int c = 0; c < classes && rank < k; c++)
        if (row[c] > s || (row[c] == s && c < label))
            rank++;
    return rank < k;
}

int64_t pdl_topk_correct(const float *scores, const int32_t *labels, int64_t n, int classes, int k)
{
    int64_t correct = 0;
    for (int64_t i = 0; i < n; i++)
        correct += label_in_topk(scores + i * classes, classes, labels[i], k);
    return correct;
}
