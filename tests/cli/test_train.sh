#!/bin/bash
# Command-line tests of pdl train / test / classify on tiny IDX files made here: a short run,
# resume, Ctrl-C, JSON output, PGM input, bad command lines (exit 2), missing or broken files
# (exit 1 naming the file). Usage: test_train.sh PDL_BINARY SOURCE_DIR
source "$(dirname "$0")/lib.sh" "$@"
work=$tmp

mkdir -p "$work/data"
python3 - "$work" <<'EOF' || fail "making the fixtures"
import gzip, random, struct, sys
work = sys.argv[1]
rng = random.Random(3)
def image(label):  # 8x8: noise with a bright bar in rows 2c+1, 2c+2
    return bytes(250 if 2 * label + 1 <= i // 8 <= 2 * label + 2 else rng.randrange(80)
                 for i in range(64))
def write(path, data, gz):
    with (gzip.open if gz else open)(path, 'wb') as f:
        f.write(data)
for split, n, gz in (('train', 48, True), ('t10k', 18, False)):
    labels = [i % 3 for i in range(n)]
    suffix = '.gz' if gz else ''
    write(f'{work}/data/{split}-images-idx3-ubyte{suffix}',
          struct.pack('>IIII', 0x803, n, 8, 8) + b''.join(image(c) for c in labels), gz)
    write(f'{work}/data/{split}-labels-idx1-ubyte{suffix}',
          struct.pack('>II', 0x801, n) + bytes(labels), gz)
write(f'{work}/bar.pgm', b'P5\n# a comment\n8 8\n255\n' + image(2), False)
write(f'{work}/wide.pgm', b'P5 9 8 255\n' + bytes(72), False)
write(f'{work}/short.pgm', b'P5 8 8 255\n' + bytes(60), False)
EOF

tiny_model "$work/tiny.cfg" 8 batch=8 epochs=2 lr=0.05 momentum=0.9 topk=2

out="$work/run"
data="$work/data"
expect 0 "" "$pdl" train "$work/tiny.cfg" --data "$data" --out "$out" --max-steps 3 --quiet
for f in weights.safetensors state.pdlstate log.csv; do
    [ -s "$out/$f" ] || fail "train did not write $f"
done
head -1 "$out/log.csv" | grep -q '^epoch,train_loss,val_loss,val_top1,val_topk,seconds,images_per_s$' ||
    fail "log.csv header: $(head -1 "$out/log.csv")"
expect 0 "" "$pdl" train "$work/tiny.cfg" --data "$data" --out "$out" --resume --set lr=0.05
grep -q "train loss" "$work/out" || fail "no result table on stdout: $(cat "$work/out")"
[ "$(grep -c '^[0-9]' "$out/log.csv")" -ge 2 ] || fail "log.csv rows: $(cat "$out/log.csv")"

# pdl test: JSON and text
expect 0 "" "$pdl" test "$out/weights.safetensors" --data "$data" --json
python3 - "$work/out" <<'EOF' || fail "pdl test --json: $(cat "$work/out")"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["images"] == 18 and r["k"] == 2, r
assert 0 <= r["top1"] <= r["topk"] <= 1
assert len(r["classes"]) == 3 and sum(c["images"] for c in r["classes"]) == 18
assert sum(map(sum, r["confusion"])) == 18
EOF
expect 0 "" "$pdl" test "$out/weights.safetensors" "$work/tiny.cfg" --images "$data/t10k-images-idx3-ubyte" --labels "$data/t10k-labels-idx1-ubyte" --topk 1
grep -q "top-1" "$work/out" && grep -q "confusion" "$work/out" || fail "pdl test text: $(cat "$work/out")"

# pdl classify: IDX by index, PGM files
expect 0 "" "$pdl" classify "$out/weights.safetensors" --images "$data/t10k-images-idx3-ubyte" --labels "$data/t10k-labels-idx1-ubyte" --index 0,4 --topk 2 --json
python3 - "$work/out" <<'EOF' || fail "pdl classify --json: $(cat "$work/out")"
import json, sys
r = json.load(open(sys.argv[1]))
assert len(r) == 2 and r[1]["label"] == 1 and len(r[0]["top"]) == 2
p = [t["probability"] for t in r[0]["top"]]
assert p[0] >= p[1] and 0 <= sum(p) <= 1 + 1e-6
EOF
expect 0 "" "$pdl" classify "$out/weights.safetensors" "$work/bar.pgm"
grep -q "%" "$work/out" || fail "pdl classify text: $(cat "$work/out")"
expect 1 "wide.pgm" "$pdl" classify "$out/weights.safetensors" "$work/wide.pgm"
expect 1 "short.pgm" "$pdl" classify "$out/weights.safetensors" "$work/short.pgm"
expect 1 "index 99" "$pdl" classify "$out/weights.safetensors" --images "$data/t10k-images-idx3-ubyte" --index 99

# Bad command lines: exit 2
expect 2 "" "$pdl" train
expect 2 "--epochs" "$pdl" train "$work/tiny.cfg" --epochs abc
expect 2 "--bogus" "$pdl" train "$work/tiny.cfg" --bogus
expect 2 "key=value" "$pdl" train "$work/tiny.cfg" --set lr
expect 2 "no_such_key" "$pdl" train "$work/tiny.cfg" --set no_such_key=1
expect 2 "" "$pdl" train "$work/tiny.cfg" --train-images "$data/t10k-images-idx3-ubyte"
expect 2 "" "$pdl" test
expect 2 "--topk" "$pdl" test "$out/weights.safetensors" --topk 0
expect 2 "" "$pdl" classify "$out/weights.safetensors" --index 1
expect 2 "" "$pdl" classify "$out/weights.safetensors"

# Missing files: exit 1 naming them
expect 1 "no_such_dir" "$pdl" train "$work/tiny.cfg" --data "$work/no_such_dir" --out "$work/x"
expect 1 "no_such.cfg" "$pdl" train "$work/no_such.cfg" --data "$data"
expect 1 "no_such.safetensors" "$pdl" test "$work/no_such.safetensors" --data "$data"
expect 1 "no_labels" "$pdl" test "$out/weights.safetensors" --images "$data/t10k-images-idx3-ubyte" --labels "$work/no_labels"
expect 1 "no_such.pgm" "$pdl" classify "$out/weights.safetensors" "$work/no_such.pgm"

# A truncated state file is refused on --resume.
cp -r "$out" "$work/broken"
size=$(stat -c %s "$work/broken/state.pdlstate")
truncate -s $((size / 2)) "$work/broken/state.pdlstate"
expect 1 "state.pdlstate" "$pdl" train "$work/tiny.cfg" --data "$data" --out "$work/broken" --resume --quiet

# Ctrl-C: a clean stop with a checkpoint (exit 130), then the run resumes from it.
"$pdl" train "$work/tiny.cfg" --data "$data" --out "$work/long" --epochs 1000000 --quiet \
    >"$work/out" 2>"$work/err" &
pid=$!
for _ in $(seq 1 100); do
    [ -s "$work/long/log.csv" ] && [ "$(wc -l <"$work/long/log.csv")" -ge 2 ] && break
    sleep 0.1
done
kill -INT $pid
wait $pid
rc=$?
[ "$rc" = 130 ] || fail "Ctrl-C: exit $rc, expected 130: $(cat "$work/err")"
grep -q -- "--resume" "$work/err" || fail "Ctrl-C: no resume hint: $(cat "$work/err")"
expect 0 "" "$pdl" train "$work/tiny.cfg" --data "$data" --out "$work/long" --epochs 1000000 --resume --max-steps 1 --quiet

finish
