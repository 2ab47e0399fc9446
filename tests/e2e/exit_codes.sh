#!/usr/bin/env bash
# tests/e2e/exit_codes.sh BUILD_DIR — seal's exit statuses and what a user reads
# when it fails (seal --help, docs/running.md):
#  - 2 for a bad command line: no command, an unknown command or option, a bad
#    option value (NaN included), a --device that is none;
#  - 1 for an error, with "seal: error: MESSAGE" naming what is wrong (the
#    file) and no source file:line of seal's C code, which SEAL_LOG=debug adds
#    as its own log line;
#  - 1 for a fatal error on rank 1 of a 2-rank job: the message names the rank,
#    every rank is ended (no hang) and mpiexec exits 1.
# Exit status 3 (preempted by SIGTERM/SIGUSR1, resumable) is tests/e2e/seal_resume.sh's.
set -euo pipefail
build=${1:?usage: exit_codes.sh BUILD_DIR}
seal="$(cd "$build" && pwd)/seal"
mpiexec=${MPIEXEC:-mpiexec}
tmp=$(mktemp -d /tmp/seal-e2e-exit-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail() {
  echo "exit_codes: FAIL: $*" >&2
  exit 1
}

# expect STATUS NAME COMMAND...: runs it with stderr into $tmp/NAME.err.
expect() {
  local want=$1 name=$2 status=0
  shift 2
  "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" || status=$?
  [ "$status" -eq "$want" ] || { cat "$tmp/$name.err" >&2; fail "$name: exit status $status, expected $want"; }
}
# no_source_paths NAME: nothing on its stderr looks like one of our C files.
no_source_paths() {
  ! grep -Eq '[a-z_]+/[a-z_]+\.(c|cu|h):[0-9]+' "$tmp/$1.err" ||
    { cat "$tmp/$1.err" >&2; fail "$1: the message shows a source file:line"; }
}

job=tests/fixtures/tiny-seal/job.yaml
expect 2 no_command "$seal"
expect 2 unknown_command "$seal" nosuch
expect 2 unknown_option "$seal" generate --bogus
expect 2 nan_value "$seal" generate --model tests/fixtures/tiny-seal --prompt hi --temperature nan
grep -q "^seal: error: --temperature: expected a finite number" "$tmp/nan_value.err" || fail "nan_value: $(cat "$tmp/nan_value.err")"
expect 2 bad_device "$seal" train "$job" --device gpu
grep -q "^seal: error: --device: expected cpu, cpu:bf16, cpu:q8, cpu:q4, cuda or auto, got 'gpu'" "$tmp/bad_device.err" ||
  fail "bad_device: $(cat "$tmp/bad_device.err")"
# The CPU GEMM's library: a name this build lacks is refused, never ignored.
SEAL_CPU_GEMM=mkl expect 1 bad_gemm "$seal" backends
grep -q "^seal: error: SEAL_CPU_GEMM=mkl: expected openblas" "$tmp/bad_gemm.err" || fail "bad_gemm: $(cat "$tmp/bad_gemm.err")"
SEAL_CPU_GEMM=openblas expect 0 openblas_gemm "$seal" backends
grep -q "^cpu GEMM: OpenBLAS" "$tmp/openblas_gemm.out" || fail "openblas_gemm: $(cat "$tmp/openblas_gemm.out")"

expect 1 missing_model "$seal" generate --model "$tmp/no-model.gguf" --prompt hi
grep -q "^seal: error: $tmp/no-model.gguf: " "$tmp/missing_model.err" || fail "missing_model: $(cat "$tmp/missing_model.err")"
no_source_paths missing_model
SEAL_LOG=debug expect 1 missing_model_debug "$seal" generate --model "$tmp/no-model.gguf" --prompt hi
grep -Eq "^seal debug: fatal error raised at cmd/run_common\.c:[0-9]+$" "$tmp/missing_model_debug.err" ||
  fail "missing_model_debug: no source line in the debug log: $(cat "$tmp/missing_model_debug.err")"

# Rank 0 runs the job; rank 1 (MPMD) is given one whose model does not exist.
sed -e 's|^model: .*|model: /nonexistent/model.gguf|' "$job" >"$tmp/nomodel.yaml"
expect 1 rank1 timeout 300 "$mpiexec" --oversubscribe --bind-to none \
  -n 1 "$seal" train "$job" --output "$tmp/run" : -n 1 "$seal" train "$tmp/nomodel.yaml" --output "$tmp/run"
grep -q "^seal: error: \[rank 1\] /nonexistent/model.gguf: model not found" "$tmp/rank1.err" ||
  { cat "$tmp/rank1.err" >&2; fail "rank1: no message naming rank 1 and the model"; }
no_source_paths rank1
echo "exit_codes: ok"
