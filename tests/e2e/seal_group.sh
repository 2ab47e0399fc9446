#!/usr/bin/env bash
# tests/e2e/seal_group.sh BUILD_DIR — batched multi-LoRA inner loops in a run:
# the tiny job with inner_loop.group 4 (each EVALUATE item trains up to 4
# self-edits of a passage together over the shared base) reaches what the
# same job with group 1 reaches: identical self-edit texts and rewards,
# per-item losses within 1e-4 relative, policies within 1e-4 (the shared
# products add up in another order). On 1 and 2 ranks.
set -euo pipefail
build=${1:?usage: seal_group.sh BUILD_DIR}
build=$(cd "$build" && pwd)
seal="$build/seal"
tmp=$(mktemp -d /tmp/seal-e2e-group-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail() {
  echo "seal_group: FAIL: $*" >&2
  exit 1
}
cp tests/fixtures/tiny-seal/job.yaml "$tmp/one.yaml"
sed 's/^  lr: 1.0e-2$/  lr: 1.0e-2\n  group: 4/' tests/fixtures/tiny-seal/job.yaml >"$tmp/group.yaml"
grep -q '^  group: 4$' "$tmp/group.yaml" || fail "could not set inner_loop.group in the test job"
run() {
  local n=$1 job=$2 dir=$3
  mpiexec --oversubscribe --bind-to none -n "$n" "$seal" train "$job" --output "$dir" \
    >"$dir.log" 2>&1 || { tail -20 "$dir.log" >&2; fail "seal train $job on $n rank(s)"; }
}
compare() {
  SEAL_COMPARE_A=$1 SEAL_COMPARE_B=$2 SEAL_COMPARE_LOSS_RTOL=1e-4 SEAL_COMPARE_POLICY_TOL=1e-4 \
    CK_RUN_SUITE=run_compare CK_RUN_CASE=e2e "$build/test_trainer" >"$tmp/compare.txt" 2>&1 ||
    { cat "$tmp/compare.txt" >&2; fail "$2 differs from $1"; }
  grep '^run_compare:' "$tmp/compare.txt"
}
run 1 "$tmp/one.yaml" "$tmp/one"
run 1 "$tmp/group.yaml" "$tmp/group1"
run 2 "$tmp/group.yaml" "$tmp/group2"
items=$(grep -c '"event":"evaluated"' "$tmp/group1/metrics.jsonl")
[ "$items" -eq "$(grep -c '"event":"evaluated"' "$tmp/one/metrics.jsonl")" ] ||
  fail "grouped run recorded $items evaluations, ungrouped another number"
compare "$tmp/one" "$tmp/group1"
compare "$tmp/group1" "$tmp/group2"
echo "seal_group: ok"
