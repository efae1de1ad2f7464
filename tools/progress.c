/* Progress bar, ETA and result-table formatting for pdl train (see progress.h). */
#include "progress.h"

#include <math.h>

char *progress_duration(double seconds, char *buf, size_t size)
{
    if (!isfinite(seconds) || seconds < 0) {
        snprintf(buf, size, "?");
        return buf;
    }
    long long s = llround(seconds);
    if (s < 60)
        snprintf(buf, size, "%llds", s);
    else if (s < 3600)
        snprintf(buf, size, "%lldm%02llds", s / 60, s % 60);
    else if (s < 86400)
        snprintf(buf, size, "%lldh%02lldm", s / 3600, s % 3600 / 60);
    else
        snprintf(buf, size, "%lldd%02lldh", s / 86400, s % 86400 / 3600);
    return buf;
}

void progress_line(const pdl_train_progress *p, int bar_width, char *buf, size_t size)
{
    char bar[256] = "";
    if (bar_width > 0) {
        if (bar_width > (int)sizeof bar - 4)
            bar_width = (int)sizeof bar - 4;
        int filled = p->batches ? (int)(p->batch_index * bar_width / p->batches) : 0;
        bar[0] = '[';
        for (int i = 0; i < bar_width; i++)
            bar[1 + i] = i < filled ? '=' : i == filled ? '>' : ' ';
        bar[1 + bar_width] = ']';
        bar[2 + bar_width] = ' ';
        bar[3 + bar_width] = '\0';
    }
    char eta[32];
    snprintf(buf, size, "epoch %lld/%lld %s%lld/%lld loss %.4f lr %.3g %.0f img/s ETA %s",
             (long long)p->epoch + 1, (long long)p->epochs, bar, (long long)p->batch_index,
             (long long)p->batches, (double)p->loss, (double)p->lr, p->images_per_s,
             progress_duration(p->eta_s, eta, sizeof eta));
}

void progress_table_header(FILE *out, int k)
{
    char topk[16];
    snprintf(topk, sizeof topk, "val top-%d", k);
    fprintf(out, "%5s  %10s  %10s  %9s  %9s  %8s  %9s  %5s\n", "epoch", "train loss", "val loss",
            "val top-1", topk, "seconds", "images/s", "data");
}

/* A fraction as "91.23%", or "-" when not measured (NaN). */
static const char *percent(double f, char *buf, size_t size)
{
    if (isnan(f))
        snprintf(buf, size, "-");
    else
        snprintf(buf, size, "%.2f%%", 100 * f);
    return buf;
}

void progress_table_row(FILE *out, const pdl_epoch_result *e)
{
    char val_loss[32], top1[32], topk[32], data[32];
    if (isnan(e->val_loss))
        snprintf(val_loss, sizeof val_loss, "-");
    else
        snprintf(val_loss, sizeof val_loss, "%.4f", (double)e->val_loss);
    fprintf(out, "%5lld  %10.4f  %10s  %9s  %9s  %8.1f  %9.0f  %5s\n", (long long)e->epoch + 1,
            (double)e->train_loss, val_loss, percent(e->val_top1, top1, sizeof top1),
            percent(e->val_topk, topk, sizeof topk), e->seconds, e->images_per_s,
            percent(e->data_share, data, sizeof data));
}
