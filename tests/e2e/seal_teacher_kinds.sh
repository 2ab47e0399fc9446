#!/usr/bin/env bash
# tests/e2e/seal_teacher_kinds.sh BUILD_DIR — the kinds of teacher beside the tiny
# HF student (tests/fixtures/tiny-seal; docs/teacher.md), in short runs of 1 rank
# (seal_teacher.sh covers 2 ranks and kill-and-resume of an HF teacher):
#
# 1. teacher_device: the key is honoured (the teacher on cpu:bf16, bf16 matrices and
#    their own kernels, beside the student on cpu: the checkpoint, seal inspect and
#    seal eval name both backends; on a build without a usable GPU
#    `teacher_device: cuda` fails on the teacher alone, naming it, while the same job
#    with the student on cuda fails on the student); a bad value is refused with the
#    job file's line and column. --profile reports the teacher's and the student's
#    ops apart.
# 2. A GGUF teacher (tests/fixtures/tiny-teacher.gguf: tiny-teacher's weights and
#    tokenizer as GGUF): a 1-round run extended to 2 with --resume (round 0 merged
#    into the GGUF teacher) equals the HF teacher's 2 rounds bit for bit; the
#    checkpoint records the GGUF file as /teacher. The reverse, the HF teacher
#    beside a GGUF student (tests/fixtures/tiny-seal.gguf), equals the HF student.
# 3. A teacher with a tokenizer of its own (tests/fixtures/tiny-teacher-tok, 300
#    ids): a round trains to the end (the ids each side sees: test_teacher_tokens.c).
set -euo pipefail
source "$(dirname "$0")/lib.bash"
e2e_init seal_teacher_kinds "${1:-}"

# job TEACHER ROUNDS [EXTRA_LINE]: tiny-seal's job with that teacher, into $tmp/NAME.yaml
job() {
  local out="$tmp/$1.yaml" teacher=$2 rounds=$3 extra=${4:-}
  sed -e "s#^model: tests/fixtures/tiny-seal\$#model: tests/fixtures/tiny-seal\nteacher: $teacher#" \
    -e "s/^rounds: 2\$/rounds: $rounds/" tests/fixtures/tiny-seal/job.yaml >"$out"
  [ -z "$extra" ] || printf '%s\n' "$extra" >>"$out"
  grep -q "^teacher: $teacher\$" "$out" && grep -q "^rounds: $rounds\$" "$out" ||
    fail "could not set teacher and rounds in the fixture's job"
  echo "$out"
}

expect_refused() { # expect_refused JOB OUT PATTERN: seal train JOB fails saying PATTERN
  local status=0
  run_seal 1 train "$1" --output "$tmp/refused" >"$2" 2>&1 || status=$?
  [ "$status" -ne 0 ] || fail "$1 was not refused"
  grep -qF -- "$3" "$2" || { cat "$2" >&2; fail "the refusal of $1 does not say: $3"; }
}

# ---- 1. teacher_device ----------------------------------------------------------------------
cpu=$(job cpu tests/fixtures/tiny-teacher 1 'teacher_device: cpu:bf16')
train_to_end 1 "$cpu" "$tmp/cpu" 1 --profile
for pattern in 'base:       tests/fixtures/tiny-seal (on cpu)' \
  'teacher at: tests/fixtures/tiny-teacher (on cpu:bf16)'; do
  grep -qF -- "$pattern" "$tmp/cpu.inspect" || { cat "$tmp/cpu.inspect" >&2; fail "seal inspect: '$pattern' missing"; }
done
if command -v h5dump >/dev/null 2>&1; then
  h5dump -a /job_yaml "$tmp/cpu/checkpoint.h5" | grep -qF 'teacher_device: cpu:bf16' ||
    fail "the checkpoint's job_yaml has no teacher_device: cpu:bf16"
  h5dump -a /teacher/device "$tmp/cpu/checkpoint.h5" | grep -qF '"cpu:bf16"' || fail "/teacher has no device \"cpu:bf16\""
  h5dump -a /model/device "$tmp/cpu/checkpoint.h5" | grep -qF '"cpu"' || fail "/model has no device \"cpu\""
fi
for who in teacher student; do
  grep -qE "^seal profile \[rank 0\] of the $who: cpu backend, [1-9][0-9]* op calls" "$tmp/cpu.log" ||
    { grep 'seal profile' "$tmp/cpu.log" >&2; fail "--profile has no report of the $who"; }
done
say "the checkpoint and seal inspect name both backends; --profile reports the teacher and the student apart"
run_seal 1 eval "$cpu" --output "$tmp/cpu" --rounds 0 >"$tmp/eval.out" 2>"$tmp/eval.err" ||
  { cat "$tmp/eval.err" >&2; fail "seal eval of the teacher_device run"; }
grep -qF 'self-edits written by the teacher tests/fixtures/tiny-teacher (on cpu:bf16), learned by the student tests/fixtures/tiny-seal (on cpu)' \
  "$tmp/eval.out" || { cat "$tmp/eval.out" >&2; fail "seal eval does not name both backends"; }
grep -qF '"writer_device": "cpu:bf16"' "$tmp/cpu/eval.json" && grep -qF '"learner_device": "cpu"' "$tmp/cpu/eval.json" ||
  fail "eval.json does not name both backends"

expect_refused "$(job bad tests/fixtures/tiny-teacher 1 'teacher_device: gpu')" "$tmp/bad.out" \
  'bad.yaml:47:17: teacher_device: unknown value "gpu" (one of: same, auto, cpu, cuda, cpu:bf16, cpu:q8, cpu:q4)'
grep -v '^teacher:' "$cpu" >"$tmp/self.yaml"
expect_refused "$tmp/self.yaml" "$tmp/self.out" 'teacher_device: "cpu:bf16" places a teacher, but the job has none'
if ! "$seal" backends 2>/dev/null | grep -qE '^cuda +available'; then
  expect_refused "$(job cuda_teacher tests/fixtures/tiny-teacher 1 'teacher_device: cuda')" "$tmp/cu_t.out" \
    "teacher (the self-edits' writer) on cuda:"
  sed 's/^device: cpu$/device: cuda/' "$cpu" >"$tmp/cuda_student.yaml"
  expect_refused "$tmp/cuda_student.yaml" "$tmp/cu_s.out" 'model (the student) on cuda:'
  say "no GPU here: teacher_device: cuda fails on the teacher alone, device: cuda on the student alone"
fi
say "bad teacher_device values are refused at their line"

# ---- 2. a GGUF teacher ---------------------------------------------------------------------------
# 1 round, then --resume to 2 (round 0 merged into the GGUF teacher): the HF teacher's 2 rounds
train_to_end 1 "$(job hf2 tests/fixtures/tiny-teacher 2)" "$tmp/hf2" 2
train_to_end 1 "$(job gguf1 tests/fixtures/tiny-teacher.gguf 1)" "$tmp/gguf" 1
train_to_end 1 "$(job gguf2 tests/fixtures/tiny-teacher.gguf 2)" "$tmp/gguf" 2 --resume
compare "$tmp/hf2" "$tmp/gguf" exact
grep -qF 'teacher at: tests/fixtures/tiny-teacher.gguf (on cpu)' "$tmp/gguf.inspect" &&
  grep -qF 'teacher:    qwen2, hidden 32, 3 layers, 2 heads (1 kv), vocab 512' "$tmp/gguf.inspect" ||
  { cat "$tmp/gguf.inspect" >&2; fail "seal inspect does not record the GGUF teacher"; }
say "a GGUF teacher, resumed after round 0, equals the HF teacher"
# the reverse: the HF teacher beside a GGUF student (tiny-seal's weights, q/k permuted)
sed 's#^model: tests/fixtures/tiny-seal$#model: tests/fixtures/tiny-seal.gguf#' "$tmp/hf2.yaml" >"$tmp/gguf_student.yaml"
train_to_end 1 "$tmp/gguf_student.yaml" "$tmp/gguf_student" 2
compare "$tmp/hf2" "$tmp/gguf_student" exact
grep -qF 'base:       tests/fixtures/tiny-seal.gguf (on cpu)' "$tmp/gguf_student.inspect" ||
  { cat "$tmp/gguf_student.inspect" >&2; fail "seal inspect does not record the GGUF student"; }
say "a GGUF student beside the HF teacher equals the HF student"

# ---- 3. a teacher with its own tokenizer -----------------------------------------------------
train_to_end 1 "$(job tok tests/fixtures/tiny-teacher-tok 1)" "$tmp/tok" 1
grep -qF 'teacher:    qwen2, hidden 32, 3 layers, 2 heads (1 kv), vocab 300' "$tmp/tok.inspect" ||
  { cat "$tmp/tok.inspect" >&2; fail "the own-tokenizer teacher is not recorded"; }
say "ok"
