#!/usr/bin/env bash
# tests/e2e/seal_ranks.sh BUILD_DIR — a SEAL run does not depend on the number of
# MPI ranks (docs/distribution.md): the tiny job (tests/fixtures/tiny-seal, a random
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
job=$(mktemp /tmp/seal-e2e-ranks-job-XXXXXX.yaml)
# 20 inner-loop epochs instead of 2: an item then outlasts the start-up skew of
# the ranks, so the work really spreads (with 2 epochs rank 0 can finish a
# phase before a busy machine has even started rank 1).
sed 's/^  epochs: 2$/  epochs: 20/' tests/fixtures/tiny-seal/job.yaml >"$job"
grep -q '^  epochs: 20$' "$job" || { echo "seal_ranks: FAIL: could not set inner_loop.epochs" >&2; exit 1; }
mpiexec=${MPIEXEC:-mpiexec}
tmp=$(mktemp -d /tmp/seal-e2e-ranks-XXXXXX)
trap 'rm -rf "$tmp" "$job"' EXIT

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

# Work must really have been spread: some item ran on a rank other than 0.
# Which rank takes an item depends on scheduling (on a loaded machine a worker
# may start late, and a failed attempt is retried on another rank, often rank
# 0), so one run may keep everything on rank 0 by chance; the 2-rank run is
# then repeated, and only runs that never spread fail the test.
spread() {
  grep -E '"event":"(evaluated|generated)"' "$1/metrics.jsonl" | grep -qv '"rank":0[,}]'
}

# What a run that did not spread did, for whoever reads a failure.
explain_no_spread() {
  echo "seal_ranks: $1 kept every item on rank 0; items per rank and its warnings:" >&2
  grep -E '"event":"(evaluated|generated)"' "$1/metrics.jsonl" | grep -o '"rank":[0-9]*' |
    sort | uniq -c >&2
  grep -E 'over [0-9]+ rank|warn|failed' "$1.log" | head -n 20 >&2 || true
}

# compare A B: the run_compare suite's e2e case.
compare() {
  SEAL_COMPARE_A=$1 SEAL_COMPARE_B=$2 CK_RUN_SUITE=run_compare CK_RUN_CASE=e2e \
    "$build/test_trainer" >"$tmp/compare.txt" 2>&1 ||
    { cat "$tmp/compare.txt" >&2; fail "$2 differs from $1 (above)"; }
  grep '^run_compare:' "$tmp/compare.txt"
}

train 1 "$tmp/np1"
spread_runs=0
for n in 2 3; do
  train "$n" "$tmp/np$n"
  if spread "$tmp/np$n"; then spread_runs=$((spread_runs + 1)); else explain_no_spread "$tmp/np$n"; fi
  echo "seal_ranks: checking that $n ranks give the 1-rank result"
  compare "$tmp/np1" "$tmp/np$n"
done
for again in 1 2; do
  [ "$spread_runs" -eq 0 ] || break
  echo "seal_ranks: neither multi-rank run spread its work; 2 ranks again (try $again of 2)"
  rm -rf "$tmp/np2"
  train 2 "$tmp/np2"
  if spread "$tmp/np2"; then spread_runs=1; else explain_no_spread "$tmp/np2"; fi
  compare "$tmp/np1" "$tmp/np2"
done
[ "$spread_runs" -gt 0 ] ||
  fail "every multi-rank run did every item on rank 0; nothing was compared across ranks"
echo "seal_ranks: ok ($spread_runs multi-rank run(s) spread work beyond rank 0)"
