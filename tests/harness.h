/* A tiny test harness: CHECK macros that report file:line and keep going, RUN to call a test,
 * and a summary line "N passed, N failed" that ctest and CI read. */
#ifndef PDL_TEST_HARNESS_H
#define PDL_TEST_HARNESS_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static int harness_checks_failed;
static int harness_tests_passed;
static int harness_tests_failed;

#define CHECK(cond)                                                                               \
    do {                                                                                          \
        if (!(cond)) {                                                                            \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);              \
            harness_checks_failed++;                                                              \
        }                                                                                         \
    } while (0)

/* |a - b| <= atol + rtol * |b|; NaN never passes. */
#define CHECK_CLOSE(a, b, atol, rtol)                                                             \
    do {                                                                                          \
        double check_a_ = (double)(a), check_b_ = (double)(b);                                    \
        if (!(fabs(check_a_ - check_b_) <= (atol) + (rtol)*fabs(check_b_))) {                   \
            fprintf(stderr, "%s:%d: CHECK_CLOSE failed: %s = %.9g, %s = %.9g\n", __FILE__,       \
                    __LINE__, #a, check_a_, #b, check_b_);                                        \
            harness_checks_failed++;                                                              \
        }                                                                                         \
    } while (0)

/* A pdl call that must succeed; prints pdl_last_error() otherwise. */
#define CHECK_OK(call)                                                                            \
    do {                                                                                          \
        pdl_status check_status_ = (call);                                                        \
        if (check_status_ != PDL_OK) {                                                            \
            fprintf(stderr, "%s:%d: %s failed (%d): %s\n", __FILE__, __LINE__, #call,            \
                    (int)check_status_, pdl_last_error());                                        \
            harness_checks_failed++;                                                              \
        }                                                                                         \
    } while (0)

#define RUN(test)                                                                                 \
    do {                                                                                          \
        int before_ = harness_checks_failed;                                                      \
        test();                                                                                   \
        if (harness_checks_failed == before_) {                                                   \
            harness_tests_passed++;                                                               \
        } else {                                                                                  \
            harness_tests_failed++;                                                               \
            fprintf(stderr, "FAILED: %s\n", #test);                                               \
        }                                                                                         \
    } while (0)

static inline int harness_summary(void)
{
    printf("%d passed, %d failed\n", harness_tests_passed, harness_tests_failed);
    return harness_tests_failed ? 1 : 0;
}

#endif
