#!/bin/bash
# End to end through image files: exports Fashion-MNIST's IDX files to folders of PNG files
# (train/<label>/ and test/<label>/), builds a dataset of them with `pdl dataset create` (gray,
# 28x28, the t10k images as test_db, no validation split), trains models/fashion_cnn.cfg on it
# with `pdl train --data DATASET` (validating on test_db), tests it with `pdl test`, and does the
# same from the IDX files directly, then prints both test accuracies: the dataset path should
# match the IDX path (records are stored in another order, so the runs differ within noise).
#
# usage: bench/fashion_png_e2e.sh [PDL_BINARY (build/pdl)] [EPOCHS (5)]
# environment: DATA (default /usr/share/datasets/fashion-mnist), WORK (a folder to keep the
# files in; default a temporary one, removed at the end), MAX_STEPS (stop each training after
# this many steps: a quick check that everything runs), SKIP_IDX=1 (only the dataset path),
# PYTHON (default /usr/bin/python3, with numpy and PIL).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PDL=${1:-build/pdl}
EPOCHS=${2:-5}
DATA=${DATA:-/usr/share/datasets/fashion-mnist}
PYTHON=${PYTHON:-/usr/bin/python3}
MODEL=$ROOT/models/fashion_cnn.cfg

if [ ! -x "$PDL" ]; then
    echo "fashion_png_e2e: no pdl binary at '$PDL' (build it, or pass its path)" >&2
    exit 2
fi
if [ -n "${WORK:-}" ]; then
    mkdir -p "$WORK"
else
    WORK=$(mktemp -d)
    trap 'rm -rf "$WORK"' EXIT
fi
steps=()
[ -z "${MAX_STEPS:-}" ] || steps=(--max-steps "$MAX_STEPS")

echo "== exporting $DATA to PNG files in $WORK/png"
"$PYTHON" - "$DATA" "$WORK/png" <<'EOF'
import gzip, os, sys
import numpy as np
from PIL import Image
data, out = sys.argv[1], sys.argv[2]
def read(name):
    path = os.path.join(data, name)
    if os.path.exists(path + ".gz"):
        with gzip.open(path + ".gz", "rb") as f:
            return f.read()
    with open(path, "rb") as f:
        return f.read()
for split, prefix in (("train", "train"), ("test", "t10k")):
    images = np.frombuffer(read(f"{prefix}-images-idx3-ubyte"), np.uint8, offset=16).reshape(-1, 28, 28)
    labels = np.frombuffer(read(f"{prefix}-labels-idx1-ubyte"), np.uint8, offset=8)
    for label in range(int(labels.max()) + 1):
        os.makedirs(os.path.join(out, split, str(label)), exist_ok=True)
    for i, (image, label) in enumerate(zip(images, labels)):
        Image.fromarray(image, "L").save(os.path.join(out, split, str(label), f"{i:05d}.png"))
    print(f"{split}: {len(images)} files")
EOF

echo "== pdl dataset create"
"$PDL" dataset create "$WORK/png/train" "$WORK/dataset" --gray --size 28x28 --val-pct 0 \
    --test "$WORK/png/test" --force --quiet

echo "== pdl train on the dataset ($EPOCHS epochs)"
"$PDL" train "$MODEL" --data "$WORK/dataset" --epochs "$EPOCHS" --out "$WORK/run_dataset" \
    "${steps[@]}" --quiet
"$PDL" test "$WORK/run_dataset/weights.safetensors" --data "$WORK/dataset" --json \
    >"$WORK/test_dataset.json"

if [ "${SKIP_IDX:-0}" != 1 ]; then
    echo "== pdl train on the IDX files ($EPOCHS epochs)"
    "$PDL" train "$MODEL" --data "$DATA" --epochs "$EPOCHS" --out "$WORK/run_idx" \
        "${steps[@]}" --quiet
    "$PDL" test "$WORK/run_idx/weights.safetensors" --data "$DATA" --json >"$WORK/test_idx.json"
fi

"$PYTHON" - "$WORK" <<'EOF'
import json, os, sys
work = sys.argv[1]
for name in ("dataset", "idx"):
    path = os.path.join(work, f"test_{name}.json")
    if os.path.exists(path):
        r = json.load(open(path))
        print(f"{name:8s} test top-1 {100 * r['top1']:.2f}%  top-{r['k']} {100 * r['topk']:.2f}%"
              f"  loss {r['loss']:.4f}  ({r['images']} images)")
EOF
