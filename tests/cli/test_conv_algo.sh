#!/bin/bash
# The convolution algorithm on the command line: `pdl info` shows each conv layer's choice (table
# and --json), `--conv-algo` forces one where it applies (info, bench), and a bad name is a bad
# command line (exit 2 naming the option) for info, bench and train.
# usage: test_conv_algo.sh PDL_BINARY SOURCE_DIR
source "$(dirname "$0")/lib.sh" "$@"

fashion=$src/models/fashion_cnn.cfg

# auto at batch 64: conv1 (1 input channel) im2col + GEMM, conv2 (32 -> 64, 3x3) Winograd
expect_exit 0 "$pdl" info "$fashion" --batch 64
grep -q '^ *0  conv1 .* gemm ' "$tmp/out" || fail "info: conv1 is not gemm"
grep -q '^ *4  conv2 .* winograd ' "$tmp/out" || fail "info: conv2 is not winograd"
grep -q '^ *1  bn1 .* - ' "$tmp/out" || fail "info: a batchnorm shows an algorithm"

expect_exit 0 "$pdl" info "$fashion" --batch 64 --json
python3 - "$tmp/out" <<'PY' || fail "info --json: algo"
import json, sys
layers = json.load(open(sys.argv[1]))["layers"]
algo = {l["name"]: l["algo"] for l in layers}
assert algo["conv1"] == "gemm" and algo["conv2"] == "winograd", algo
assert all(l["algo"] is None for l in layers if l["type"] != "conv"), algo
PY

# forced: gemm everywhere; direct everywhere (it fits any geometry)
expect_exit 0 "$pdl" info "$fashion" --batch 64 --conv-algo gemm --json
python3 - "$tmp/out" <<'PY' || fail "info --conv-algo gemm"
import json, sys
layers = json.load(open(sys.argv[1]))["layers"]
assert [l["algo"] for l in layers if l["type"] == "conv"] == ["gemm", "gemm"], layers
PY
expect_exit 0 "$pdl" info "$fashion" --conv-algo direct
[ "$(grep -c ' direct ' "$tmp/out")" -eq 2 ] || fail "info --conv-algo direct: two conv layers"

# bench: the forced name in the JSON, each conv layer's algorithm per layer
expect_exit 0 "$pdl" bench "$src/models/lenet5.cfg" --batch 2 --iterations 1 --json \
    --peak-gflops 100 --conv-algo direct
python3 - "$tmp/out" <<'PY' || fail "bench --conv-algo direct --json"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["conv_algo"] == "direct", d["conv_algo"]
convs = [l for l in d["layers"] if l["type"] == "conv"]
assert convs and all(l["algo"] == "direct" for l in convs), convs
assert all(l["algo"] is None for l in d["layers"] if l["type"] != "conv")
PY

# a bad name: exit 2, the option and the known names on stderr, nothing on stdout
for command in "info $fashion" "bench $fashion --no-layers" "train $fashion"; do
    # shellcheck disable=SC2086
    expect_exit 2 "$pdl" $command --conv-algo fft
    contains "$tmp/err" "--conv-algo"
    contains "$tmp/err" "winograd"
    [ -s "$tmp/out" ] && fail "pdl $command --conv-algo fft: wrote to stdout"
done
expect_exit 2 "$pdl" info "$fashion" --conv-algo
contains "$tmp/err" "--conv-algo"

# help texts mention the option
for command in info bench train; do
    expect_exit 0 "$pdl" "$command" --help
    contains "$tmp/out" "--conv-algo"
done

finish
