#!/bin/bash
# `pdl bench` from the command line: --json on LeNet-5 (valid JSON, one line, the documented
# fields, one layer entry per layer), the text report, --peak, and bad command lines (exit 2,
# usage on stderr, nothing on stdout). Small batches and 2 iterations: seconds, no timing checks.
# usage: test_bench.sh PDL_BINARY SOURCE_DIR
source "$(dirname "$0")/lib.sh" "$@"
export PDL_NUM_THREADS=2

# expect CODE ARGS...: runs pdl bench ARGS and checks the exit code
expect() {
    local want=$1
    shift
    expect_exit "$want" "$pdl" bench "$@"
}

lenet=$src/models/lenet5.cfg

# --json: one valid object on one line, with the schema of docs/benchmarks.md
expect 0 "$lenet" --batch 2 --iterations 2 --json --peak-gflops 100
python3 -m json.tool "$tmp/out" >/dev/null || fail "--json output is not valid JSON"
[ "$(wc -l <"$tmp/out")" -eq 1 ] || fail "--json is not one line per model"
python3 - "$tmp/out" <<'PY' || fail "--json content"
import json, math, sys
d = json.load(open(sys.argv[1]))
assert d["model"] == "lenet5" and d["batch"] == 2 and d["iterations"] == 2, d
assert d["threads"] == 2, d["threads"]
for key in ("train_ms", "forward_ms", "backward_ms", "update_ms", "infer_ms"):
    s = d[key]
    assert 0 < s["min"] <= s["median"] <= s["max"], (key, s)
assert d["train_images_per_s"] > 0 and d["infer_images_per_s"] > 0
assert d["peak_gflops"] == 100
assert d["peak_rss_bytes"] > 0 and d["predicted_training_bytes"] > 0
layers = d["layers"]
names = [l["name"] for l in layers]
assert names[0] == "conv1" and names[-1] == "loss" and len(layers) == 12, names
assert sum(l["macs"] for l in layers) == d["macs"]
for l in layers:
    assert l["forward_ms"] > 0 and l["backward_ms"] > 0, l
    if l["macs"]:
        assert l["forward_gflops"] > 0 and l["forward_peak_percent"] > 0, l
PY

# --no-layers: no per-layer pass, no peak measured
expect 0 "$lenet" --batch 2 --iterations 2 --json --no-layers
python3 - "$tmp/out" <<'PY' || fail "--json --no-layers content"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["layers"] is None and d["peak_gflops"] is None, d
PY

# the text report (the peak measured: about a second)
expect 0 "$lenet" --batch 2 --iterations 2 --threads 1
for text in "batch 2, 1 thread," "inference forward" "images/s" "peak RSS" "predicted training" \
            "per layer" conv1 fc3 "FMA loop"; do
    contains "$tmp/out" "$text"
done

# --peak alone, as text and JSON
expect 0 --peak
contains "$tmp/out" "FP32 FMA peak"
contains "$tmp/out" "GB/s"
expect 0 --peak --json
python3 - "$tmp/out" <<'PY' || fail "--peak --json content"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["isa"] in ("avx512f", "avx2+fma", "c") and d["threads"] == 2, d
assert d["gflops_1thread"] > 0 and d["gflops_all"] > 0 and d["bandwidth_gbs"] > 0, d
PY

# --help
expect 0 --help
contains "$tmp/out" "usage: pdl bench"

# bad command lines: exit 2, a message and the usage on stderr, nothing on stdout
for args in "" "--bogus $lenet" "--batch" "--batch 0 $lenet" "--iterations x $lenet" \
            "--threads 0 $lenet" "$lenet $lenet" "--peak $lenet" "--suite imagenet" \
            "--suite convnet --batch 4" "--batch-scale 0.5 $lenet" "--peak-gflops -1 $lenet" \
            "--suite convnet --batch-scale 0"; do
    # shellcheck disable=SC2086
    expect 2 $args
    [ -s "$tmp/err" ] || fail "pdl bench $args: no message on stderr"
    [ -s "$tmp/out" ] && fail "pdl bench $args: wrote to stdout"
    contains "$tmp/err" "usage: pdl bench"
done

# errors: exit 1 with the library's message
expect 1 "$tmp/no_such_model.cfg" --no-layers
contains "$tmp/err" "no_such_model.cfg"
printf '[net]\ninput = 1x4x4\nclasses = 16\n[flatten]\n' >"$tmp/noloss.cfg"
expect 1 "$tmp/noloss.cfg" --no-layers --batch 1 --iterations 1
contains "$tmp/err" "loss layer"

finish
