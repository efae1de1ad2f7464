/* Measuring speed: the machine's physical limits (FP32 FMA peak, memory bandwidth), per-layer
 * forward/backward times of a net, and the small timing helpers `pdl bench` builds on.
 * Owns measurement only; what to run and how to print it is the caller's (tools/cmd_bench.c). */
#ifndef PDL_BENCH_H
#define PDL_BENCH_H

#include "pdl/net.h"
#include "pdl/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Seconds on CLOCK_MONOTONIC (an arbitrary origin: only differences mean something). */
double pdl_seconds(void);

typedef struct pdl_timing_stats {
    double median, min, max; /* of the values given, in their unit */
} pdl_timing_stats;
/* Median (the mean of the two middle values when n is even), minimum and maximum of
 * values (n >= 1); sorts values in place. */
pdl_timing_stats pdl_timing_stats_of(double *values, int n);

/* The number of threads the net computes with (its thread pool: PDL_NUM_THREADS when set at
 * load, else all online cores). */
int pdl_net_threads(const pdl_net *net);

/* One layer's share of a training step, from pdl_net_time_layers. */
typedef struct pdl_layer_timing {
    double forward_ms;    /* median over the iterations of the training forward */
    double backward_ms;   /* median of the backward; 0 when has_backward is false */
    bool has_backward;    /* false: the net skips this layer's backward (no trainable
                           * parameter and no input that needs a gradient) */
    int64_t macs;         /* multiply-adds of the forward (as pdl_net_layer_info reports) */
    int64_t backward_macs;/* of the backward: macs once for the weight gradient (when the
                           * layer has trainable parameters) and once for the input gradient
                           * (when an input needs one); a convention for GFLOP/s */
} pdl_layer_timing;

/* Times each layer of net at its current batch: one warm-up training step (zero input, every
 * label 0), then iterations passes that call every layer's forward in order (training mode)
 * and then every backward in reverse order, exactly as pdl_net_forward/pdl_net_backward do,
 * with a CLOCK_MONOTONIC timer around each call. out has pdl_net_layer_count(net) entries.
 * The net needs a loss layer. For benchmarking: it overwrites the net's input, accumulates
 * into the parameter gradients and updates batch-norm running statistics; the parameters
 * themselves are unchanged. Allocates the input batch and the timing table (freed on return). */
pdl_status pdl_net_time_layers(pdl_net *net, int iterations, pdl_layer_timing *out);

/* The machine's limits, the 100% line of `pdl bench`. */
typedef struct pdl_machine_peak_result {
    const char *isa;          /* FMA loop used: "avx512f", "avx2+fma" or "c" (portable, no
                               * FMA instruction: far below the hardware's peak) */
    int threads;              /* of the all-threads figures: PDL_NUM_THREADS, else all cores */
    double gflops_1thread;    /* FP32 GFLOP/s of one thread (an FMA counts as 2 FLOPs) */
    double gflops_all;        /* with `threads` threads */
    double bandwidth_gbs;     /* memory bandwidth, GB/s (1e9 bytes), of a STREAM-style triad
                               * a = b + s * c over 3 x 85 MiB with `threads` threads, counting
                               * 12 bytes per element (write-allocate traffic not counted) */
    double seconds;           /* how long the measurement took */
} pdl_machine_peak_result;

/* Measures the FP32 FMA peak with a register-resident loop of independent FMAs (the best ISA
 * this CPU supports, chosen at run time), on one thread and on all, and the triad bandwidth;
 * best of a few short runs each, about a second in all. Allocates ~256 MB for the triad
 * (freed on return). */
pdl_status pdl_machine_peak(pdl_machine_peak_result *out);

#ifdef __cplusplus
}
#endif
#endif
