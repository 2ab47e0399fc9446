# seal — the front door. Wraps CMake; see README.md.
#   make            build (release with debug info) into build/
#   make test       build, run every test (unit, MPI, end-to-end), then run them all
#                   again under AddressSanitizer + UndefinedBehaviorSanitizer
#   make test-fast  only the first of those two passes
#   make asan       only the sanitizer pass (build-asan/)
#   make demo       install missing packages, build, fetch the small model, run the demo job
#   make demo-arc   the same for few-shot ARC (jobs/arc-demo.yaml), printing the eval table
#   make demo-learn seal learn on the demo's passages; the demo questions before and after
#   make demo-labelfree  the demo with reward.source self-certainty (jobs/demo-labelfree.yaml)
#   make bench      CPU benchmarks (work-queue scaling, seal bench on the cached model)
#   make fuzz       build the libFuzzer harnesses with clang (build-fuzz/) and fuzz each
#                   for FUZZ_SECONDS (default 600); FUZZ_TARGETS="gguf job" picks some
#   make format     clang-format every C/CUDA source
#   make clean
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=
CTEST = ctest --output-on-failure -j $(JOBS) --timeout 1200

FUZZ_SECONDS ?= 600
FUZZ_TARGETS ?=

.PHONY: all build deps test test-fast asan demo demo-arc demo-learn demo-labelfree bench fuzz format clean

all: build

deps:
	@bash scripts/install-deps.sh

$(BUILD)/CMakeCache.txt:
	@cmake -S . -B $(BUILD) $(CMAKE_FLAGS) >/dev/null

build: deps $(BUILD)/CMakeCache.txt
	@cmake --build $(BUILD) -j $(JOBS)

test-fast: build
	@cd $(BUILD) && $(CTEST)

test: test-fast asan

asan: deps
	@cmake -S . -B build-asan -DSEAL_SANITIZE=ON -DSEAL_CUDA=OFF -DCMAKE_BUILD_TYPE=Debug >/dev/null
	@cmake --build build-asan -j $(JOBS)
	@cd build-asan && $(CTEST)

demo: build
	@bash scripts/demo.sh $(BUILD)

demo-arc: build
	@bash scripts/demo-arc.sh $(BUILD)

demo-learn: build
	@bash scripts/demo-learn.sh $(BUILD)

demo-labelfree: build
	@bash scripts/demo-labelfree.sh $(BUILD)

bench: build
	@bash bench/run-cpu.sh $(BUILD)

fuzz: deps
	@command -v clang >/dev/null || { echo "make fuzz needs clang and libFuzzer (bash scripts/install-deps.sh)" >&2; exit 1; }
	@CC=clang cmake -S . -B build-fuzz -DSEAL_FUZZ=ON -DSEAL_SANITIZE=ON -DSEAL_CUDA=OFF \
	  -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build build-fuzz -j $(JOBS) --target seal_fuzz_all
	@bash scripts/fuzz.sh build-fuzz $(FUZZ_SECONDS) $(FUZZ_TARGETS)

format:
	@clang-format -i $$(git ls-files '*.c' '*.h' '*.cu' '*.cuh')

clean:
	@rm -rf build build-asan build-fuzz
