#!/usr/bin/env bash
# scripts/gpu-check.sh — the CUDA backend's checks, for a machine with a GPU:
# configure and build with CUDA, run the kernel lab (every op against the CPU
# backend, with timings), then compute-sanitizer's memcheck, racecheck and
# initcheck on the lab's small shapes. Exit status non-zero if anything failed.
#
#   scripts/gpu-check.sh [build-dir]        (default build-gpu)
#
# Logs go to $OUT when set (the device machine's collected folder), else to
# <build-dir>/gpu-check/.
set -uo pipefail
cd "$(dirname "$0")/.."
if [[ -f .devdeps/env.sh ]]; then
  # shellcheck disable=SC1091
  source .devdeps/env.sh
fi
build=${1:-build-gpu}
logs=${OUT:-$build/gpu-check}
mkdir -p "$logs"

step() { printf '\n==== %s\n' "$*"; }
failed=()

step "configure + build ($build)"
if ! cmake -S . -B "$build" -DSEAL_CUDA=ON >"$logs/configure.log" 2>&1; then
  tail -30 "$logs/configure.log"
  exit 1
fi
if ! cmake --build "$build" -j"$(nproc)" --target cuda_kernel_lab >"$logs/build.log" 2>&1; then
  tail -40 "$logs/build.log"
  exit 1
fi
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true

step "kernel lab (full shapes)"
"$build/cuda_kernel_lab" 2>&1 | tee "$logs/lab.txt"
[[ ${PIPESTATUS[0]} -eq 0 ]] || failed+=("kernel lab")

step "kernel lab (small shapes, second seed)"
"$build/cuda_kernel_lab" --small --reps 3 --seed 99 >"$logs/lab-small.txt" 2>&1 ||
  failed+=("kernel lab --small")
tail -3 "$logs/lab-small.txt"

sanitizer=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
for tool in memcheck racecheck initcheck; do
  step "compute-sanitizer $tool (small shapes)"
  extra=()
  [[ $tool == memcheck ]] && extra=(--leak-check full)
  if "$sanitizer" --tool "$tool" "${extra[@]}" --error-exitcode 9 \
    "$build/cuda_kernel_lab" --small --reps 1 >"$logs/sanitizer-$tool.txt" 2>&1; then
    grep -E "ERROR SUMMARY|RACECHECK SUMMARY" "$logs/sanitizer-$tool.txt" || echo "$tool: clean"
  else
    failed+=("compute-sanitizer $tool")
    grep -E "=========" "$logs/sanitizer-$tool.txt" | head -40
  fi
done

step "summary"
if [[ ${#failed[@]} -gt 0 ]]; then
  printf 'FAILED: %s\n' "${failed[@]}"
  exit 1
fi
echo "all GPU checks passed"
