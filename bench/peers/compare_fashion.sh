#!/bin/bash
# Trains models/fashion_cnn.cfg with `pdl train` and with its PyTorch peer
# (bench/peers/pytorch_fashion.py) for the same epochs and threads, and prints the training
# seconds per epoch of both (median over epochs) and their ratio. Owns the comparison only.
#
# usage: bench/peers/compare_fashion.sh [PDL_BINARY (build/pdl)] [EPOCHS (1)] [THREADS (2)]
# environment: DATA=folder with the Fashion-MNIST IDX files (default: Debian's
# dataset-fashion-mnist), PYTHON=interpreter with torch (default /usr/bin/python3).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PDL=${1:-build/pdl}
EPOCHS=${2:-1}
THREADS=${3:-2}
DATA=${DATA:-/usr/share/datasets/fashion-mnist}
PYTHON=${PYTHON:-/usr/bin/python3}
MODEL=$ROOT/models/fashion_cnn.cfg

if [ ! -x "$PDL" ]; then
    echo "compare_fashion: no pdl binary at '$PDL' (build it, or pass its path)" >&2
    exit 2
fi
# Both runs get the same allocator settings: no returning of large buffers to the kernel.
export GLIBC_TUNABLES=glibc.malloc.mmap_threshold=4294967295:glibc.malloc.trim_threshold=4294967295

OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

echo "== pdl: $EPOCHS epoch(s), $THREADS threads"
"$PDL" train "$MODEL" --data "$DATA" --epochs "$EPOCHS" --threads "$THREADS" --out "$OUT/pdl" \
    --quiet
cat "$OUT/pdl/log.csv"

echo "== pytorch: $EPOCHS epoch(s), $THREADS threads"
"$PYTHON" "$ROOT/bench/peers/pytorch_fashion.py" --model "$MODEL" --data "$DATA" \
    --epochs "$EPOCHS" --threads "$THREADS" | tee "$OUT/torch.txt"

"$PYTHON" - "$OUT/pdl/log.csv" "$OUT/torch.txt" <<'EOF'
import csv, json, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
pdl_s = statistics.median(float(r["seconds"]) for r in rows)
pdl_acc = float(rows[-1]["val_top1"])
torch = json.loads(open(sys.argv[2]).read().strip().splitlines()[-1])
torch_s = torch["seconds_per_epoch"]
print(f"pdl     {pdl_s:9.2f} s/epoch   test accuracy {pdl_acc:.4f}")
print(f"pytorch {torch_s:9.2f} s/epoch   test accuracy {torch['test_accuracy']:.4f}"
      f"   (BLAS: {torch.get('blas', '?')})")
print(f"ratio pytorch/pdl {torch_s / pdl_s:.2f} (above 1: pdl is faster)")
EOF
