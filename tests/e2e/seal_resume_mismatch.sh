#!/usr/bin/env bash
# tests/e2e/seal_resume_mismatch.sh BUILD_DIR — `seal train --resume` continues a
# checkpoint only with the job and model that made it (issue 11; the rule is in
# docs/running.md, "What --resume compares"):
# 1. Extending a finished 1-round run to 2 rounds (rounds may change) equals an
#    uninterrupted 2-round run bit for bit (run_compare, tolerances 0).
# 2. Refused, exit 1, every difference listed, the checkpoint left byte for byte:
#    another k and seed (both listed), another inner_loop.group, the training
#    data changed in place, a model of the same shape with one weight changed.
# 3. Allowed: the run directory, model and data moved (other paths, same bytes).
set -euo pipefail
build=${1:?usage: seal_resume_mismatch.sh BUILD_DIR}
build=$(cd "$build" && pwd)
seal="$build/seal"
tmp=$(mktemp -d /tmp/seal-e2e-mismatch-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail() {
  echo "seal_resume_mismatch: FAIL: $*" >&2
  exit 1
}
[ -x "$seal" ] || fail "$seal is not built"
fixture=tests/fixtures/tiny-seal
cp -r "$fixture" "$tmp/model"
cp "$fixture/data.json" "$tmp/data.json"
# The job on copies of the model and data, so that the test can change them.
sed -e "s|^model: .*|model: $tmp/model|" -e "s|^  train: .*|  train: $tmp/data.json|" \
  "$fixture/job.yaml" >"$tmp/job2.yaml"
sed -e 's/^rounds: 2/rounds: 1/' "$tmp/job2.yaml" >"$tmp/job1.yaml"
grep -q "^rounds: 1" "$tmp/job1.yaml" && grep -q "^model: $tmp/model" "$tmp/job1.yaml" ||
  fail "could not edit the fixture's job"

train() {
  local log=$1
  shift
  "$seal" train "$@" >"$log" 2>&1 || { tail -n 20 "$log" >&2; fail "seal train $* failed"; }
}

# 1. extension
train "$tmp/ref.log" "$tmp/job2.yaml" --output "$tmp/ref"
train "$tmp/ext1.log" "$tmp/job1.yaml" --output "$tmp/ext"
train "$tmp/ext2.log" "$tmp/job2.yaml" --output "$tmp/ext" --resume
SEAL_COMPARE_POLICY_TOL=0 SEAL_COMPARE_LOSS_RTOL=0 SEAL_COMPARE_A="$tmp/ref" \
  SEAL_COMPARE_B="$tmp/ext" CK_RUN_SUITE=run_compare CK_RUN_CASE=e2e "$build/test_trainer" \
  >"$tmp/compare.txt" 2>&1 ||
  { cat "$tmp/compare.txt" >&2; fail "the extended run differs from the uninterrupted one"; }

# 2. refusals: refused NAME JOB EXPECTED...
sum=$(md5sum <"$tmp/ext/checkpoint.h5")
refused() {
  local name=$1 job=$2 status=0
  shift 2
  "$seal" train "$job" --output "$tmp/ext" --resume >"$tmp/$name.log" 2>&1 || status=$?
  [ "$status" -eq 1 ] || { cat "$tmp/$name.log" >&2; fail "$name: exit status $status, expected 1"; }
  grep -q "checkpoint.h5: the checkpoint was made by another job or model" "$tmp/$name.log" ||
    { cat "$tmp/$name.log" >&2; fail "$name: no clear refusal"; }
  for want in "$@"; do
    grep -qF "$want" "$tmp/$name.log" || { cat "$tmp/$name.log" >&2; fail "$name: '$want' not listed"; }
  done
  [ "$(md5sum <"$tmp/ext/checkpoint.h5")" = "$sum" ] || fail "$name: the refused resume changed the checkpoint"
}
sed -e 's/^  k: 2/  k: 3/' -e 's/^seed: 7/seed: 8/' "$tmp/job2.yaml" >"$tmp/k3.yaml"
refused k_and_seed "$tmp/k3.yaml" "(2 differences)" "selfedit.k: 2 in the checkpoint, 3 in the job" \
  "seed: 7 in the checkpoint, 8 in the job"
sed -e 's/^  batch_size: 1/  batch_size: 1\n  group: 2/' "$tmp/job2.yaml" >"$tmp/group.yaml"
refused group "$tmp/group.yaml" "inner_loop.group: 1 in the checkpoint, 2 in the job"
cp "$tmp/data.json" "$tmp/data.orig"
sed -i '0,/Saltworks/s//Saltwerks/' "$tmp/data.json"
cmp -s "$tmp/data.json" "$tmp/data.orig" && fail "could not change the data"
refused data "$tmp/job2.yaml" "data.train's hash (fnv1a64)"
cp "$tmp/data.orig" "$tmp/data.json"
cp "$tmp/model/model.safetensors" "$tmp/weights.orig"
size=$(stat -c %s "$tmp/model/model.safetensors")
printf '\x3f' | dd of="$tmp/model/model.safetensors" bs=1 seek=$((size - 3)) conv=notrunc status=none
refused model "$tmp/job2.yaml" "the model files' hash (fnv1a64)"
cp "$tmp/weights.orig" "$tmp/model/model.safetensors"
rm "$tmp/weights.orig"

# 3. moved: the run directory, model and data under other paths
mv "$tmp/ext" "$tmp/moved-run"
mv "$tmp/model" "$tmp/moved-model"
mv "$tmp/data.json" "$tmp/moved-data.json"
sed -e "s|^model: .*|model: $tmp/moved-model|" -e "s|^  train: .*|  train: $tmp/moved-data.json|" \
  -e 's/^rounds: 2/rounds: 3/' "$tmp/job2.yaml" >"$tmp/moved.yaml"
train "$tmp/moved.log" "$tmp/moved.yaml" --output "$tmp/moved-run" --resume
"$seal" inspect "$tmp/moved-run/checkpoint.h5" | grep -qF 'round:      3, phase done' ||
  fail "the moved run did not continue to round 3"
echo "seal_resume_mismatch: ok"
