#!/bin/bash
# Interop with Caffe/DIGITS databases both ways, through Debian's python3-lmdb, python3-protobuf
# and python3-pil (tests/fixtures/caffe_interop.py): LMDBs written the way convert_imageset
# writes them (raw BGR and encoded records, keys "%08d_<name>") are exported by pdl with the
# written pixels and labels; a DIGITS-style dataset folder's labels and mean are read; and the
# datasets pdl builds (png, raw, jpg records) decode in Python to the input files, with the
# keys, Datum fields and mean.binaryproto Caffe expects. Usage: test_dataset_interop.sh PDL SRC
source "$(dirname "$0")/lib.sh" "$@"
py=/usr/bin/python3
script=$src/tests/fixtures/caffe_interop.py

$py -c 'import lmdb, google.protobuf, PIL' 2>"$tmp/err" ||
    fail "python3-lmdb, python3-protobuf and python3-pil are needed: $(cat "$tmp/err")"

# Caffe-format databases -> pdl
$py "$script" write "$tmp" || fail "writing the Caffe-format databases"
for db in raw_db enc_db; do
    expect_exit 0 "$pdl" dataset export "$tmp/$db" "$tmp/export_$db" --quiet
    $py "$script" check-export "$tmp/export_$db" "$tmp" "$db" || fail "pdl read $db wrong"
done
expect_exit 0 "$pdl" dataset info "$tmp/enc_db" --json
$py -c 'import json, sys; d = json.load(open(sys.argv[1]))
s = d["splits"][0]
assert (s["records"], s["channels"], s["height"], s["width"]) == (4, 3, 5, 7), s
assert s["labels"] == [2, 2] and s["classes"] == 2, s' "$tmp/out" ||
    fail "info of the encoded Caffe database: $(cat "$tmp/out")"
expect_exit 0 "$pdl" dataset info "$tmp/pyds"
contains "$tmp/out" "green"
expect_exit 0 "$pdl" dataset mean "$tmp/pyds" --quiet
contains "$tmp/out" "largest difference from the rounded mean 0"

# pdl datasets -> Caffe's reading (jpg records are lossy: within 12 levels of the input)
$py "$script" make-input "$tmp" || fail "writing the input images"
for encoding in png none jpg; do
    expect_exit 0 "$pdl" dataset create "$tmp/in" "$tmp/ds_$encoding" --size 6x4 --val-pct 25 \
        --encoding "$encoding" --quiet
    tolerance=0
    [ "$encoding" = jpg ] && tolerance=12
    $py "$script" check-pdl "$tmp/ds_$encoding" "$tmp" $tolerance || fail "pdl's $encoding dataset"
done
finish
