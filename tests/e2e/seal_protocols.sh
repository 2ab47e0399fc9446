#!/usr/bin/env bash
# tests/e2e/seal_protocols.sh BUILD_DIR — the options a run can take beyond the
# default path: grading by a local judge model (the paper's yes/no prompt,
# answered here by the tiny model itself) and the continued-pretraining
# evaluation protocol (one LoRA over N passages' self-edits), on 1 and 2 ranks.
# Checks that both run to the end, that the table has a continued-pretraining
# row per trained condition, that 1 and 2 ranks print the same table, and that
# a judge job without a judge model is refused naming the file, line and column.
set -euo pipefail

build=${1:?usage: seal_protocols.sh BUILD_DIR}
build=$(cd "$build" && pwd)
seal="$build/seal"
tmp=$(mktemp -d /tmp/seal-e2e-protocols-XXXXXX)
trap '[ -n "${KEEP:-}" ] || rm -rf "$tmp"' EXIT
fail() {
  echo "seal_protocols: FAIL: $*" >&2
  exit 1
}

# the tiny job, 1 round, judged by the tiny model, both protocols
sed -e 's/^rounds: 2/rounds: 1/' -e 's/^  mode: contains/  mode: judge\n  judge_model: tests\/fixtures\/tiny-seal/' \
  tests/fixtures/tiny-seal/job.yaml >"$tmp/job.yaml"
grep -q 'judge_model' "$tmp/job.yaml" || fail "could not set the judge in the test job"
sed -i '/^evaluation:/,$d' "$tmp/job.yaml"
cat >>"$tmp/job.yaml" <<'YAML'
evaluation:
  protocols: [single-passage, continued-pretraining]
  continued_pretraining:
    n_passages: 3
    lora: {r: 4, alpha: 8, targets: [q, v]}
    epochs: 1
    lr: 1.0e-2
    batch_size: 2
YAML

for n in 1 2; do
  echo "seal_protocols: train + eval on $n rank(s)"
  mpiexec --oversubscribe --bind-to none -n "$n" "$seal" train "$tmp/job.yaml" --output "$tmp/run$n" \
    >"$tmp/train$n.log" 2>&1 || { tail -20 "$tmp/train$n.log" >&2; fail "train on $n rank(s)"; }
  mpiexec --oversubscribe --bind-to none -n "$n" "$seal" eval "$tmp/job.yaml" --output "$tmp/run$n" \
    >"$tmp/eval$n.txt" 2>"$tmp/eval$n.err" || { cat "$tmp/eval$n.err" >&2; fail "eval on $n rank(s)"; }
  for c in passage seal-round-0 seal-round-1; do
    grep -Eq "^$c +continued-pretraining +3 +[0-9.]+% " "$tmp/eval$n.txt" ||
      { cat "$tmp/eval$n.txt" >&2; fail "no continued-pretraining row for $c"; }
    grep -Eq "^$c +single-passage +2 +[0-9.]+% " "$tmp/eval$n.txt" ||
      { cat "$tmp/eval$n.txt" >&2; fail "no single-passage row for $c"; }
  done
done
diff <(grep -E "passage|round|base" "$tmp/eval1.txt") <(grep -E "passage|round|base" "$tmp/eval2.txt") >/dev/null ||
  { diff "$tmp/eval1.txt" "$tmp/eval2.txt" >&2; fail "1 and 2 ranks printed different tables"; }

# mode judge without judge_model: refused with file:line:column
sed -e 's/^  judge_model:.*$//' "$tmp/job.yaml" >"$tmp/bad.yaml"
status=0
"$seal" train "$tmp/bad.yaml" --output "$tmp/bad" >"$tmp/bad.log" 2>&1 || status=$?
[ "$status" -ne 0 ] || fail "a judge job without judge_model was accepted"
grep -Eq "bad.yaml:[0-9]+:[0-9]+:.*judge" "$tmp/bad.log" ||
  { cat "$tmp/bad.log" >&2; fail "the refusal does not name file:line:column and the judge"; }
echo "seal_protocols: ok"
