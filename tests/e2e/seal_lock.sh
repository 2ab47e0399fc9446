#!/usr/bin/env bash
# tests/e2e/seal_lock.sh BUILD_DIR — one run directory, one run at a time (issue
# 11): while `seal train` runs into DIR, a second `seal train` (with --resume,
# so the existing checkpoint is no obstacle) and a `seal eval` into DIR fail at
# once, naming DIR and the PID of the run that holds it (the first run is held
# with SIGSTOP meanwhile, so the job can be short); the first run is not
# disturbed (its metrics have its own events only) and, once it has ended, the
# directory is free again.
set -euo pipefail
build=${1:?usage: seal_lock.sh BUILD_DIR}
seal="$(cd "$build" && pwd)/seal"
tmp=$(mktemp -d /tmp/seal-e2e-lock-XXXXXX)
bg=""
cleanup() {
  if [ -n "$bg" ]; then kill -KILL "$bg" 2>/dev/null || true; fi # KILL ends a stopped one too
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() {
  echo "seal_lock: FAIL: $*" >&2
  exit 1
}
[ -x "$seal" ] || fail "$seal is not built"
cp tests/fixtures/tiny-seal/job.yaml "$tmp/job.yaml"
run="$tmp/run"

"$seal" train "$tmp/job.yaml" --output "$run" >"$tmp/first.log" 2>&1 &
bg=$!
for _ in $(seq 200); do
  grep -q "^PID $bg on " "$run/seal.lock" 2>/dev/null && break
  sleep 0.05
done
grep -q "^PID $bg on " "$run/seal.lock" 2>/dev/null || fail "the first run wrote no PID into seal.lock"
# Stopped, the first run holds the lock for as long as the attempts take, and
# continues afterwards: no need for a long job (the test runs under ASan too).
kill -STOP "$bg"

# second COMMAND...: must fail fast with the directory and the holder named.
second() {
  local name=$1 status=0 t0=$SECONDS
  shift
  "$seal" "$@" >"$tmp/$name.log" 2>&1 || status=$?
  kill -0 "$bg" 2>/dev/null || fail "the first run ended before the $name attempt was refused"
  [ "$status" -eq 1 ] || { cat "$tmp/$name.log" >&2; fail "$name: exit status $status, expected 1"; }
  grep -qF "$run is in use by another seal run (PID $bg on " "$tmp/$name.log" ||
    { cat "$tmp/$name.log" >&2; fail "$name: no message naming the directory and PID $bg"; }
  [ $((SECONDS - t0)) -le 20 ] || fail "$name: took $((SECONDS - t0)) s to refuse"
}
second train train "$tmp/job.yaml" --output "$run" --resume
second eval eval "$tmp/job.yaml" --output "$run"
kill -CONT "$bg"

status=0
wait "$bg" || status=$?
bg=""
[ "$status" -eq 0 ] || { tail -n 20 "$tmp/first.log" >&2; fail "the first run exited $status"; }
[ "$(grep -c '"event":"round"' "$run/metrics.jsonl")" -eq 2 ] || fail "metrics of two runs mixed"
# Free again: a resume of the finished run takes the lock and finishes at once.
"$seal" train "$tmp/job.yaml" --output "$run" --resume >"$tmp/after.log" 2>&1 ||
  { cat "$tmp/after.log" >&2; fail "the directory stayed locked after the run ended"; }
echo "seal_lock: ok"
