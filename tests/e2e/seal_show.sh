#!/usr/bin/env bash
# tests/e2e/seal_show.sh BUILD_DIR — `seal show` prints, as JSON lines, exactly
# what a knowledge self-edit trains on and what the adapted model is asked. The
# fixtures (tests/fixtures/tiny-seal/show-*.jsonl) hold the expected lines for
# the tiny job: context 0 without a self-edit (the fixed condition: the passage
# alone) and with tests/fixtures/tiny-seal/selfedit.txt (a preamble line that is
# dropped, two numbered lines, a `---` and one more line: three sequences
# "{title}\n{line}" and the passage last). Their texts are the reference's
# formats (evaluator/prompts.c, evaluator/selfedit.h); the token counts are the
# tiny tokenizer's. Also: an unusable self-edit is reported with its reason, and
# a context out of range is refused naming the split's size.
set -euo pipefail
build=${1:?usage: seal_show.sh BUILD_DIR}
seal="$build/seal"
job=tests/fixtures/tiny-seal/job.yaml
fix=tests/fixtures/tiny-seal
tmp=$(mktemp -d /tmp/seal-e2e-show-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail() {
  echo "seal_show: FAIL: $*" >&2
  exit 1
}
same() {
  diff -u "$1" "$2" >"$tmp/diff" || { cat "$tmp/diff" >&2; fail "$2 differs from the fixture $1"; }
}
"$seal" show "$job" --context 0 >"$tmp/passage.jsonl" || fail "seal show --context 0"
same "$fix/show-passage.jsonl" "$tmp/passage.jsonl"
"$seal" show "$job" --split eval --context 0 --selfedit "$fix/selfedit.txt" >"$tmp/selfedit.jsonl" ||
  fail "seal show --selfedit"
same "$fix/show-selfedit.jsonl" "$tmp/selfedit.jsonl"
printf -- '---\n\n---\n' >"$tmp/empty.txt"
"$seal" show "$job" --context 0 --selfedit "$tmp/empty.txt" >"$tmp/empty.jsonl" ||
  fail "seal show with an unusable self-edit"
grep -q '"what":"plan","condition":"selfedit","ok":false,"reason":"the self-edit has no line to train on"' \
  "$tmp/empty.jsonl" || { cat "$tmp/empty.jsonl" >&2; fail "the unusable self-edit's plan"; }
status=0
"$seal" show "$job" --context 6 >/dev/null 2>"$tmp/err.txt" || status=$?
[ "$status" -eq 2 ] || fail "--context 6 exited with $status, expected 2"
grep -qF 'the train split of task knowledge has 6 contexts (0 to 5)' "$tmp/err.txt" ||
  { cat "$tmp/err.txt" >&2; fail "the refusal does not name the split's size"; }
echo "seal_show: ok"
