/* Global-norm gradient clipping over the flat gradient buffer, as
 * torch.nn.utils.clip_grad_norm_ (norm_type 2): scale = max_norm / (norm + 1e-6), applied when
 * below 1. Owns nothing; the optimizers live in optimizer.c. */
#include "pdl/optim.h"

#include "core/error.h"

#include <math.h>

float pdl_clip_grad_norm(float *grads, int64_t n, float max_norm)
{
    PDL_ASSERT(n == 0 || grads);
    /* Four partial sums in a fixed order: fast and still the same bits on every run. */
    double part[4] = {0.0, 0.0, 0.0, 0.0};
    int64_t i = 0;
    for (; i + 4 <= n; i += 4)
        for (int j = 0; j < 4; j++)
            part[j] += (double)grads[i + j] * (double)grads[i + j];
    for (; i < n; i++)
        part[0] += (double)grads[i] * (double)grads[i];
    const double norm = sqrt((part[0] + part[1]) + (part[2] + part[3]));
    /* A non-finite norm is returned unscaled: the caller decides (skip the step, stop). */
    if (max_norm > 0.0f && isfinite(norm)) {
        const double coef = (double)max_norm / (norm + 1e-6);
        if (coef < 1.0) {
            const float scale = (float)coef;
            for (i = 0; i < n; i++)
                grads[i] *= scale;
        }
    }
    return (float)norm;
}
