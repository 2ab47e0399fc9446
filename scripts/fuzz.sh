#!/usr/bin/env bash
# scripts/fuzz.sh BUILD_DIR SECONDS [HARNESS...] — runs each libFuzzer harness
# of tests/fuzz/harnesses.txt (or those named) for SECONDS, one after another,
# with a memory limit (any single allocation above it is a finding too) and a
# time limit per input. The working corpus grows in BUILD_DIR/fuzz-corpus/NAME,
# seeded from the harness's fixtures and tests/fuzz/corpus/NAME; crashes, hangs
# and out-of-memory inputs are saved in tests/fuzz/crashes/NAME/ (replayed by
# `make test` once committed). Prints one summary line per harness and exits
# non-zero when any harness found something.
# A harness marked `manual` in harnesses.txt (one whose target crashes in a
# library seal cannot fix: docs/testing.md) runs only when named. It runs in
# libFuzzer's fork mode, going on past crashes, timeouts and out-of-memory
# inputs, which land in BUILD_DIR/fuzz-findings/NAME/ for triage rather than
# in tests/fuzz/crashes.
#   FUZZ_RSS_MB (default 2048), FUZZ_TIMEOUT (seconds per input, default 10),
#   FUZZ_MAX_LEN (bytes, default: libFuzzer's choice from the seeds).
set -uo pipefail
build=${1:?usage: fuzz.sh BUILD_DIR SECONDS [HARNESS...]}
seconds=${2:?usage: fuzz.sh BUILD_DIR SECONDS [HARNESS...]}
shift 2
root=$(cd "$(dirname "$0")/.." && pwd)
rss=${FUZZ_RSS_MB:-2048}
timeout=${FUZZ_TIMEOUT:-10}
mapfile -t lines < <(grep -E '^[a-z0-9_]+ ' "$root/tests/fuzz/harnesses.txt")
status=0
for line in "${lines[@]}"; do
  name=${line%% *}
  head=${line%%:*}
  manual=0
  [[ $head == *" manual" ]] && manual=1
  if [[ $# -gt 0 ]] && ! printf '%s\n' "$@" | grep -qx "$name"; then continue; fi
  if [[ $# -eq 0 && $manual -eq 1 ]]; then
    echo "fuzz_$name: manual, skipped (FUZZ_TARGETS=$name runs it)"
    continue
  fi
  bin="$build/fuzz_$name"
  [[ -x "$bin" ]] || { echo "fuzz: $bin is missing (make fuzz builds it)" >&2; exit 1; }
  corpus="$build/fuzz-corpus/$name"
  crashes="$root/tests/fuzz/crashes/$name"
  [[ $manual -eq 1 ]] && crashes="$build/fuzz-findings/$name"
  mkdir -p "$corpus" "$crashes"
  # Seeds: the fixtures the harness lists, copied once into the working corpus.
  (cd "$root" && for f in ${line#*:}; do [[ -f "$f" ]] && cp -n "$f" "$corpus/$(echo "$f" | tr / _)"; done)
  extra=()
  [[ -n "${FUZZ_MAX_LEN:-}" ]] && extra+=(-max_len="$FUZZ_MAX_LEN")
  [[ $manual -eq 1 ]] && extra+=(-fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1)
  log="$build/fuzz-$name.log"
  before=$(ls "$crashes" | wc -l)
  (cd "$root" && "$bin" "$corpus" "$root/tests/fuzz/corpus/$name" -max_total_time="$seconds" \
    -rss_limit_mb="$rss" -malloc_limit_mb="$rss" -timeout="$timeout" -print_final_stats=1 \
    -artifact_prefix="$crashes/" "${extra[@]}" >"$log" 2>&1)
  rc=$?
  after=$(ls "$crashes" | wc -l)
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  # fork mode prints no final stats: the last status line's count then
  [[ -z "$execs" ]] && execs=$(grep -oE '^#[0-9]+' "$log" | tail -1 | tr -d '#')
  cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1)
  echo "fuzz_$name: ${seconds}s, ${execs:-?} executions, ${cov:-cov: ?}, corpus $(ls "$corpus" | wc -l), new findings $((after - before)) (exit $rc, log $log)"
  [[ $rc -eq 0 && $after -eq $before ]] || status=1
done
exit $status
