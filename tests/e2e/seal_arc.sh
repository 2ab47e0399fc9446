#!/usr/bin/env bash
# tests/e2e/seal_arc.sh BUILD_DIR — few-shot ARC end to end (`task: arc`) on the
# tiny model with a ChatML template (tests/fixtures/tiny-arc: three 2 x 2 tasks,
# one with two test inputs; 1 round of 3 tasks x 2 self-edits).
#
# 1. seal train on 1, 2 and 3 ranks: identical self-edit texts and rewards per item,
#    losses and policy within the run_compare tolerances (the `e2e` case of
#    tests/trainer/test_run_compare.c).
# 2. Kill and resume: the 1-rank run stopped by SIGTERM once a first "generated"
#    event is in metrics.jsonl (exit status 3), then `--resume`, equals the
#    uninterrupted run bit for bit (tolerances 0). If this machine is so loaded
#    that the run ends before the signal lands, the comparison still runs but
#    the stop is reported as missed.
# 3. seal eval on 1 and 2 ranks: the four conditions (in-context, ttt-fixed, which
#    trains a LoRA on every augmentation group, seal-round-0, seal-round-1) with
#    the same table and the same eval.json but for the timings.
# 4. seal show on an ARC task: the self-edit prompt through the chat template with
#    its messages, the plan of a given configuration (its lr and epochs), every
#    training example with its grids and loss tokens, and every query with its
#    test input, transform and voting group.
# The random model never writes a parsable configuration, so the train rounds'
# self-edits all score 0 with their reason ("no JSON object in the text"); the
# inner loop's training and the vote run in step 3 (ttt-fixed) and in the unit
# tests (tests/trainer/test_arc_domain.c).
set -euo pipefail
source "$(dirname "$0")/lib.bash"
e2e_init seal_arc "${1:-}"

# One self-edit per task in evaluation keeps step 3 short.
job="$tmp/job.yaml"
sed 's/^  selfedits_per_context: 2$/  selfedits_per_context: 1/' tests/fixtures/tiny-arc/job.yaml >"$job"
grep -q '^  selfedits_per_context: 1$' "$job" || fail "could not set evaluation.selfedits_per_context"

# 1. ranks
train_to_end 1 "$job" "$tmp/np1" 1
grep -q '"reason":"no JSON object in the text"' "$tmp/np1/metrics.jsonl" ||
  fail "the unusable self-edits' reason is not in metrics.jsonl"
for n in 2 3; do
  train_to_end "$n" "$job" "$tmp/np$n" 1
  say "checking that $n ranks give the 1-rank result"
  compare "$tmp/np1" "$tmp/np$n"
done

# 2. kill and resume
say "seal train on 1 rank, stopped by SIGTERM at the first generated event"
start_train 1 "$job" "$tmp/kill"
wait_for_events "$tmp/kill" generated 1 && term_ranks || true
wait_train
case $train_status in
  3) say "stopped (exit 3); resuming" ;;
  0) say "the run finished before the signal landed (a loaded machine): resume not exercised" ;;
  *) tail -n 30 "$tmp/kill.log" >&2; fail "the stopped run exited with $train_status, not 3" ;;
esac
train_to_end 1 "$job" "$tmp/kill" 1 --resume
say "checking that the resumed run equals the uninterrupted one"
compare "$tmp/np1" "$tmp/kill" exact

# 3. seal eval on 1 and 2 ranks
for n in 1 2; do
  say "seal eval on $n rank(s)"
  run_seal "$n" eval "$job" --output "$tmp/np$n" >"$tmp/eval$n.txt" 2>"$tmp/eval$n.log" ||
    { tail -n 30 "$tmp/eval$n.log" >&2; fail "seal eval on $n rank(s) failed"; }
done
grep -A4 '^condition' "$tmp/eval1.txt"
for c in in-context ttt-fixed seal-round-0 seal-round-1; do
  grep -q "^$c  *single-task  *3 " "$tmp/eval1.txt" || fail "no $c row over 3 tasks in the table"
done
diff <(grep -A4 '^condition' "$tmp/eval1.txt") <(grep -A4 '^condition' "$tmp/eval2.txt") ||
  fail "the 2-rank eval table differs from the 1-rank one"
untimed() { jq -S 'walk(if type == "object" then del(.seconds, .train_seconds, .answer_seconds) else . end)' "$1"; }
diff <(untimed "$tmp/np1/eval.json") <(untimed "$tmp/np2/eval.json") >"$tmp/eval.diff" ||
  { head -n 40 "$tmp/eval.diff" >&2; fail "the 2-rank eval.json differs from the 1-rank one"; }
# ttt-fixed trained on every task: 8 examples (the cap) each, with losses
jq -e '[.[] | select(.condition == "ttt-fixed") | .per_context[] | .n_examples] | length == 3 and all(. == 8)' \
  "$tmp/np1/eval.json" >/dev/null || fail "ttt-fixed did not train 8 examples on each task"

# 4. seal show
config="$tmp/config.json"
cat >"$config" <<'EOF'
{"data_generation": {"use_basic_augmentations": true, "use_size_augmentations": false,
 "use_chain_augmentations": false, "use_repeat_augmentations": false},
 "training": {"strategy": "train_using_output_tokens", "learning_rate": 0.002, "num_train_epochs": 3}}
EOF
"$seal" show "$job" --context 2 --split eval --selfedit "$config" >"$tmp/show.jsonl" ||
  fail "seal show failed"
show() { jq -e "$@" "$tmp/show.jsonl" >/dev/null; }
check() {
  local what=$1
  shift
  jq -se "$@" "$tmp/show.jsonl" >/dev/null || fail "seal show: $what"
}
check "the context line" '.[0] == {"what":"context","task":"arc","split":"eval","context":2,"name":"tiny-fill"}'
# the reference's self-edit prompt (self-edit.py's get_prompt) through ChatML
check "the self-edit prompt" '.[1] | .what == "selfedit_prompt" and
  (.text | startswith("<|im_start|>system\nYou are a helpful assistant that provide the correct output for the given task immediately.<|im_end|>\n<|im_start|>user\nInput:\n0 1\n1 0\n\nOutput:\n4 1\n1 4\n\nInput:\n0 0\n3 0\n\n")) and
  (.text | endswith("<|im_end|>\n<|im_start|>assistant\n")) and
  ([.detail.messages[].role] == ["system", "user"])'
check "the plan of the given configuration" '.[2] | .what == "plan" and .ok and .train and
  .hparams.lr == 0.002 and .hparams.epochs == 3 and .hparams.batch_size == 2 and
  .n_examples == .n_from_selfedit and .n_examples == 8'
check "the training examples" '[.[] | select(.what == "example")] | length == 8 and all(
  (.text | endswith("#<|im_end|>\n")) and .loss_tokens > 0 and .loss_tokens < .tokens - 100 and
  (.detail.train | length) >= 1 and (.detail.test.input | type) == "array" and
  (.detail.test.output | type) == "array" and ([.detail.messages[].role] == ["system", "user", "assistant"]))'
# every test input's queries: the identity's user turn is the test input itself,
# Transpose()'s its transpose; every transform in its voting group
check "the queries" '[.[] | select(.what == "query")] | (map(.detail.test_index) | unique) == [0, 1] and
  all(.max_tokens == 8 and (.prompt | endswith(" -> <|im_end|>\n<|im_start|>assistant\n")) and
      (.detail.transform | IN("IdentityAugmenter()", "Transpose()", "Flip(0)", "Flip(1)", "Rotate(90)", "Rotate(180)"))) and
  any(.detail.test_index == 0 and .detail.vote_group == "identity" and
      (.prompt | endswith("<|im_start|>user\n[[0 2]\n [0 0]] -> <|im_end|>\n<|im_start|>assistant\n"))) and
  all(select(.detail.test_index == 0 and .detail.transform == "Transpose()") |
      .detail.test.input == [[0, 0], [2, 0]] and .detail.vote_group == "Transpose()")'
# an unusable self-edit: the plan says why and trains nothing
echo 'Sure, here is my plan.' >"$tmp/bad.txt"
"$seal" show "$job" --context 0 --selfedit "$tmp/bad.txt" | jq -se \
  '.[2] | .what == "plan" and (.ok | not) and .reason == "no JSON object in the text" and .n_examples == 0' \
  >/dev/null || fail "seal show: an unusable self-edit's plan"
say "ok"
