#!/usr/bin/env bash
# tests/e2e/checkpoint_h5dump.sh BUILD_DIR — a checkpoint as a user meets it:
# `h5dump -H` shows the layout of docs/checkpoint.md, `seal inspect` prints the
# summary, and damaged or foreign files are refused with a message naming them
# (exit status 1, nothing on stdout). The checkpoint comes from the checkpoint
# unit suite's export case, so no test-only executable is needed.
set -euo pipefail

build=${1:?usage: checkpoint_h5dump.sh BUILD_DIR}
seal="$build/seal"
tmp=$(mktemp -d /tmp/seal-e2e-checkpoint-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
ckpt="$tmp/checkpoint.h5"

fail() {
  echo "checkpoint_h5dump: FAIL: $*" >&2
  exit 1
}

# expect FILE PATTERN...: every fixed string appears in FILE.
expect() {
  local file=$1
  shift
  for pattern in "$@"; do
    grep -qF -- "$pattern" "$file" || { cat "$file" >&2; fail "'$pattern' missing from $file"; }
  done
}

SEAL_CHECKPOINT_OUT="$ckpt" CK_RUN_SUITE=checkpoint CK_RUN_CASE=export \
  "$build/test_trainer" >"$tmp/unit.txt" 2>&1 || { cat "$tmp/unit.txt" >&2; fail "export case"; }
[ -s "$ckpt" ] || fail "the export case wrote no checkpoint at $ckpt"

# ---- h5dump -H: the structure, with types and shapes -----------------------------
if command -v h5dump >/dev/null 2>&1; then
  h5dump -H "$ckpt" >"$tmp/h5dump.txt" || fail "h5dump -H failed"
  expect "$tmp/h5dump.txt" \
    'ATTRIBUTE "format"' 'ATTRIBUTE "version"' 'ATTRIBUTE "seal_version"' \
    'ATTRIBUTE "created"' 'ATTRIBUTE "job_yaml"' 'ATTRIBUTE "run_seed"' \
    'ATTRIBUTE "world_size"' 'ATTRIBUTE "round"' 'ATTRIBUTE "phase"' \
    'GROUP "model"' 'ATTRIBUTE "base_sha256"' \
    'GROUP "policy"' 'GROUP "round_1"' \
    'DATASET "base_model.model.model.layers.1.self_attn.v_proj.lora_B.weight"' \
    'SIMPLE { ( 32, 4 ) / ( 32, 4 ) }' \
    'GROUP "optimizer"' 'GROUP "m"' 'GROUP "v"' 'ATTRIBUTE "step"' 'ATTRIBUTE "lr"' \
    'DATASET "rng"' 'H5T_ARRAY { [4] H5T_STD_U64LE } "state"' \
    'DATASET "rounds"' 'H5T_IEEE_F64LE "mean_reward"' \
    'GROUP "selfedits"' 'DATASET "round_2"' 'H5T_IEEE_F64LE "reward"' 'STRSIZE H5T_VARIABLE' \
    'H5T_IEEE_F64LE "label_reward"' 'H5T_STD_I32LE "attempts"'
  # the values of attributes, readably
  h5dump -a /format "$ckpt" >"$tmp/format.txt" || fail "h5dump -a /format failed"
  expect "$tmp/format.txt" '"seal-checkpoint"'
else
  echo "checkpoint_h5dump: h5dump not found, layout check skipped" >&2
fi

# ---- seal inspect ---------------------------------------------------------------------
"$seal" inspect "$ckpt" >"$tmp/inspect.txt" 2>"$tmp/inspect.err" ||
  { cat "$tmp/inspect.err" >&2; fail "seal inspect exited with $? (is inspect in cmd/commands.c?)"; }
expect "$tmp/inspect.txt" \
  'format:     seal-checkpoint version 2' 'round:      2, phase evaluate' 'world size: 3' \
  'round contexts mean_reward  kept accuracy   seconds' \
  '      1       50      0.3750    44   0.4100    1234.5' \
  'round_0: 4 tensors, 1280 parameters' 'AdamW step 17' \
  'round_0: 2 records, 2 evaluated, mean reward 0.4000, 1 unusable'

"$seal" inspect "$ckpt" --selfedits 0 >"$tmp/selfedits.txt" || fail "seal inspect --selfedits 0"
expect "$tmp/selfedits.txt" 'context 3 sample 1 repeat 2: reward 0.2000' '    And B.' \
  'metrics {"em":0.5,"f1":0.7}, 12 examples' '3 attempts, unusable: no JSON object'
# the metrics column by name, and the reason, as text in h5dump
if command -v h5dump >/dev/null 2>&1; then
  h5dump -d /selfedits/round_0 "$ckpt" >"$tmp/round0.txt" || fail "h5dump -d /selfedits/round_0"
  expect "$tmp/round0.txt" '"{"em":0.5,"f1":0.7}"' '"no JSON object"'
fi

"$seal" inspect --help | grep -q 'usage: seal inspect' || fail "seal inspect --help"

# refused: exit 1, the file named on stderr, nothing on stdout
refused() {
  local file=$1 why=$2 status=0
  "$seal" inspect "$file" >"$tmp/out.txt" 2>"$tmp/err.txt" || status=$?
  [ "$status" -eq 1 ] || fail "seal inspect $file exited with $status, expected 1"
  [ ! -s "$tmp/out.txt" ] || fail "seal inspect $file printed a summary of a bad file"
  expect "$tmp/err.txt" "$file" "$why"
}
head -c 4000 "$ckpt" >"$tmp/truncated.h5"
refused "$tmp/truncated.h5" "truncated"
echo "not a checkpoint" >"$tmp/garbage.h5"
refused "$tmp/garbage.h5" "not a seal checkpoint"
refused "$tmp/missing.h5" "No such file"

status=0
"$seal" inspect >/dev/null 2>&1 || status=$?
[ "$status" -eq 2 ] || fail "seal inspect without a file exited with $status, expected 2"

echo "checkpoint_h5dump: ok"
