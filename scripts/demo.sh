#!/usr/bin/env bash
# The main job: installs dependencies, builds pdl, trains fashion_cnn on Fashion-MNIST (Debian's
# dataset-fashion-mnist), evaluates it on the 10,000 test images and prints the result tables.
# Usage: scripts/demo.sh [extra pdl train options, e.g. --epochs 1]
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$(nproc)"

data=/usr/share/datasets/fashion-mnist
out=runs/fashion_cnn
build/pdl info models/fashion_cnn.cfg --batch 64
build/pdl train models/fashion_cnn.cfg --data "$data" --out "$out" "$@"
build/pdl test "$out/weights.safetensors" --data "$data" --class-names models/fashion_mnist.names
