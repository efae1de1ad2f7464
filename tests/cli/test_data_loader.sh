#!/bin/bash
# Command-line tests of pdl train / test / classify / bench on a dataset folder (made here with
# `pdl dataset import-idx` from tiny IDX files): training with the default crop (the model's
# input, smaller than the records) and --set data.* overrides, the fallback to test_db for
# validation, test splits, classify by record index, bench --data; bad overrides (exit 2) and a
# model the records cannot feed (exit 1 naming the database).
# Usage: test_data_loader.sh PDL_BINARY SOURCE_DIR
source "$(dirname "$0")/lib.sh" "$@"
work=$tmp

mkdir -p "$work/idx"
python3 - "$work/idx" <<'EOF' || fail "making the IDX files"
import random, struct, sys
out = sys.argv[1]
rng = random.Random(5)
def image(label):  # 8x8: noise with a bright bar in rows 2c+1, 2c+2
    return bytes(250 if 2 * label + 1 <= i // 8 <= 2 * label + 2 else rng.randrange(80)
                 for i in range(64))
for split, n in (('train', 48), ('t10k', 12)):
    labels = [i % 3 for i in range(n)]
    with open(f'{out}/{split}-images-idx3-ubyte', 'wb') as f:
        f.write(struct.pack('>IIII', 0x803, n, 8, 8) + b''.join(image(c) for c in labels))
    with open(f'{out}/{split}-labels-idx1-ubyte', 'wb') as f:
        f.write(struct.pack('>II', 0x801, n) + bytes(labels))
EOF
data="$work/dataset"
expect 0 "" "$pdl" dataset import-idx "$work/idx" "$data" --quiet
[ -d "$data/train_db" ] && [ -d "$data/test_db" ] || fail "import-idx did not make train_db and test_db"

tiny_model "$work/crop6.cfg" 6 batch=8 epochs=2 lr=0.05 topk=2
tiny_model "$work/big9.cfg" 9 batch=8 epochs=2 lr=0.05 topk=2

out="$work/run"
expect 0 "" "$pdl" train "$work/crop6.cfg" --data "$data" --out "$out" --set data.mirror=1 \
    --set data.mean=pixel --data-threads 2
for f in weights.safetensors state.pdlstate log.csv; do
    [ -s "$out/$f" ] || fail "train on a dataset did not write $f"
done
grep -q "test_db" "$work/err" || fail "validation did not fall back to test_db: $(cat "$work/err")"
[ "$(grep -c '^[0-9]' "$out/log.csv")" -eq 2 ] || fail "log.csv rows: $(cat "$out/log.csv")"

# bad [data] overrides are bad command lines; a crop larger than the records is bad data
expect 2 "[data] key 'crop'" "$pdl" train "$work/crop6.cfg" --data "$data" --out "$out" \
    --set data.crop=big
expect 2 "unknown key" "$pdl" train "$work/crop6.cfg" --data "$data" --out "$out" \
    --set data.cropp=5
expect 2 "--data-threads" "$pdl" train "$work/crop6.cfg" --data "$data" --out "$out" \
    --data-threads many
expect 1 "train_db" "$pdl" train "$work/big9.cfg" --data "$data" --out "$work/big" --quiet
contains "$work/err" "smaller"
expect 1 "$work/nowhere" "$pdl" train "$work/crop6.cfg" --data "$work/nowhere" --out "$work/x"

# pdl test: the test split by default, others by --split
expect 0 "" "$pdl" test "$out/weights.safetensors" --data "$data" --json
contains "$work/out" "test_db"
contains "$work/out" '"images": 12'
expect 0 "" "$pdl" test "$out/weights.safetensors" --data "$data" --split train --json
contains "$work/out" '"images": 48'
expect 1 "val" "$pdl" test "$out/weights.safetensors" --data "$data" --split val
expect 2 "--split" "$pdl" test "$out/weights.safetensors" --data "$data" --split nope

# pdl classify: records by index, with their labels
expect 0 "" "$pdl" classify "$out/weights.safetensors" --images "$data" --index 0,3 --json
contains "$work/out" '"label": '
expect 1 "outside" "$pdl" classify "$out/weights.safetensors" --images "$data" --index 12
expect 2 "--split" "$pdl" classify "$out/weights.safetensors" --images "$data" --split x \
    --index 0

# pdl bench --data: the loader's speed beside the training step's
expect 0 "" "$pdl" bench "$work/crop6.cfg" --batch 8 --iterations 1 --no-layers --json \
    --data "$data" --data-threads 1
contains "$work/out" '"images_per_s"'
expect 2 "--data" "$pdl" bench --peak --data "$data"

# a [data] section in the model file is read: it trains, and a misspelt key names file:line
{ cat "$work/crop6.cfg"; printf '\n[data]\nmirror = 1\nmean = pixel\n'; } >"$work/with_data.cfg"
expect 0 "" "$pdl" train "$work/with_data.cfg" --data "$data" --out "$work/run_data" --max-steps 2
sed 's/^mirror = 1/mirrror = 1/' "$work/with_data.cfg" >"$work/bad_data.cfg"
expect 1 "bad_data.cfg:" "$pdl" train "$work/bad_data.cfg" --data "$data" --out "$work/run_bad"
contains "$tmp/err" "'mirrror': unknown key"

finish
