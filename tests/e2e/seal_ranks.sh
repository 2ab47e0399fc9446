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
source "$(dirname "$0")/lib.bash"
e2e_init seal_ranks "${1:-}"

job="$tmp/job.yaml"
# 20 inner-loop epochs instead of 2: an item then outlasts the start-up skew of
# the ranks, so the work really spreads (with 2 epochs rank 0 can finish a
# phase before a busy machine has even started rank 1).
# Under the sanitizers (SEAL_SANITIZE=1) every step is several times slower: 8 do.
epochs=20
[ "${SEAL_SANITIZE:-0}" = 1 ] && epochs=8
sed "s/^  epochs: 2\$/  epochs: $epochs/" tests/fixtures/tiny-seal/job.yaml >"$job"
grep -q "^  epochs: $epochs\$" "$job" || fail "could not set inner_loop.epochs"

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
  say "$1 kept every item on rank 0; items per rank and its warnings:" >&2
  grep -E '"event":"(evaluated|generated)"' "$1/metrics.jsonl" | grep -o '"rank":[0-9]*' |
    sort | uniq -c >&2
  grep -E 'over [0-9]+ rank|warn|failed' "$1.log" | head -n 20 >&2 || true
}

train_to_end 1 "$job" "$tmp/np1" 2
spread_runs=0
for n in 2 3; do
  train_to_end "$n" "$job" "$tmp/np$n" 2
  if spread "$tmp/np$n"; then spread_runs=$((spread_runs + 1)); else explain_no_spread "$tmp/np$n"; fi
  say "checking that $n ranks give the 1-rank result"
  compare "$tmp/np1" "$tmp/np$n"
done
for again in 1 2; do
  [ "$spread_runs" -eq 0 ] || break
  say "neither multi-rank run spread its work; 2 ranks again (try $again of 2)"
  rm -rf "$tmp/np2" "$tmp/np2.log"
  train_to_end 2 "$job" "$tmp/np2" 2
  if spread "$tmp/np2"; then spread_runs=1; else explain_no_spread "$tmp/np2"; fi
  compare "$tmp/np1" "$tmp/np2"
done
[ "$spread_runs" -gt 0 ] ||
  fail "every multi-rank run did every item on rank 0; nothing was compared across ranks"
say "ok ($spread_runs multi-rank run(s) spread work beyond rank 0)"
