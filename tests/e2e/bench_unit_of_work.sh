#!/usr/bin/env bash
# tests/e2e/bench_unit_of_work.sh BUILD_DIR — `seal bench --unit-of-work`, SEAL's unit
# of work (one knowledge self-edit evaluation from a fixture), on the tiny random
# model (tests/fixtures/tiny-seal) and its fixture:
#  - the JSON record has the timings and the shape, and the shape is the fixture's
#    (steps = epochs x examples at batch 1; loss tokens = tokens - one per example
#    and epoch; --epochs replaces the fixture's epochs);
#  - a malformed fixture fails (non-zero exit) with FILE: FIELD in the message: a bad
#    value, a missing key, an example text that is not what the domain builds.
set -euo pipefail

build=${1:?usage: bench_unit_of_work.sh BUILD_DIR}
seal="$build/seal"
model=tests/fixtures/tiny-seal
fixture=$model/unit-of-work.json

fail() {
  echo "bench_unit_of_work: FAIL: $*" >&2
  exit 1
}

[ -x "$seal" ] || fail "$seal is not built"
tmp=$(mktemp -d /tmp/seal-e2e-uow-XXXXXX)
trap 'rm -rf "$tmp"' EXIT

uow() { "$seal" bench --model "$model" --device cpu --json --repeats 1 --unit-of-work "$@"; }

uow "$fixture" >"$tmp/out.json" 2>"$tmp/err.txt" || { cat "$tmp/err.txt" >&2; fail "exited $?"; }
uow "$fixture" --epochs 1 >"$tmp/one.json" 2>"$tmp/err.txt" ||
  { cat "$tmp/err.txt" >&2; fail "--epochs 1 exited $?"; }
python3 - "$tmp/out.json" "$tmp/one.json" "$fixture" <<'PY' || fail "the record is not as expected"
import json, sys
r, one, fx = (json.load(open(p)) for p in sys.argv[1:])
for key in ("train_s", "answer_s", "steps", "examples", "tokens", "loss_tokens", "base_loss",
            "first_loss", "last_loss", "questions", "correct", "answers", "example_ids",
            "prompt_ids"):
    assert key in r, f"no {key} in {sorted(r)}"
assert r["name"] == "unit_of_work" and r["train_s"] > 0 and r["answer_s"] > 0, r
epochs, n = fx["inner_loop"]["epochs"], r["examples"]
# the tiny fixture's self-edit: 3 lines and the passage
assert n == 4 and r["steps"] == epochs * n, (n, r["steps"])
assert r["tokens"] == epochs * sum(len(x) for x in r["example_ids"]), r["tokens"]
assert r["loss_tokens"] == r["tokens"] - epochs * n, (r["tokens"], r["loss_tokens"])
assert r["questions"] == len(fx["passage"]["questions"]) == len(r["answers"]), r["questions"]
assert 0 < r["base_loss"] < 20 and abs(r["base_loss"] - one["base_loss"]) < 1e-9
assert one["steps"] == n and one["tokens"] * epochs == r["tokens"], one["steps"]
PY

# malformed fixtures: each must fail naming the file and the field
bad() { # NAME PYTHON-EDIT EXPECTED-MESSAGE-PART
  python3 - "$fixture" "$tmp/$1.json" "$2" <<'PY'
import json, sys
fx = json.load(open(sys.argv[1]))
exec(sys.argv[3])
json.dump(fx, open(sys.argv[2], "w"))
PY
  if uow "$tmp/$1.json" >"$tmp/$1.out" 2>"$tmp/$1.err"; then
    fail "$1: a malformed fixture was accepted"
  fi
  grep -qF "$tmp/$1.json: $3" "$tmp/$1.err" || { cat "$tmp/$1.err" >&2; fail "$1: no '$3'"; }
}
bad lr 'fx["inner_loop"]["lr"] = -1' "inner_loop.lr: expected a number > 0"
bad no-selfedit 'del fx["selfedit"]' "selfedit: expected a string"
bad targets 'fx["inner_loop"]["targets"] = "q,nope"' "inner_loop.targets:"
bad grading 'fx["grading"] = "judge"' "grading: expected em, f1 or contains"
bad examples 'fx["examples"] = ["not", "what", "seal", "builds"]' "examples[0]: differs"
bad passage 'del fx["passage"]["questions"]' "passage"
printf '{"inner_loop": ' >"$tmp/syntax.json"
if uow "$tmp/syntax.json" >/dev/null 2>"$tmp/syntax.err"; then fail "a truncated file was accepted"; fi
grep -qF "$tmp/syntax.json:1:" "$tmp/syntax.err" || { cat "$tmp/syntax.err" >&2; fail "syntax: no file:line"; }
echo "bench_unit_of_work: ok"
