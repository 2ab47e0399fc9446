# seal — the front door. Wraps CMake; see README.md.
#   make          build (release-with-debug-info) into build/
#   make test     build and run every test (unit, MPI, end-to-end) via ctest
#   make demo     install missing packages, build, fetch the small model, run the demo job
#   make asan     build and test with AddressSanitizer + UBSan into build-asan/
#   make bench    CPU benchmarks
#   make format   clang-format every C/CUDA source
#   make clean
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all build deps test demo asan bench format clean

all: build

deps:
	@bash scripts/install-deps.sh

$(BUILD)/CMakeCache.txt:
	@cmake -S . -B $(BUILD) $(CMAKE_FLAGS) >/dev/null

build: deps $(BUILD)/CMakeCache.txt
	@cmake --build $(BUILD) -j $(JOBS)

test: build
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS) --timeout 1200

asan:
	@$(MAKE) --no-print-directory test BUILD=build-asan CMAKE_FLAGS="-DSEAL_SANITIZE=ON -DSEAL_CUDA=OFF -DCMAKE_BUILD_TYPE=Debug"

demo: build
	@bash scripts/demo.sh $(BUILD)

bench: build
	@bash bench/run-cpu.sh $(BUILD)

format:
	@clang-format -i $$(git ls-files '*.c' '*.h' '*.cu' '*.cuh')

clean:
	@rm -rf build build-asan
