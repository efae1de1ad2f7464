#!/usr/bin/env bash
# Installs dependencies, builds pdl and runs the whole test suite: the release build, then the
# same suite under AddressSanitizer + UndefinedBehaviorSanitizer, then the fuzz targets (bounded).
# Usage: scripts/test.sh [--quick]   (--quick: the release suite only)
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
jobs=$(nproc)

echo "== release build and tests"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$jobs"
(cd build && ctest --output-on-failure -j "$jobs")

if [[ "${1:-}" == "--quick" ]]; then
    exit 0
fi

echo "== ASan + UBSan build and tests"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPDL_SANITIZE=ON >/dev/null
cmake --build build-asan -j "$jobs"
(cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest --output-on-failure -j "$jobs" -E '^fuzz_')

echo "== fuzz targets (libFuzzer, bounded time)"
cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DPDL_FUZZ=ON -DPDL_SANITIZE=OFF -DPDL_BENCH=OFF >/dev/null
cmake --build build-fuzz -j "$jobs" --target fuzz_cfg fuzz_model fuzz_image
(cd build-fuzz && ctest --output-on-failure -R '^fuzz_')
