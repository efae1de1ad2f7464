#!/bin/bash
# `pdl info` from the command line: the table, --json (valid JSON with the model's numbers),
# --compare of the 7x7 lesson, and bad command lines (exit 2, message on stderr, nothing on stdout).
# usage: test_info.sh PDL_BINARY SOURCE_DIR
source "$(dirname "$0")/lib.sh" "$@"

# expect CODE ARGS...: runs pdl info ARGS and checks the exit code
expect() {
    local want=$1
    shift
    expect_exit "$want" "$pdl" info "$@"
}

# the table: every layer, totals, memory
expect 0 "$src/models/fashion_cnn.cfg"
for text in conv1 bn1 fc2 softmax_loss 32x28x28 "421,738" "SGD with momentum" "receptive field"; do
    contains "$tmp/out" "$text"
done
[ "$(grep -c '^ *[0-9]\+  ' "$tmp/out")" -eq 13 ] || fail "the fashion_cnn table lacks 13 rows"

# --json: valid, and the numbers of the model
expect 0 "$src/models/fashion_cnn.cfg" --json --batch 4
python3 -m json.tool "$tmp/out" >/dev/null || fail "--json output is not valid JSON"
python3 - "$tmp/out" <<'PY' || fail "--json content"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["batch"] == 4 and d["params"] == 421738, (d["batch"], d["params"])
assert d["input"] == [1, 28, 28] and d["classes"] == 10
assert len(d["layers"]) == d["layer_count"] == 13
first = d["layers"][0]
assert first["name"] == "conv1" and first["inputs"] == ["data"]
assert first["output"] == [4, 32, 28, 28]
assert sum(l["params"] for l in d["layers"]) == d["params"]
assert sum(l["macs"] for l in d["layers"]) == d["macs"]
assert d["training_bytes"] > d["inference_bytes"] > 0
PY

# a layer name that needs escaping in JSON
printf '[net]\ninput = 1x4x4\nclasses = 16\n[flatten]\nname = a"b\\c\n' >"$tmp/quote.cfg"
expect 0 "$tmp/quote.cfg" --json
python3 - "$tmp/out" 'a"b\c' <<'PY' || fail "--json does not escape names"
import json, sys
assert json.load(open(sys.argv[1]))["layers"][0]["name"] == sys.argv[2]
PY

# --compare: the slide's lesson, 49 C^2 against 27 C^2 for the same 7x7 receptive field
expect 0 --compare "$src/models/lessons/one_7x7.cfg" "$src/models/lessons/three_3x3.cfg"
contains "$tmp/out" "49.00 (C = 64)"
contains "$tmp/out" "27.00 (C = 64)"
grep -q '^receptive field (output) *7x7 *7x7 *1.000$' "$tmp/out" ||
    fail "--compare: the receptive field row"
expect 0 --compare "$src/models/lessons/one_7x7.cfg" "$src/models/lessons/three_3x3.cfg" --json
python3 - "$tmp/out" <<'PY' || fail "--compare --json content"
import json, sys
d = json.load(open(sys.argv[1]))
a, b = d["models"]
assert (a["params"], b["params"]) == (49 * 64 * 64, 27 * 64 * 64)
assert a["rf"] == b["rf"] == [7, 7]
assert abs(d["ratios_b_over_a"]["params"] - 27 / 49) < 1e-6
PY

# --help
expect 0 --help
contains "$tmp/out" "usage: pdl info"

# bad command lines: exit 2, a message on stderr, nothing on stdout
for args in "" "--bogus $src/models/lenet5.cfg" "--batch" "--batch 0 $src/models/lenet5.cfg" \
            "--batch x $src/models/lenet5.cfg" "--compare $src/models/lenet5.cfg" \
            "$src/models/lenet5.cfg $src/models/alexnet.cfg"; do
    # shellcheck disable=SC2086
    expect 2 $args
    [ -s "$tmp/err" ] || fail "pdl info $args: no message on stderr"
    [ -s "$tmp/out" ] && fail "pdl info $args: wrote to stdout"
    contains "$tmp/err" "usage: pdl info"
done

# errors: exit 1 with the library's message
expect 1 "$tmp/no_such_model.cfg"
contains "$tmp/err" "no_such_model.cfg"
printf '[net]\ninput = 1x4x4\nclasses = 2\n[relu]\n[bogus]\n' >"$tmp/bad.cfg"
expect 1 "$tmp/bad.cfg"
contains "$tmp/err" "bad.cfg:5: unknown layer type 'bogus'"

finish
