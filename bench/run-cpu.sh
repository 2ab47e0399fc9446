#!/usr/bin/env bash
# bench/run-cpu.sh — what `make bench` runs (CPU only): the distribution benchmark
# (bench/workqueue_scaling.c) at 1..8 ranks, then `seal bench` on the cached SmolLM2
# model when this build has that subcommand. Raw lines go to BUILD/bench/*.txt and
# Markdown tables (the ones in docs/scaling.md) to stdout.
#
#   bash bench/run-cpu.sh [BUILD]        BUILD defaults to build/
#   MAX_RANKS=4 bash bench/run-cpu.sh    fewer ranks (default 8)
#   QUICK=1 bash bench/run-cpu.sh        shorter runs, for a smoke test
set -euo pipefail

build=${1:-build}
max_ranks=${MAX_RANKS:-8}
bench_bin="$build/workqueue_scaling"
out_dir="$build/bench"
mkdir -p "$out_dir"
raw="$out_dir/workqueue_scaling.txt"

if [[ ! -x "$bench_bin" ]]; then
  echo "run-cpu.sh: $bench_bin not found; build first (make)" >&2
  exit 1
fi
mpiexec_bin=$(command -v mpiexec || command -v mpirun || true)
if [[ -z "$mpiexec_bin" ]]; then
  echo "run-cpu.sh: no mpiexec on PATH (apt-get install openmpi-bin)" >&2
  exit 1
fi
# Open MPI refuses to start as root (containers, CI) unless told twice that it is meant.
if [[ $(id -u) -eq 0 ]]; then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
# --oversubscribe: more ranks than cores is the point of the 1..8 sweep on a small
# machine. --bind-to none: Open MPI would otherwise pin ranks to cores and stack
# several ranks on one core while another idles.
mpi=("$mpiexec_bin" --oversubscribe --bind-to none)

# Sizes: 840 = lcm(1..8) items, so every rank count divides the work evenly and the
# efficiency measures coordination rather than an uneven last wave.
items=840
long_items=168
reps=3
if [[ -n "${QUICK:-}" ]]; then
  items=168
  long_items=24
  reps=1
fi
# LoRA gradients the policy update all-reduces (floats = r * sum(in+out) * layers):
#   smollm2-135m:8:all   the demo job's policy (rest_em r=8 on all 7 projections)
#   llama3.2-1b:64:all   the paper's ReST-EM adapter shape on a 1B model
#   qwen2.5-7b:64:all    the paper's knowledge run (r=64, all projections, 7B)
small_adapters="smollm2-135m:8:all,llama3.2-1b:64:all"
large_adapter="qwen2.5-7b:64:all"
ckpt_adapters="smollm2-135m:8:all,llama3.2-1b:64:all,qwen2.5-7b:64:all"

: >"$raw"
{
  echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) $(uname -n) $(nproc) cores,"\
    "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'),"\
    "$("$mpiexec_bin" --version 2>/dev/null | head -1), load average at start:"\
    "$(cut -d' ' -f1-3 /proc/loadavg)"
} >>"$raw"

run() { # ranks, then benchmark options
  local np=$1
  shift
  echo "+ mpiexec -n $np $bench_bin $*" >&2
  "${mpi[@]}" -n "$np" "$bench_bin" "$@" | tee -a "$raw"
}

for np in $(seq 1 "$max_ranks"); do
  # EVALUATE-shaped items: a 2 KB payload (context ids + self-edit text), a 0.5 KB result.
  run "$np" --items "$items" --item-ms 10 --payload 2048 --result 512 --label evaluate-10ms
  # GENERATE-shaped items: a tiny payload, k=5 self-edits of ~4 KB back (20 KB, above
  # the eager limit, so the result takes MPI's rendezvous path).
  run "$np" --items "$items" --item-ms 10 --payload 16 --result 20480 --label generate-10ms
  # Empty items: nothing but the protocol, so items/s is the coordinator's ceiling.
  run "$np" --items "$items" --item-ms 0 --payload 2048 --result 512 --label evaluate-0ms
  # Longer items, closer to (though still far below) a real inner loop.
  run "$np" --items "$long_items" --item-ms 100 --payload 2048 --result 512 --label evaluate-100ms
  if ((np >= 2)); then
    run "$np" --no-queue --adapter "$small_adapters" --reps "$reps"
    # 646 MB per rank; measured at 2, 4 and 8 ranks only (it takes seconds each).
    if ((np == 2 || np == 4 || np == 8)) && [[ -z "${QUICK:-}" ]]; then
      run "$np" --no-queue --adapter "$large_adapter" --reps 2
    fi
  fi
done
# Rank 0's checkpoint during round 1: round 0's policy + 750 evaluated self-edits
# (50 passages x 5 self-edits x 3 repeats), written where the run would write it.
ckpt_reps=$reps
run 1 --no-queue --checkpoint "$ckpt_adapters" --records 750 --reps "$ckpt_reps" \
  --tmpdir "${CKPT_DIR:-$out_dir}"

# ---- tables ---------------------------------------------------------------------
# key=value lines -> Markdown rows.
table() { # kind, label (or ""), columns...
  local kind=$1 label=$2
  shift 2
  awk -v kind="$kind" -v label="$label" -v cols="$*" '
    BEGIN { n = split(cols, c, " "); hdr = "|"; sep = "|";
            for (i = 1; i <= n; i++) { hdr = hdr " " c[i] " |"; sep = sep "---|" }
            print hdr; print sep }
    $1 == kind {
      delete kv
      for (i = 2; i <= NF; i++) { split($i, p, "="); kv[p[1]] = p[2] }
      if (label != "" && kv["label"] != label) next
      row = "|"; for (i = 1; i <= n; i++) row = row " " kv[c[i]] " |"; print row
    }' "$raw"
  echo
}
echo
head -1 "$raw"
echo
for label in evaluate-10ms generate-10ms evaluate-0ms evaluate-100ms; do
  echo "work queue, $label:"
  table queue "$label" ranks items wall_s ideal_s items_per_s efficiency busy_efficiency \
    turnaround_us_mean turnaround_us_max coord_cpu_us_per_item worker_poll_cpu_us_per_item
done
echo "all-reduce (host memory, MPI):"
table allreduce "" ranks adapter floats mbytes mean_ms min_ms algbw_GBps busbw_GBps
echo "checkpoint writes (rank 0):"
table checkpoint "" adapter floats records file_mbytes mean_s min_s

# ---- seal bench -----------------------------------------------------------------
# `seal bench` is another subcommand's work; run it only where this build has it.
model="$HOME/.cache/seal/models/SmolLM2-135M-Instruct.Q4_1.gguf"
if [[ -x "$build/seal" ]] && help=$("$build/seal" bench --help 2>&1); then
  if [[ ! -f "$model" ]]; then
    echo "run-cpu.sh: $model missing (scripts/fetch-model.sh); skipping seal bench" >&2
  else
    # Pass only the options its --help announces: its interface is its own.
    args=()
    if grep -q -- '--model' <<<"$help"; then args+=(--model "$model"); else args+=("$model"); fi
    if grep -q -- '--device' <<<"$help"; then args+=(--device cpu); fi
    echo "+ $build/seal bench ${args[*]}" >&2
    "$build/seal" bench "${args[@]}" | tee "$out_dir/seal_bench.txt"
  fi
else
  echo "run-cpu.sh: this build has no 'seal bench'; skipped" >&2
fi
