#!/usr/bin/env bash
# tests/e2e/hostile_cli.sh BUILD_DIR — what a careless user types (issue 11):
# non-finite numbers on the command line, /dev/zero or a FIFO as a prompt,
# text or job file (standard input's cap is tested in tests/util: reading a
# GiB of /dev/zero takes too long under ASan), and a prompt longer than the
# model's context window (the tiny SEAL model with max_position_embeddings 16). Each must end at once with
# a clear error, not run for minutes, block, or grow without bound; the window
# is kept unless --truncate left asks to drop the prompt's oldest tokens.
set -euo pipefail

build=${1:?usage: hostile_cli.sh BUILD_DIR}
seal="$build/seal"

fail() {
  echo "hostile_cli: FAIL: $*" >&2
  exit 1
}

[ -x "$seal" ] || fail "$seal is not an executable (build the seal target first)"
tmp=$(mktemp -d /tmp/seal-e2e-hostile-XXXXXX)
trap 'rm -rf "$tmp"' EXIT

cp -r tests/fixtures/tiny-seal "$tmp/model"
sed -i 's/"max_position_embeddings": 1024/"max_position_embeddings": 16/' "$tmp/model/config.json"
grep -q '"max_position_embeddings": 16' "$tmp/model/config.json" || fail "could not set the window"
mkfifo "$tmp/fifo"
long="the passage the passage the passage the passage the passage the passage the passage"

# expect_error WHAT PATTERN CMD...: CMD fails within 20 s, its stderr matching PATTERN.
expect_error() {
  local what=$1 pattern=$2
  shift 2
  local rc=0
  timeout 20 "$@" >"$tmp/out" 2>"$tmp/err" || rc=$?
  [ $rc -ne 0 ] || fail "$what: accepted (exit 0): $(cat "$tmp/out")"
  [ $rc -ne 124 ] || fail "$what: still running after 20 s"
  grep -q -- "$pattern" "$tmp/err" || fail "$what: expected '$pattern' in: $(cat "$tmp/err")"
}

gen=("$seal" generate --model "$tmp/model" --device cpu)
expect_error "--temperature nan" "expected a finite number" "${gen[@]}" --prompt hi --temperature nan
expect_error "--top-p nan" "expected a finite number" "${gen[@]}" --prompt hi --top-p nan
expect_error "--temperature inf" "expected a finite number" "${gen[@]}" --prompt hi --temperature inf
expect_error "--top-p -nan" "expected a finite number" "${gen[@]}" --prompt hi --top-p -nan
expect_error "/dev/zero prompt" "/dev/zero: not a regular file" "${gen[@]}" --prompt-file /dev/zero
expect_error "FIFO prompt" "not a regular file (a FIFO)" "${gen[@]}" --prompt-file "$tmp/fifo"
expect_error "/dev/zero text" "/dev/zero: not a regular file" \
  "$seal" score --model "$tmp/model" --device cpu --text /dev/zero
expect_error "/dev/zero job" "/dev/zero: not a regular file" "$seal" train /dev/zero --output "$tmp/run"
expect_error "FIFO job" "not a regular file (a FIFO)" "$seal" train "$tmp/fifo" --output "$tmp/run"

# The context window: refused, or truncated when asked.
expect_error "prompt beyond the window" "beyond the model's context window of 16" \
  "${gen[@]}" --prompt "$long" --max-tokens 4
grep -q -- "--truncate left" "$tmp/err" || fail "the window error does not suggest --truncate left"
expect_error "--max-tokens beyond the window" "context window of 16" \
  "${gen[@]}" --prompt "hi" --max-tokens 16 --truncate left
timeout 20 "${gen[@]}" --prompt "$long" --max-tokens 4 --truncate left >"$tmp/out" 2>"$tmp/err" ||
  fail "--truncate left: $(cat "$tmp/err")"
expect_error "--window beyond the context" "--window 32 is beyond the model's context window of 16" \
  "$seal" score --model "$tmp/model" --device cpu --text "$tmp/model/config.json" --window 32
echo "$long" >"$tmp/long.txt"
timeout 20 "$seal" score --model "$tmp/model" --device cpu --text "$tmp/long.txt" --quiet \
  >"$tmp/out" 2>"$tmp/err" || fail "score in windows of the context: $(cat "$tmp/err")"
grep -q "perplexity" "$tmp/out" || fail "score printed no summary: $(cat "$tmp/out")"

echo "hostile_cli: ok"
