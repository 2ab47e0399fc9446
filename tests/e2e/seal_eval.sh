#!/usr/bin/env bash
# tests/e2e/seal_eval.sh BUILD_DIR — `seal eval` after a finished run, as a user
# meets it: the tiny job (tests/fixtures/tiny-seal) trains 2 rounds, then
# `seal eval JOB --output DIR` prints the table with one row per condition —
# base, passage, seal-round-0 (self-edits without RL), seal-round-1 and
# seal-round-2 (after each ReST-EM round) — and writes DIR/eval.json and
# DIR/plot.svg. eval.json must hold those five conditions with 2 passages each
# (data.n_eval), fractions in [0, 1] and per-context rows (context, answers); it
# is parsed with python3 when present,
# else checked with grep. The evaluation on 2 ranks must give the same rows as on
# 1 rank (every number but the seconds). The queue hands the costliest items out
# first (trainer/item_cost.h), so on 1 rank the first level's items finish
# self-edits first (they write, train and answer), then passage (trains and
# answers), then base (answers only).
set -euo pipefail

build=${1:?usage: seal_eval.sh BUILD_DIR}
build=$(cd "$build" && pwd)
seal="$build/seal"
job=tests/fixtures/tiny-seal/job.yaml
mpiexec=${MPIEXEC:-mpiexec}
tmp=$(mktemp -d /tmp/seal-e2e-eval-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
conditions="base passage seal-round-0 seal-round-1 seal-round-2"

fail() {
  echo "seal_eval: FAIL: $*" >&2
  exit 1
}

[ -x "$seal" ] || fail "$seal is not built"

mpirun_seal() {
  local n=$1
  shift
  "$mpiexec" --oversubscribe --bind-to none -n "$n" "$seal" "$@"
}

echo "seal_eval: seal train (1 rank)"
status=0
mpirun_seal 1 train "$job" --output "$tmp/run" >"$tmp/train.log" 2>&1 || status=$?
[ "$status" -eq 0 ] || { tail -n 30 "$tmp/train.log" >&2; fail "seal train exited with $status"; }
cp -r "$tmp/run" "$tmp/run2"

# evaluate N DIR: seal eval on N ranks; checks the table and the files.
evaluate() {
  local n=$1 dir=$2 out=$tmp/eval$1.txt status=0
  echo "seal_eval: seal eval on $n rank(s)"
  mpirun_seal "$n" eval "$job" --output "$dir" >"$out" 2>"$tmp/eval$n.err" || status=$?
  [ "$status" -eq 0 ] || { cat "$out" "$tmp/eval$n.err" >&2; fail "seal eval exited with $status"; }
  grep -q '^condition  *protocol  *passages  *accuracy' "$out" ||
    { cat "$out" >&2; fail "no table header in seal eval's output"; }
  for c in $conditions; do
    grep -Eq "^$c +single-passage +2 +[0-9.]+% " "$out" ||
      { cat "$out" >&2; fail "no table row for $c (single-passage, 2 passages)"; }
  done
  [ -s "$dir/eval.json" ] || fail "$dir/eval.json was not written"
  [ -s "$dir/plot.svg" ] || fail "$dir/plot.svg was not written"
  grep -q '<svg' "$dir/plot.svg" && grep -q '</svg>' "$dir/plot.svg" ||
    fail "$dir/plot.svg is not an SVG document"
  if command -v python3 >/dev/null 2>&1; then
    python3 - "$dir/eval.json" $conditions <<'EOF' || fail "$dir/eval.json is not as expected (above)"
import json, sys
path, want = sys.argv[1], sys.argv[2:]
rows = json.load(open(path))
got = [r["condition"] for r in rows]
assert got == want, f"{path}: conditions {got}, expected {want}"
for r in rows:
    assert r["protocol"] == "single-passage" and r["passages"] == 2, r
    assert len(r["per_context"]) == 2 and [c["context"] for c in r["per_context"]] == [0, 1], r
    for c in r["per_context"]:
        assert c["n_items"] == len(c["answers"]) > 0, c
    for k in ("accuracy", "em", "f1", "contains"):
        assert 0.0 <= r[k] <= 1.0, f"{path}: {r['condition']} {k} = {r[k]}"
print(f"seal_eval:   {path}: " + ", ".join(f"{r['condition']} {r['accuracy']:.3f}" for r in rows))
EOF
  else
    for c in $conditions; do
      grep -qF "\"condition\": \"$c\"" "$dir/eval.json" || fail "$dir/eval.json lacks condition $c"
    done
    echo "seal_eval:   python3 not found: $dir/eval.json checked with grep"
  fi
  grep -q '"event":"eval"' "$dir/metrics.jsonl" || fail "no eval events in $dir/metrics.jsonl"
  # The table without the timing column, for the comparison across rank counts.
  grep -E "^(${conditions// /|}) " "$out" >"$tmp/rows$n.txt"
}

evaluate 1 "$tmp/run"
evaluate 2 "$tmp/run2"
cmp -s "$tmp/rows1.txt" "$tmp/rows2.txt" ||
  { diff "$tmp/rows1.txt" "$tmp/rows2.txt" >&2; fail "seal eval on 2 ranks differs from 1 rank"; }
if command -v python3 >/dev/null 2>&1; then
  # eval.json, and each (condition, context, self-edit) item's self-edit text and scores from
  # the "eval_item" events of metrics.jsonl.
  python3 - "$tmp/run" "$tmp/run2" <<'EOF' || fail "seal eval differs between 1 and 2 ranks (above)"
import json, sys
a, b = (json.load(open(d + "/eval.json")) for d in sys.argv[1:])
strip = lambda rows: [{k: v for k, v in r.items() if k != "seconds"} for r in rows]  # per_context too
assert strip(a) == strip(b), f"eval.json: {strip(a)}\n!=\n{strip(b)}"
def items(d):
    out = {}
    for line in open(d + "/metrics.jsonl"):
        e = json.loads(line)
        if e["event"] == "eval_item":
            out[(e["condition"], e["context"], e["sample"])] = (e["selfedit"], e["reward"], e["f1"], e["n_examples"])
    return out
ia, ib = items(sys.argv[1]), items(sys.argv[2])
assert len(ia) == 10, f"{len(ia)} eval items, expected 5 conditions x 2 passages"
for k in sorted(ia):
    assert ia[k] == ib.get(k), f"eval item {k}: {ia[k]} vs {ib.get(k)}"
assert ia.keys() == ib.keys()
print(f"seal_eval:   {len(ia)} eval items agree (self-edit texts, rewards, F1)")
first = [json.loads(l) for l in open(sys.argv[1] + "/metrics.jsonl")]
first = [e["condition"] for e in first if e["event"] == "eval_item"][:6]
want = ["seal-round-0"] * 2 + ["passage"] * 2 + ["base"] * 2
assert first == want, f"1 rank ran the first level's items in the order {first}, not costliest first {want}"
print("seal_eval:   costliest first on 1 rank: " + ", ".join(first))
EOF
fi
echo "seal_eval: 1 and 2 ranks give the same rows"
echo "seal_eval: ok"
