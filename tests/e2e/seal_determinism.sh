#!/usr/bin/env bash
# tests/e2e/seal_determinism.sh BUILD_DIR — a work item's result does not depend
# on where it runs (docs/architecture.md, "Determinism"; issue 11): 2-rank runs of the tiny job whose
# ranks would run items with different OpenMP thread counts equal, bit for bit
# (run_compare, tolerances 0), a 2-rank run where every rank has the same count.
# The CPU kernels' bits depend on the thread count (OpenBLAS's GEMMs split the
# work by it), so seal makes every item run with the same count:
#   reference  OMP_NUM_THREADS=P on both ranks (P: what seal gives each of 2
#              ranks of this machine when the user does not choose);
#   unset      OMP_NUM_THREADS unset: seal shares the cores (P each); rank 0's
#              work-queue helper thread, which runs rank 0's items, used to
#              start with the process default (all cores) instead;
#   mixed      rank 0 with P+1 threads, rank 1 with P (one mpiexec, two app
#              contexts): every rank takes the fewest, P.
set -euo pipefail
build=${1:?usage: seal_determinism.sh BUILD_DIR}
build=$(cd "$build" && pwd)
seal="$build/seal"
mpiexec=${MPIEXEC:-mpiexec}
job=tests/fixtures/tiny-seal/job.yaml
tmp=$(mktemp -d /tmp/seal-e2e-determinism-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail() {
  echo "seal_determinism: FAIL: $*" >&2
  exit 1
}
[ -x "$seal" ] || fail "$seal is not built"
[ -x "$build/test_trainer" ] || fail "$build/test_trainer (the comparison) is not built"
cores=$(getconf _NPROCESSORS_ONLN) # what seal divides (sysconf), not the affinity mask
per=$((cores / 2))
[ "$per" -ge 1 ] || per=1
flags=(--oversubscribe --bind-to none)

run() {
  local name=$1
  shift
  "$@" >"$tmp/$name.log" 2>&1 || { tail -n 20 "$tmp/$name.log" >&2; fail "the $name run failed"; }
  grep -q '"event":"evaluated".*"rank":0' "$tmp/$name/metrics.jsonl" ||
    fail "$name: rank 0 ran no item, so its helper thread was not exercised"
}
compare() {
  SEAL_COMPARE_POLICY_TOL=0 SEAL_COMPARE_LOSS_RTOL=0 SEAL_COMPARE_A="$tmp/reference" \
    SEAL_COMPARE_B="$tmp/$1" CK_RUN_SUITE=run_compare CK_RUN_CASE=e2e "$build/test_trainer" \
    >"$tmp/compare-$1.txt" 2>&1 ||
    { head -n 30 "$tmp/compare-$1.txt" >&2; fail "the $1 run differs from the reference"; }
  echo "seal_determinism: $1 = reference, bit for bit"
}

echo "seal_determinism: $cores cores, $per thread(s) per rank"
run reference env OMP_NUM_THREADS="$per" "$mpiexec" "${flags[@]}" -n 2 \
  "$seal" train "$job" --output "$tmp/reference"
run unset env -u OMP_NUM_THREADS "$mpiexec" "${flags[@]}" -n 2 \
  "$seal" train "$job" --output "$tmp/unset"
compare unset
run mixed env -u OMP_NUM_THREADS "$mpiexec" "${flags[@]}" \
  -n 1 -x OMP_NUM_THREADS=$((per + 1)) "$seal" train "$job" --output "$tmp/mixed" : \
  -n 1 -x OMP_NUM_THREADS="$per" "$seal" train "$job" --output "$tmp/mixed"
compare mixed
echo "seal_determinism: ok"
