#!/bin/bash
# The data path against its Python peer in one run: makes COUNT photo-like 256x256 images
# (bench/peers/data_peer.py), builds PNG and JPEG datasets of them (bench/data_bench.c --make,
# i.e. pdl_dataset_create), then measures LMDB reads, decode, and decode + crop 224 + mirror +
# mean on one thread with bench/data_bench.c and with the peer (python3-lmdb, protobuf, PIL,
# numpy) on the same databases, and prints both and their ratio (goal: >= 2x per thread), plus
# the loader on THREADS threads. Owns the comparison only.
#
# usage: bench/peers/compare_data.sh [BUILD_DIR (build)] [COUNT (256)] [THREADS (2)] [RUNS (5)]
# needs: BUILD_DIR/libpdl.a (cmake --build BUILD_DIR --target pdlcore); PYTHON (default
# /usr/bin/python3) with lmdb, protobuf, PIL and numpy.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${1:-build}
COUNT=${2:-256}
THREADS=${3:-2}
RUNS=${4:-5}
PYTHON=${PYTHON:-/usr/bin/python3}

BENCH="$BUILD/bench/data_bench"
if [ ! -x "$BENCH" ]; then
    echo "compare_data: no '$BENCH' (cmake --build $BUILD --target data_bench)" >&2
    exit 2
fi
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

echo "== $COUNT images 256x256, PNG and JPEG datasets"
"$PYTHON" "$ROOT/bench/peers/data_peer.py" --make-images "$OUT/images" "$COUNT"
"$BENCH" --make "$OUT/images" "$OUT"

echo "== pdl (bench/data_bench.c) and the peer (bench/peers/data_peer.py), $RUNS runs each"
"$BENCH" --json --runs "$RUNS" --threads "$THREADS" "$OUT/png" "$OUT/jpg" \
    >"$OUT/pdl.json"
"$PYTHON" "$ROOT/bench/peers/data_peer.py" --json --runs "$RUNS" "$OUT/png" "$OUT/jpg" \
    >"$OUT/peer.json"

"$PYTHON" - "$OUT/pdl.json" "$OUT/peer.json" "$OUT/" "$THREADS" <<'EOF'
import json, sys
def load(path):
    rows = map(json.loads, open(path))
    return {(r["dataset"].replace(sys.argv[3], ""), r["work"]): r["per_s"] for r in rows}
pdl, peer = load(sys.argv[1]), load(sys.argv[2])
works = (("lmdb_read", "LMDB reads (records/s)"), ("decode", "decode (images/s)"),
         ("decode_augment", "decode + augment (images/s)"),
         ("loader_cpu", f"loader, {sys.argv[4]} threads, per CPU s"),
         ("loader", f"loader, {sys.argv[4]} threads, per wall s"))
print(f"{'data':5s} {'work (one thread unless said)':34s} {'pdl':>12s} {'peer':>12s} {'ratio':>7s}")
for data in ("png", "jpg"):
    for work, what in works:
        mine, theirs = pdl.get((data, work)), peer.get((data, work))
        ratio = f"{mine / theirs:.2f}x" if mine and theirs else "-"
        print(f"{data:5s} {what:34s} {mine:12.1f} {theirs or '-':>12} {ratio:>7s}")
EOF
