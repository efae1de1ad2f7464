#!/bin/bash
# Command-line tests of pdl dataset create / info / mean / export / import-idx on tiny inputs
# made here (PPM class folders with bad files, IDX files): the layout, counts, skipped and
# dropped lists, refusing to overwrite, --force, a stale .partial removed, JSON output, exported
# files, bad command lines (exit 2 naming the option) and missing inputs (exit 1 naming them).
# Usage: test_dataset.sh PDL_BINARY SOURCE_DIR
source "$(dirname "$0")/lib.sh" "$@"
pdl=$(cd "$(dirname "$pdl")" && pwd)/$(basename "$pdl") # the tests run inside $tmp
cd "$tmp" || exit 1

python3 - <<'EOF' || fail "making the fixtures"
import gzip, os, struct
def ppm(path, w, h, seed):
    data = bytes((seed * 29 + i * 7) % 256 for i in range(w * h * 3))
    open(path, 'wb').write(b'P6\n%d %d\n255\n' % (w, h) + data)
for klass, n in (('apple', 6), ('banana', 3), ('cherry', 1)):
    os.makedirs('in/' + klass)
    for k in range(n):
        ppm('in/%s/%d.ppm' % (klass, k), 10 + k, 8, len(klass) * 10 + k)
open('in/apple/zero.png', 'wb').close()
open('in/apple/text.jpg', 'w').write('not a picture\n')
open('in/apple/notes.txt', 'w').write('ignored: no image extension\n')
os.makedirs('idx')
def idx(split, n):
    with gzip.open('idx/%s-images-idx3-ubyte.gz' % split, 'wb') as f:
        f.write(struct.pack('>IIII', 0x803, n, 5, 4) + bytes((i * 3) % 256 for i in range(n * 20)))
    with gzip.open('idx/%s-labels-idx1-ubyte.gz' % split, 'wb') as f:
        f.write(struct.pack('>II', 0x801, n) + bytes(i % 3 for i in range(n)))
idx('train', 12)
idx('t10k', 5)
EOF

# create: layout, counts, skipped and dropped
expect 0 "" "$pdl" dataset create in ds --size 8x8 --val-pct 25 --quiet
contains "$tmp/out" "(2 classes)"
contains "$tmp/out" "skipped  2 files"
contains "$tmp/out" "zero.png"
contains "$tmp/out" "dropped  1 class: cherry"
for f in train_db/data.mdb val_db/data.mdb labels.txt mean.binaryproto mean.png manifest.json; do
    [ -s "ds/$f" ] || fail "create did not write $f"
done
[ ! -e ds/test_db ] || fail "an empty test split got a database"
[ "$(cat ds/labels.txt)" = "$(printf 'apple\nbanana')" ] || fail "labels.txt: $(cat ds/labels.txt)"
python3 - <<'EOF' || fail "manifest.json: $(cat ds/manifest.json)"
import json
m = json.load(open('ds/manifest.json'))
r = m['records']
assert r['train'] + r['val'] == 9 and r['test'] == 0, r
assert m['dropped_classes'] == ['cherry'], m['dropped_classes']
assert sorted(s['path'].split('/')[-1] for s in m['skipped']) == ['text.jpg', 'zero.png']
assert m['options']['width'] == 8 and m['options']['resize'] == 'squash'
EOF

# an existing dataset is refused, --force replaces it; a stale .partial is cleaned up
expect 1 "exists" "$pdl" dataset create in ds --quiet
mkdir -p ds2.partial-424242424/train_db
expect 0 "" "$pdl" dataset create in ds2 --size 4x4 --gray --val-pct 40 --encoding none --quiet
[ ! -e ds2.partial-424242424 ] || fail "the stale .partial folder is still there"
expect 0 "" "$pdl" dataset create in ds2 --size 4x4 --gray --force --no-shuffle --quiet

# info, text and JSON
expect 0 "" "$pdl" dataset info ds2
contains "$tmp/out" "1x4x4"
contains "$tmp/out" "banana"
expect 0 "" "$pdl" dataset info ds --json
python3 -c 'import json, sys; d = json.load(open(sys.argv[1]))
n = {s["split"]: s["records"] for s in d["splits"]}
assert n["train"] + n["val"] == 9 and d["class_names"] == ["apple", "banana"], d
assert all(s["channels"] == 3 and s["width"] == 8 and s["encoding"] == "png" for s in d["splits"])
assert sum(sum(s["labels"]) for s in d["splits"]) == 9, d' "$tmp/out" ||
    fail "info --json: $(cat "$tmp/out")"
val=$(python3 -c 'import json, sys
print([s["records"] for s in json.load(open(sys.argv[1]))["splits"] if s["split"] == "val"][0])' \
    "$tmp/out")

# mean agrees with the stored one; export writes one PNG per record in class folders
expect 0 "" "$pdl" dataset mean ds --quiet
contains "$tmp/out" "largest difference from the rounded mean 0"
expect 0 "" "$pdl" dataset mean ds --split val --out val_mean.binaryproto --quiet
[ -s val_mean.binaryproto ] || fail "mean --out wrote nothing"
expect 0 "" "$pdl" dataset export ds exported --split val --quiet
[ "$(find exported -name '*.png' | wc -l)" -eq "$val" ] || fail "export: $(find exported)"
[ -d exported/apple ] || fail "export has no apple folder: $(ls exported)"
expect 0 "" "$pdl" dataset export ds/train_db one --limit 1 --quiet
[ "$(find one -name '*.png' | wc -l)" -eq 1 ] || fail "export --limit 1: $(find one)"

# import-idx: a folder of IDX files, train + t10k
expect 0 "" "$pdl" dataset import-idx idx mnist --val-pct 25 --quiet
contains "$tmp/out" "train 9, val 3, test 5 (3 classes)"
expect 0 "" "$pdl" dataset info mnist --json
contains "$tmp/out" '"channels": 1, "height": 5, "width": 4'
expect 0 "" "$pdl" dataset import-idx mnist2 --train-images idx/train-images-idx3-ubyte.gz \
    --train-labels idx/train-labels-idx1-ubyte.gz --encoding none --quiet
contains "$tmp/out" "train 12, val 0, test 0"
# missing parent folders of OUT are created, as mkdir -p would
expect 0 "" "$pdl" dataset import-idx idx runs/new/mnist --quiet
[ -s runs/new/mnist/labels.txt ] || fail "import-idx into runs/new/mnist wrote no labels.txt"

# each subcommand has --help
for sub in create import-idx info mean export; do
    expect 0 "" "$pdl" dataset "$sub" --help
    contains "$tmp/out" "usage: pdl dataset $sub"
done

# bad command lines: exit 2 naming the problem
expect 2 "" "$pdl" dataset
expect 2 "unknown command 'bogus'" "$pdl" dataset bogus
expect 2 "give INPUT and OUT" "$pdl" dataset create in
expect 2 "--size" "$pdl" dataset create in x --size 8
expect 2 "--resize" "$pdl" dataset create in x --resize stretch
expect 2 "--encoding" "$pdl" dataset create in x --encoding gif
expect 2 "--val-pct" "$pdl" dataset create in x --val-pct 120
expect 2 "leave nothing for training" "$pdl" dataset create in x --val-pct 60 --test-pct 50
expect 2 "not both" "$pdl" dataset create in x --val in --val-pct 10
expect 2 "--threads" "$pdl" dataset create in x --threads many
expect 2 "--min-per-class needs a value" "$pdl" dataset create in x --min-per-class
expect 2 "unexpected argument '--bogus'" "$pdl" dataset create in x --bogus
expect 2 "give DATASET" "$pdl" dataset info
expect 2 "give DATASET and DIR" "$pdl" dataset export ds
expect 2 "--split" "$pdl" dataset mean ds --split holdout
expect 2 "--limit" "$pdl" dataset export ds x --limit 0
expect 2 "--train-images" "$pdl" dataset import-idx out_only

# missing or broken inputs: exit 1 naming them
expect 1 "nowhere" "$pdl" dataset create nowhere x --quiet
expect 1 "nowhere" "$pdl" dataset info nowhere
expect 1 "train-images-idx3-ubyte" "$pdl" dataset import-idx in x --quiet
mkdir notdb
expect 1 "no data.mdb" "$pdl" dataset info notdb
[ ! -e x ] || fail "a failed create left x behind"
finish
