#!/usr/bin/env bash
# tests/e2e/seal_resume.sh BUILD_DIR — a run stopped by a signal and continued with
# `seal train --resume` reaches the same result as an uninterrupted run, and a
# damaged checkpoint is refused without harm to the previous one (docs/checkpoint.md).
#
# The job is tests/fixtures/tiny-seal/job.yaml with 40 inner-loop epochs (12 under the sanitizers) instead
# of 2 (written to a temporary file), so that a round lasts about a second and the
# signal reliably lands in the middle of the evaluations.
#
# 1. References: the job uninterrupted, on 1 and on 2 ranks.
# 2. 1 rank: once 3 "evaluated" events are in metrics.jsonl, SIGTERM goes to the
#    rank process itself (the child of mpiexec). Expected: exit status 3 and a
#    checkpoint in round 0 (a later round only if a loaded machine made the poll
#    lag), phase evaluate (or generate), holding fewer results than a full round;
#    then --resume runs to the end.
# 3. 2 ranks: SIGUSR1 (Slurm's warning before the time limit) goes to mpiexec,
#    which forwards it to every rank; stopped once in round 0 and, after a resume,
#    again in round 1 (so a resume also merges a finished round's policy); the
#    second resume runs to the end.
#    Open MPI's mpiexec does not forward SIGTERM: it treats it as a request to kill
#    the job, signals the ranks about a second later and exits 1 itself whatever
#    they return. Under Slurm, srun (or scancel) delivers SIGTERM to every task
#    directly, which is what step 2 does by hand.
# Each resumed run must equal the uninterrupted run on as many ranks bit for bit
# (run_compare suite, `e2e` case, with tolerances 0: self-edit texts, rewards,
# losses, policy tensors; see tests/trainer/test_run_compare.c). Across rank
# counts the all-reduce sums in another order, which tests/e2e/seal_ranks.sh covers.
# 4. A finished run's checkpoint.h5 truncated to half its size: --resume refuses
#    it (non-zero exit, the file named on stderr) and checkpoint.h5.prev is left
#    byte-identical and readable (`seal inspect` exits 0).
set -euo pipefail
source "$(dirname "$0")/lib.bash"
e2e_init seal_resume "${1:-}"

# 40 epochs make a round last about a second; under the sanitizers (SEAL_SANITIZE=1,
# tests/tests.cmake) every step is several times slower, and 12 do.
epochs=40
[ "${SEAL_SANITIZE:-0}" = 1 ] && epochs=12
job="$tmp/job.yaml"
sed "s/^  epochs: 2\$/  epochs: $epochs/" tests/fixtures/tiny-seal/job.yaml >"$job"
grep -q "^  epochs: $epochs\$" "$job" || fail "could not set inner_loop.epochs in the fixture's job"

# interrupt N DIR EVENTS HOW ROUND [--resume]: starts the run in the background,
# signals it (HOW: rank-term or mpiexec-usr1) once metrics.jsonl holds EVENTS
# "evaluated" events in all (and at least one from this process, so that its
# handlers are installed), and expects exit status 3 and a checkpoint in round
# ROUND or later (later only when this machine is so loaded that the poll lagged
# a whole round), phase evaluate or generate, with that round unfinished.
interrupt() {
  local n=$1 dir=$2 want=$3 how=$4 min_round=$5 status before
  shift 5
  before=$(events "$dir" evaluated)
  [ "$want" -gt "$before" ] || want=$((before + 1))
  say "seal train${*:+ $*} on $n rank(s), stopped ($how) at $want evaluations"
  start_train "$n" "$job" "$dir" "$@"
  wait_for_events "$dir" evaluated "$want" || fail "the run ended before $want evaluations were reported"
  case $how in
    rank-term) term_ranks || fail "no rank process under mpiexec (pid $bg)" ;;
    mpiexec-usr1) kill -USR1 "$bg" ;;
  esac
  wait_train
  status=$train_status
  [ "$status" -eq 3 ] || { tail -n 30 "$dir.log" >&2; fail "exit status $status after the signal, expected 3"; }
  "$seal" inspect "$dir/checkpoint.h5" >"$dir.inspect" || fail "seal inspect of the stopped run"
  local round phase records
  round=$(sed -n 's/^round: *\([0-9]*\), phase .*/\1/p' "$dir.inspect")
  phase=$(sed -n 's/^round: *[0-9]*, phase //p' "$dir.inspect")
  case $phase in
    evaluate | generate) ;;
    *) cat "$dir.inspect" >&2; fail "the stopped run's checkpoint is in phase '$phase', expected evaluate or generate" ;;
  esac
  [ "${round:-0}" -ge "$min_round" ] && [ "${round:-0}" -lt 2 ] ||
    { cat "$dir.inspect" >&2; fail "the stopped run's checkpoint is in round '$round', expected $min_round or 1"; }
  # It stopped part-way: fewer evaluated records in that round than a full round (12).
  records=$(sed -n "s/^  round_$round: [0-9]* records, \([0-9]*\) evaluated.*/\1/p" "$dir.inspect")
  say "  stopped in round $round, phase $phase, ${records:-0} of the round's 12 evaluations checkpointed"
  [ "${records:-0}" -lt 12 ] || fail "round $round was complete when the run stopped"
}

# ---- 1. references ----------------------------------------------------------------------
train_to_end 1 "$job" "$tmp/ref1" 2
train_to_end 2 "$job" "$tmp/ref2" 2

# ---- 2. one rank, SIGTERM to the rank ------------------------------------------------------
interrupt 1 "$tmp/np1" 3 rank-term 0
train_to_end 1 "$job" "$tmp/np1" 2 --resume
compare "$tmp/ref1" "$tmp/np1" exact

# ---- 3. two ranks, SIGUSR1 to mpiexec, stopped in round 0 and in round 1 -----------------------
interrupt 2 "$tmp/np2" 3 mpiexec-usr1 0
interrupt 2 "$tmp/np2" 15 mpiexec-usr1 1 --resume
train_to_end 2 "$job" "$tmp/np2" 2 --resume
compare "$tmp/ref2" "$tmp/np2" exact

# ---- 4. a truncated checkpoint is refused; the previous one survives ---------------------------
say "--resume with checkpoint.h5 truncated to half its size"
bad="$tmp/truncated"
cp -r "$tmp/ref1" "$bad"
[ -f "$bad/checkpoint.h5.prev" ] || fail "the finished run left no checkpoint.h5.prev"
cp "$bad/checkpoint.h5.prev" "$tmp/prev.orig"
size=$(stat -c %s "$bad/checkpoint.h5")
head -c $((size / 2)) "$bad/checkpoint.h5" >"$tmp/half.h5"
mv "$tmp/half.h5" "$bad/checkpoint.h5"
status=0
run_seal 1 train "$job" --output "$bad" --resume >"$tmp/refused.out" 2>"$tmp/refused.err" ||
  status=$?
[ "$status" -ne 0 ] || fail "seal train --resume accepted a truncated checkpoint"
grep -qF "$bad/checkpoint.h5" "$tmp/refused.err" ||
  { cat "$tmp/refused.err" >&2; fail "the error does not name $bad/checkpoint.h5"; }
grep -m1 -F "$bad/checkpoint.h5" "$tmp/refused.err" | sed 's/^/seal_resume:   refused: /'
cmp -s "$tmp/prev.orig" "$bad/checkpoint.h5.prev" || fail "checkpoint.h5.prev was changed"
"$seal" inspect "$bad/checkpoint.h5.prev" >"$tmp/prev.inspect" 2>&1 ||
  { cat "$tmp/prev.inspect" >&2; fail "seal inspect cannot read checkpoint.h5.prev"; }
[ "$(stat -c %s "$bad/checkpoint.h5")" -eq $((size / 2)) ] ||
  fail "the refused checkpoint.h5 was rewritten"
say "  exit status $status; checkpoint.h5.prev unchanged and readable"
say "ok"
