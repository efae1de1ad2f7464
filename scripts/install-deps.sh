#!/usr/bin/env bash
# Installs, from Debian's archive by name, everything pdl needs to build, test and run the demo.
# Usage: scripts/install-deps.sh [--peers]   (--peers adds PyTorch, on OpenBLAS rather than the
# reference BLAS, for the bench/peers scripts)
# Packages already installed are not fetched again, so a second run is quick and offline-safe.
set -euo pipefail

packages=(build-essential cmake pkg-config zlib1g-dev clang libclang-rt-14-dev python3
          python3-numpy dataset-fashion-mnist
          liblmdb-dev libprotobuf-c-dev protobuf-c-compiler libjpeg62-turbo-dev libpng-dev
          libopenmpi-dev openmpi-bin python3-lmdb python3-protobuf python3-pil)
if [[ "${1:-}" == "--peers" ]]; then
    packages+=(python3-torch libopenblas0-pthread)
fi

missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
        || missing+=("$package")
done
if ((${#missing[@]} == 0)); then
    echo "install-deps: all ${#packages[@]} packages already installed"
    exit 0
fi

sudo=""
if [[ $(id -u) -ne 0 ]]; then
    sudo="sudo"
fi
echo "install-deps: installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
