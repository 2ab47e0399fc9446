#!/usr/bin/env bash
# scripts/demo-run.sh — what the demos (demo.sh, demo-arc.sh, demo-labelfree.sh)
# share: fetch the small model, then `seal train` and `seal eval` of one job into
# a fresh output directory, timed, on as many MPI ranks as the machine has cores.
#
#   bash scripts/demo-run.sh NAME BUILD JOB OUTPUT     (JOB "" = the embedded demo job)
#
#   SEAL_DEMO_RANKS  ranks to run (default: the online cores, at most 4 and at most
#                    one per 1.5 GB of available memory; 1 = one plain process)
#
# Why ranks rather than one process with a thread per core: each rank takes whole
# work items (one self-edit's inner loop and answers), and the demo's inner loops
# are many small products (30-token sequences) that two threads split badly; on
# the 2-core development VM two ranks of one thread each took the demo's round 0
# in 170 s where one process of two threads took 258 s (docs/demo.md). A rank's
# results do not depend on the rank count, only on its thread count: one rank of
# one thread gives the same rewards as two ranks of one thread.
set -euo pipefail
name=$1 build=$2 job=$3 out=$4
cd "$(dirname "$0")/.."
model=$(bash scripts/fetch-model.sh)

default_ranks() {
  local cores mem_kb by_mem
  cores=$(nproc)
  mem_kb=$(awk '/^MemAvailable:/ {print $2}' /proc/meminfo 2>/dev/null || echo 0)
  by_mem=$((mem_kb / 1500000))
  local n=$cores
  ((n <= 4)) || n=4
  ((by_mem >= 1 && n > by_mem)) && n=$by_mem
  ((n >= 1)) || n=1
  echo "$n"
}
ranks=${SEAL_DEMO_RANKS:-$(default_ranks)}
[[ $ranks =~ ^[1-9][0-9]*$ ]] || {
  echo "$name: SEAL_DEMO_RANKS=$ranks: expected a positive whole number of ranks" >&2
  exit 2
}
launch=()
if ((ranks > 1)); then
  if command -v mpirun >/dev/null; then
    # Open MPI refuses root without these; a container's root user is common.
    [ "$(id -u)" != 0 ] || export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
    launch=(mpirun -np "$ranks" --bind-to none)
  else
    echo "$name: mpirun not found: running one process (SEAL_DEMO_RANKS=1 says so quietly)" >&2
    ranks=1
  fi
fi
job_arg=()
[ -z "$job" ] || job_arg=("$job")
echo "$name: model $model, $ranks rank(s)" >&2
rm -rf "$out"
start=$(date +%s)
"${launch[@]}" "$build/seal" train "${job_arg[@]}" --output "$out"
"${launch[@]}" "$build/seal" eval "${job_arg[@]}" --output "$out"
echo "$name: finished in $(($(date +%s) - start))s; checkpoint $out/checkpoint.h5, metrics $out/metrics.jsonl, eval $out/eval.json, plot $out/plot.svg" >&2
