#!/usr/bin/env bash
# tests/e2e/seal_fault.sh BUILD_DIR — a self-edit evaluation that fails on every
# attempt costs only its own result (docs/distribution.md: bad input never loses data).
#
# A normal run of the tiny job (tests/fixtures/tiny-seal) on 1 rank picks the item:
# an evaluation (context, sample, repeat) of round 0 that scored 0 in every round it
# ran in (so that its failure cannot change which self-edits the filter keeps, and
# everything after it must stay the same). The job then runs on 2 ranks with the
# test hook testing.fault_evaluate: {context, sample, repeat} (trainer/round.c fails
# that evaluation on every attempt, on whichever rank it lands). Expected: exit status 0; the item's
# checkpoint record and its "evaluated" event have reward 0 and ok 0; every other
# result (texts, rewards, losses, policy tensors) equals the normal run's (the
# run_compare suite's `e2e` case with SEAL_COMPARE_FAULT, tests/trainer/test_run_compare.c).
set -euo pipefail

build=${1:?usage: seal_fault.sh BUILD_DIR}
build=$(cd "$build" && pwd)
seal="$build/seal"
job=tests/fixtures/tiny-seal/job.yaml
mpiexec=${MPIEXEC:-mpiexec}
tmp=$(mktemp -d /tmp/seal-e2e-fault-XXXXXX)
trap 'rm -rf "$tmp"' EXIT

fail() {
  echo "seal_fault: FAIL: $*" >&2
  exit 1
}

[ -x "$seal" ] || fail "$seal is not built"
[ -x "$build/test_trainer" ] || fail "$build/test_trainer (the comparison) is not built"

train() {
  local n=$1 dir=$2 job=${3:-$job} status=0
  "$mpiexec" --oversubscribe --bind-to none -n "$n" "$seal" train "$job" --output "$dir" \
    >"$dir.log" 2>&1 || status=$?
  [ "$status" -eq 0 ] || { tail -n 30 "$dir.log" >&2; fail "seal train on $n rank(s) exited with $status"; }
}

echo "seal_fault: normal run on 1 rank"
train 1 "$tmp/normal"

# The item: round 0's evaluations, later samples and repeats first, the first one
# whose every evaluation (in any round) scored exactly 0.
events="$tmp/normal/metrics.jsonl"
item=""
candidates=$(grep '"event":"evaluated"' "$events" | grep '"round":0,' |
  sed -nE 's/.*"context":([0-9]+),"sample":([0-9]+),"repeat":([0-9]+),.*/\2 \3 \1/p' |
  sort -rn | awk '{print $3 ":" $1 ":" $2}')
[ -n "$candidates" ] || fail "no evaluated events of round 0 in $events"
for c in $candidates; do
  IFS=: read -r ctx smp rep <<<"$c"
  pattern="\"context\":$ctx,\"sample\":$smp,\"repeat\":$rep,"
  if ! grep '"event":"evaluated"' "$events" | grep -F "$pattern" | grep -vqF '"reward":0.0,'; then
    item=$c
    break
  fi
done
[ -n "$item" ] || fail "every evaluation of round 0 scored above 0 somewhere; no item to fail safely"
IFS=: read -r ctx smp rep <<<"$item"
echo "seal_fault: testing.fault_evaluate {context: $ctx, sample: $smp, repeat: $rep}, run on 2 ranks"
cp "$job" "$tmp/fault.yaml"
printf 'testing:\n  fault_evaluate: {context: %d, sample: %d, repeat: %d}\n' "$ctx" "$smp" "$rep" \
  >>"$tmp/fault.yaml"
train 2 "$tmp/fault" "$tmp/fault.yaml"
grep -m1 'failed on rank' "$tmp/fault.log" | sed 's/^/seal_fault:   log: /' || true

pattern="\"round\":0,\"context\":$ctx,\"sample\":$smp,\"repeat\":$rep,"
line=$(grep '"event":"evaluated"' "$tmp/fault/metrics.jsonl" | grep -F "$pattern" || true)
[ -n "$line" ] || fail "no evaluated event for round 0 $item in the faulty run's metrics"
grep -qF '"reward":0.0,"ok":0,' <<<"$line" || fail "the failed item was reported as: $line"
echo "seal_fault:   round 0 $item reported with reward 0, ok 0"

SEAL_COMPARE_FAULT=$item SEAL_COMPARE_A="$tmp/normal" SEAL_COMPARE_B="$tmp/fault" \
  CK_RUN_SUITE=run_compare CK_RUN_CASE=e2e "$build/test_trainer" >"$tmp/compare.txt" 2>&1 ||
  { cat "$tmp/compare.txt" >&2; fail "the faulty run differs from the normal one beyond the failed item (above)"; }
grep '^run_compare:' "$tmp/compare.txt"
echo "seal_fault: ok"
