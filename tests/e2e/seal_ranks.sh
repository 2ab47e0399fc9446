#!/usr/bin/env bash
# tests/e2e/seal_ranks.sh BUILD_DIR — a SEAL run does not depend on the number of
# MPI ranks (DESIGN.md §3, §6): the tiny job (tests/fixtures/tiny-seal, a random
# 2-layer Llama, 2 rounds of 3 passages x 2 self-edits x 2 scorings) on 1, 2 and 3
# ranks gives identical self-edit texts, identical rewards per item
# (context, sample, repeat), inner-loop losses within 1e-6 relative, and final
# policy tensors within 1e-5. The comparison is the `e2e` case of the run_compare
# unit suite (tests/trainer/test_run_compare.c), which reads both checkpoints with
# seal_checkpoint_read and both metrics.jsonl files. The policies differ in the
# last bits only because the gradient all-reduce sums in another order.
set -euo pipefail

build=${1:?usage: seal_ranks.sh BUILD_DIR}
build=$(cd "$build" && pwd)
seal="$build/seal"
job=tests/fixtures/tiny-seal/job.yaml
mpiexec=${MPIEXEC:-mpiexec}
tmp=$(mktemp -d /tmp/seal-e2e-ranks-XXXXXX)
trap 'rm -rf "$tmp"' EXIT

fail() {
  echo "seal_ranks: FAIL: $*" >&2
  exit 1
}

[ -x "$seal" ] || fail "$seal is not built"
[ -x "$build/test_trainer" ] || fail "$build/test_trainer (the comparison) is not built"

# train N DIR: the job on N ranks into DIR; it must finish (exit 0, phase done).
train() {
  local n=$1 dir=$2 status=0
  echo "seal_ranks: seal train on $n rank(s) -> $dir"
  "$mpiexec" --oversubscribe --bind-to none -n "$n" "$seal" train "$job" --output "$dir" \
    >"$dir.log" 2>&1 || status=$?
  [ "$status" -eq 0 ] || { tail -n 30 "$dir.log" >&2; fail "seal train on $n rank(s) exited with $status"; }
  "$seal" inspect "$dir/checkpoint.h5" >"$dir.inspect" || fail "seal inspect $dir/checkpoint.h5"
  grep -qF 'round:      2, phase done' "$dir.inspect" ||
    { cat "$dir.inspect" >&2; fail "the $n-rank run did not finish its 2 rounds"; }
}

# Work must really have been spread: some evaluation ran on a rank other than 0.
check_spread() {
  local n=$1 dir=$2
  grep '"event":"evaluated"' "$dir/metrics.jsonl" | grep -qv '"rank":0[,}]' ||
    fail "the $n-rank run evaluated every self-edit on rank 0; nothing was compared across ranks"
}

# compare A B: the run_compare suite's e2e case.
compare() {
  SEAL_COMPARE_A=$1 SEAL_COMPARE_B=$2 CK_RUN_SUITE=run_compare CK_RUN_CASE=e2e \
    "$build/test_trainer" >"$tmp/compare.txt" 2>&1 ||
    { cat "$tmp/compare.txt" >&2; fail "$2 differs from $1 (above)"; }
  grep '^run_compare:' "$tmp/compare.txt"
}

train 1 "$tmp/np1"
for n in 2 3; do
  train "$n" "$tmp/np$n"
  check_spread "$n" "$tmp/np$n"
  echo "seal_ranks: checking that $n ranks give the 1-rank result"
  compare "$tmp/np1" "$tmp/np$n"
done
echo "seal_ranks: ok"
