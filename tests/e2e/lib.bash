# tests/e2e/lib.bash — what the end-to-end scripts that train on several ranks
# share: start-up, failing, running seal under mpiexec, training to the end,
# comparing two runs, and stopping a run in the background. Sourced, not run:
#   source "$(dirname "$0")/lib.bash"; e2e_init NAME BUILD_DIR
# after which $seal, $build, $mpiexec and $tmp (removed on exit, with any
# background run $bg and its ranks) are set.

# e2e_init NAME BUILD_DIR
e2e_init() {
  e2e_name=$1
  build=${2:?usage: $e2e_name.sh BUILD_DIR}
  build=$(cd "$build" && pwd)
  seal="$build/seal"
  mpiexec=${MPIEXEC:-mpiexec}
  tmp=$(mktemp -d "/tmp/seal-e2e-$e2e_name-XXXXXX")
  bg=""
  trap e2e_cleanup EXIT
  [ -x "$seal" ] || fail "$seal is not built"
  [ -x "$build/test_trainer" ] || fail "$build/test_trainer (the comparison) is not built"
}

# On an early exit, the background mpiexec and its ranks (its children) go too.
e2e_cleanup() {
  if [ -n "$bg" ]; then
    kill -KILL $(pgrep -P "$bg") "$bg" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}

fail() {
  echo "$e2e_name: FAIL: $*" >&2
  exit 1
}

say() {
  echo "$e2e_name: $*"
}

# run_seal N ARGS...: seal ARGS on N ranks.
run_seal() {
  local n=$1
  shift
  "$mpiexec" --oversubscribe --bind-to none -n "$n" "$seal" "$@"
}

# train_to_end N JOB DIR ROUNDS [ARGS...]: seal train JOB into DIR on N ranks
# (log appended to DIR.log) must exit 0 with a checkpoint of ROUNDS rounds done.
train_to_end() {
  local n=$1 job=$2 dir=$3 rounds=$4 status=0
  shift 4
  say "seal train${*:+ $*} on $n rank(s) -> $dir"
  run_seal "$n" train "$job" --output "$dir" "$@" >>"$dir.log" 2>&1 || status=$?
  [ "$status" -eq 0 ] || { tail -n 30 "$dir.log" >&2; fail "seal train${*:+ $*} on $n rank(s) exited with $status"; }
  "$seal" inspect "$dir/checkpoint.h5" >"$dir.inspect" || fail "seal inspect $dir/checkpoint.h5"
  grep -qF "round: $(printf '%6d' "$rounds"), phase done" "$dir.inspect" ||
    { cat "$dir.inspect" >&2; fail "$dir/checkpoint.h5 is not a finished run of $rounds round(s)"; }
}

# compare A B [exact]: the run_compare suite's e2e case (tests/trainer/
# test_run_compare.c) on two run directories; exact sets its tolerances to 0.
compare() {
  local env=()
  [ "${3:-}" = exact ] && env=(SEAL_COMPARE_POLICY_TOL=0 SEAL_COMPARE_LOSS_RTOL=0)
  env "${env[@]}" SEAL_COMPARE_A="$1" SEAL_COMPARE_B="$2" CK_RUN_SUITE=run_compare CK_RUN_CASE=e2e \
    "$build/test_trainer" >"$tmp/compare.txt" 2>&1 ||
    { cat "$tmp/compare.txt" >&2; fail "$2 differs from $1 (above)"; }
  grep '^run_compare:' "$tmp/compare.txt"
}

# events DIR EVENT: how many EVENT events DIR/metrics.jsonl holds.
events() {
  local n
  n=$(grep -c "\"event\":\"$2\"" "$1/metrics.jsonl" 2>/dev/null || true)
  echo "${n:-0}"
}

# start_train N JOB DIR [ARGS...]: seal train in the background. mpiexec itself
# is the background job (not run_seal, which would put a subshell between), so
# $bg is its pid and the rank processes are its children.
start_train() {
  local n=$1 job=$2 dir=$3
  shift 3
  "$mpiexec" --oversubscribe --bind-to none -n "$n" "$seal" train "$job" --output "$dir" "$@" \
    >>"$dir.log" 2>&1 &
  bg=$!
}

# wait_for_events DIR EVENT COUNT: until DIR/metrics.jsonl has COUNT EVENT
# events (at most 60 s); returns 1 when the background run ended first.
wait_for_events() {
  local dir=$1 event=$2 want=$3
  for _ in $(seq 1200); do
    [ "$(events "$dir" "$event")" -ge "$want" ] && return 0
    kill -0 "$bg" 2>/dev/null || return 1
    sleep 0.05
  done
  fail "no $want $event events in $dir/metrics.jsonl after 60 s"
}

# term_ranks: SIGTERM to the rank processes of the background run (as srun or
# scancel deliver it under Slurm; Open MPI's mpiexec does not forward SIGTERM).
term_ranks() {
  local ranks
  ranks=$(pgrep -P "$bg" -f "$seal" || true)
  [ -n "$ranks" ] || return 1
  kill -TERM $ranks 2>/dev/null
}

# wait_train: waits for the background run; its exit status is then in
# $train_status (a variable, since a subshell cannot wait for this shell's job).
wait_train() {
  train_status=0
  wait "$bg" || train_status=$?
  bg=""
}
