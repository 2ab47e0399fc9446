#!/usr/bin/env bash
# tests/e2e/seal_teacher.sh BUILD_DIR — teacher and student (job key `teacher`,
# docs/teacher.md): tests/fixtures/tiny-seal's job with
# `teacher: tests/fixtures/tiny-teacher`, a random Qwen2 of other sizes (hidden 32,
# 3 layers) than the student, tiny-seal's Llama (hidden 48, 2 layers).
#
# 1. Uninterrupted runs on 1 and on 2 ranks give the same results (run_compare,
#    default tolerances: the all-reduce sums in another order across rank counts).
# 2. Kill and resume: 1 rank stopped by SIGTERM to the rank, 2 ranks by SIGUSR1
#    to mpiexec, both part-way through round 0's evaluations, then --resume to the
#    end: each equals the uninterrupted run on as many ranks bit for bit.
# 3. The checkpoint holds both models: `seal inspect` names them, h5dump shows
#    /model (the student, hidden 48) and /teacher (hidden 32) and policy tensors of
#    the teacher's width (lora_A [4, 32]), the file is version 3.
# 4. The teacher's presence is part of the resume check: resuming with
#    `teacher: self` is refused.
# 5. `seal eval` names the writer and the learner (table header, eval.json);
#    `seal export --peft` names the teacher as the adapter's base; `seal learn
#    --policy` of the run writes with the teacher and trains the student.
set -euo pipefail
source "$(dirname "$0")/lib.bash"
e2e_init seal_teacher "${1:-}"

job="$tmp/job.yaml"
sed -e 's/^  epochs: 2$/  epochs: 40/' \
  -e 's#^model: tests/fixtures/tiny-seal$#model: tests/fixtures/tiny-seal\nteacher: tests/fixtures/tiny-teacher#' \
  tests/fixtures/tiny-seal/job.yaml >"$job"
grep -q '^  epochs: 40$' "$job" && grep -q '^teacher: tests/fixtures/tiny-teacher$' "$job" ||
  fail "could not set inner_loop.epochs and teacher in the fixture's job"

# stopped N DIR HOW: a run on N ranks signalled (HOW: rank-term or mpiexec-usr1)
# after 3 evaluations must exit 3 with round 0 unfinished.
stopped() {
  local n=$1 dir=$2 how=$3
  say "seal train on $n rank(s), stopped ($how) after 3 evaluations"
  start_train "$n" "$job" "$dir"
  wait_for_events "$dir" evaluated 3 || fail "the run ended before 3 evaluations were reported"
  case $how in
    rank-term) term_ranks || fail "no rank process under mpiexec (pid $bg)" ;;
    mpiexec-usr1) kill -USR1 "$bg" ;;
  esac
  wait_train
  [ "$train_status" -eq 3 ] || { tail -n 30 "$dir.log" >&2; fail "exit status $train_status after the signal, expected 3"; }
  "$seal" inspect "$dir/checkpoint.h5" >"$dir.inspect" || fail "seal inspect of the stopped run"
  grep -qE '^round: +[01], phase (generate|evaluate)$' "$dir.inspect" ||
    { cat "$dir.inspect" >&2; fail "the stopped run's checkpoint is not part-way through a round"; }
}

# ---- 1. references, 1 and 2 ranks -------------------------------------------------------------
train_to_end 1 "$job" "$tmp/ref1" 2
train_to_end 2 "$job" "$tmp/ref2" 2
say "checking that 2 ranks give the 1-rank result"
compare "$tmp/ref1" "$tmp/ref2"

# ---- 2. kill and resume ---------------------------------------------------------------------------
stopped 1 "$tmp/np1" rank-term
train_to_end 1 "$job" "$tmp/np1" 2 --resume
compare "$tmp/ref1" "$tmp/np1" exact
stopped 2 "$tmp/np2" mpiexec-usr1
train_to_end 2 "$job" "$tmp/np2" 2 --resume
compare "$tmp/ref2" "$tmp/np2" exact

# ---- 3. both models in the checkpoint --------------------------------------------------------------
ins="$tmp/ref1.inspect"
for pattern in 'version 3' \
  'model:      llama, hidden 48, 2 layers, 4 heads (2 kv), vocab 512, intermediate 96 (the student' \
  'base:       tests/fixtures/tiny-seal' \
  'teacher:    qwen2, hidden 32, 3 layers, 2 heads (1 kv), vocab 512, intermediate 80 (writes' \
  'teacher at: tests/fixtures/tiny-teacher'; do
  grep -qF -- "$pattern" "$ins" || { cat "$ins" >&2; fail "seal inspect: '$pattern' missing"; }
done
say "seal inspect names the student (llama, hidden 48) and the teacher (qwen2, hidden 32)"
if command -v h5dump >/dev/null 2>&1; then
  ck="$tmp/ref1/checkpoint.h5"
  # attribute values of one group: h5dump -A -g GROUP, one "NAME=VALUE" line per attribute
  attrs() {
    h5dump -A -g "$1" "$ck" | awk '/ATTRIBUTE "/ {gsub(/[" {]/, "", $2); name = $2}
      /\(0\):/ {sub(/.*\(0\): */, ""); print name "=" $0}'
  }
  attrs /model >"$tmp/model.attrs" || fail "h5dump -A -g /model"
  attrs /teacher >"$tmp/teacher.attrs" || fail "h5dump -A -g /teacher (no /teacher group?)"
  for want in 'architecture="llama"' 'hidden=48' 'n_layers=2' 'base_path="tests/fixtures/tiny-seal"'; do
    grep -qxF -- "$want" "$tmp/model.attrs" || { cat "$tmp/model.attrs" >&2; fail "/model: $want missing"; }
  done
  for want in 'architecture="qwen2"' 'hidden=32' 'n_layers=3' 'n_kv_heads=1' 'intermediate=80' \
    'base_path="tests/fixtures/tiny-teacher"'; do
    grep -qxF -- "$want" "$tmp/teacher.attrs" || { cat "$tmp/teacher.attrs" >&2; fail "/teacher: $want missing"; }
  done
  grep -qE '^files_fnv1a64="[0-9a-f]{16}"$' "$tmp/teacher.attrs" || fail "/teacher: no files_fnv1a64"
  cmp -s <(grep files_fnv1a64 "$tmp/model.attrs") <(grep files_fnv1a64 "$tmp/teacher.attrs") &&
    fail "/model and /teacher have the same files hash"
  h5dump -H -d "/policy/round_1/base_model.model.model.layers.2.self_attn.q_proj.lora_A.weight" "$ck" \
    >"$tmp/policy.txt" || fail "no policy tensor of the teacher's layer 2 (the student has 2 layers)"
  grep -qF 'SIMPLE { ( 4, 32 ) / ( 4, 32 ) }' "$tmp/policy.txt" ||
    { cat "$tmp/policy.txt" >&2; fail "the policy's lora_A is not [r 4, teacher hidden 32]"; }
  say "h5dump: /model hidden 48, /teacher hidden 32, the policy adapts the teacher ([4, 32])"
else
  say "h5dump not installed: the HDF5 layout check is skipped"
fi

# ---- 4. the resume check knows the teacher -------------------------------------------------------
say "--resume of the teacher run with teacher: self"
grep -v '^teacher:' "$job" >"$tmp/self.yaml"
cp -r "$tmp/ref1" "$tmp/refused"
status=0
run_seal 1 train "$tmp/self.yaml" --output "$tmp/refused" --resume >"$tmp/refused.out" 2>&1 || status=$?
[ "$status" -ne 0 ] || fail "a teacher run resumed as teacher: self"
grep -qF 'teacher: a model in the checkpoint, self in the job' "$tmp/refused.out" ||
  { cat "$tmp/refused.out" >&2; fail "the refusal does not name the teacher"; }

# ---- 5. seal eval and seal export name the teacher ----------------------------------------------
say "seal eval and seal export --peft"
run_seal 1 eval "$job" --output "$tmp/ref1" >"$tmp/eval.out" 2>"$tmp/eval.err" ||
  { cat "$tmp/eval.err" >&2; fail "seal eval exited with $?"; }
grep -qF 'self-edits written by the teacher tests/fixtures/tiny-teacher (on cpu), learned by the student tests/fixtures/tiny-seal (on cpu)' \
  "$tmp/eval.out" || { cat "$tmp/eval.out" >&2; fail "seal eval's table does not name the teacher and student"; }
grep -qF '"writer": "tests/fixtures/tiny-teacher"' "$tmp/ref1/eval.json" &&
  grep -qF '"learner": "tests/fixtures/tiny-seal"' "$tmp/ref1/eval.json" ||
  fail "eval.json does not name the writer and the learner"
# The conditions without a self-edit (base: the bare model answers; passage: an
# inner loop on the passage alone) are the student's own: the same as seal eval
# of the student without a teacher (no checkpoint, so its rounds are not read).
run_seal 1 eval "$tmp/self.yaml" --output "$tmp/self-eval" --rounds 0 >"$tmp/self-eval.out" 2>&1 ||
  { cat "$tmp/self-eval.out" >&2; fail "seal eval of the student alone"; }
python3 - "$tmp/ref1/eval.json" "$tmp/self-eval/eval.json" <<'PY' || fail "the student's own conditions differ from the student alone's"
import json, sys
rows = [{r["condition"]: r for r in json.load(open(p))} for p in sys.argv[1:]]
for cond in ("base", "passage"):
    a, b = (r[cond]["per_context"] for r in rows)
    if a != b:
        sys.exit(f"{cond}: {json.dumps(a)[:300]} != {json.dumps(b)[:300]}")
if rows[1]["base"]["teacher"] or not rows[0]["base"]["teacher"]:
    sys.exit("eval.json's teacher flags are wrong")
PY
say "base and passage (the student's own conditions) equal the student's without a teacher"
"$seal" export "$tmp/ref1/checkpoint.h5" --peft "$tmp/peft" >/dev/null || fail "seal export --peft"
grep -qF '"base_model_name_or_path": "tests/fixtures/tiny-teacher"' "$tmp/peft/adapter_config.json" ||
  { cat "$tmp/peft/adapter_config.json" >&2; fail "the exported policy's base is not the teacher"; }
# seal learn --policy RUN of a teacher run: the teacher, its rounds merged, writes;
# the student (--model) learns (merging the teacher's rounds into it would fail).
printf 'The tidal flats of Wenmouth were first mapped by Ilse Marrow in 1761.' >"$tmp/doc.txt"
"$seal" learn --model tests/fixtures/tiny-seal --device cpu --job "$tmp/self.yaml" --docs "$tmp/doc.txt" \
  --output "$tmp/learn" --policy "$tmp/ref1" >"$tmp/learn.log" 2>&1 ||
  { cat "$tmp/learn.log" >&2; fail "seal learn --policy of the teacher run"; }
grep -qF '(2 round(s) merged)' "$tmp/learn.log" && grep -qE 'trained on [1-9][0-9]* example' "$tmp/learn.log" ||
  { cat "$tmp/learn.log" >&2; fail "seal learn --policy: no merged teacher or no training"; }
say "ok"
