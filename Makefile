# Thin wrapper over CMake: make, make test, make asan, make fuzz, make demo, make bench.
BUILD ?= build
JOBS ?= $(shell nproc)

.PHONY: all test asan fuzz demo bench clean

all:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release
	cmake --build $(BUILD) -j $(JOBS)

test: all
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

asan:
	cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DPDL_SANITIZE=ON -DPDL_NATIVE=ON
	cmake --build build-asan -j $(JOBS)
	cd build-asan && ctest --output-on-failure -j $(JOBS)

fuzz:
	cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug -DPDL_FUZZ=ON
	cmake --build build-fuzz -j $(JOBS)
	cd build-fuzz && ctest --output-on-failure -R fuzz_

demo: all
	scripts/demo.sh

# The convnet-benchmarks suite at a quarter of its batches (this is a small machine).
bench: all
	$(BUILD)/pdl bench --suite convnet --batch-scale 0.25

clean:
	rm -rf $(BUILD) build-asan build-fuzz
