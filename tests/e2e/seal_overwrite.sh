#!/usr/bin/env bash
# tests/e2e/seal_overwrite.sh BUILD_DIR — a finished run is never overwritten by
# accident: `seal train` into a directory that holds a checkpoint is refused
# (naming it and the options) and leaves it byte for byte; --restart starts over
# and keeps the old checkpoint and metrics as .prev; a missing model is refused
# naming the path.
set -euo pipefail
build=${1:?usage: seal_overwrite.sh BUILD_DIR}
seal="$(cd "$build" && pwd)/seal"
job=tests/fixtures/tiny-seal/job.yaml
tmp=$(mktemp -d /tmp/seal-e2e-overwrite-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail() {
  echo "seal_overwrite: FAIL: $*" >&2
  exit 1
}
sed -e 's/^rounds: 2/rounds: 1/' "$job" >"$tmp/job.yaml"
"$seal" train "$tmp/job.yaml" --output "$tmp/run" >"$tmp/first.log" 2>&1 || fail "first run"
sum=$(md5sum <"$tmp/run/checkpoint.h5")
status=0
"$seal" train "$tmp/job.yaml" --output "$tmp/run" >"$tmp/second.log" 2>&1 || status=$?
[ "$status" -ne 0 ] || fail "a second run into the same directory was not refused"
grep -q "checkpoint.h5 exists: pass --resume" "$tmp/second.log" || { cat "$tmp/second.log"; fail "no clear refusal"; }
[ "$(md5sum <"$tmp/run/checkpoint.h5")" = "$sum" ] || fail "the refused run changed the checkpoint"
"$seal" train "$tmp/job.yaml" --output "$tmp/run" --restart >"$tmp/third.log" 2>&1 || fail "--restart"
[ -f "$tmp/run/checkpoint.h5.prev" ] && [ -f "$tmp/run/metrics.jsonl.prev" ] || fail "--restart kept no .prev"
[ "$(grep -c '"event":"round"' "$tmp/run/metrics.jsonl")" -eq 1 ] || fail "metrics of two runs mixed"
sed -e 's|^model: .*|model: /nonexistent/model.gguf|' "$tmp/job.yaml" >"$tmp/nomodel.yaml"
status=0
"$seal" train "$tmp/nomodel.yaml" --output "$tmp/x" >"$tmp/nomodel.log" 2>&1 || status=$?
[ "$status" -ne 0 ] && grep -q "/nonexistent/model.gguf: model not found" "$tmp/nomodel.log" ||
  { cat "$tmp/nomodel.log"; fail "a missing model was not refused clearly"; }
echo "seal_overwrite: ok"
