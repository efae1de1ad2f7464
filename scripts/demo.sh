#!/usr/bin/env bash
# The main job: installs dependencies, builds pdl, turns Fashion-MNIST (Debian's
# dataset-fashion-mnist) into a dataset in the DIGITS layout (LMDB of PNG records), trains
# fashion_cnn on it, evaluates it on the 10,000 test images and prints the result tables.
# Usage: scripts/demo.sh [extra pdl train options, e.g. --epochs 1]
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$(nproc)"

dataset=runs/fashion_mnist
out=runs/fashion_cnn
if [[ ! -d "$dataset" ]]; then
    build/pdl dataset import-idx /usr/share/datasets/fashion-mnist "$dataset"
fi
build/pdl dataset info "$dataset"
build/pdl info models/fashion_cnn.cfg --batch 64
build/pdl train models/fashion_cnn.cfg --data "$dataset" --out "$out" "$@"
build/pdl test "$out/weights.safetensors" --data "$dataset" --class-names models/fashion_mnist.names
