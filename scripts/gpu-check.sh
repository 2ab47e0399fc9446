#!/usr/bin/env bash
# scripts/gpu-check.sh — everything issue 14 asks of a GPU machine, in one call
# that fits in 10 minutes of device time, with a table printed last:
#   1. configure and build with CUDA (the lab, the model tests, seal);
#   2. the golden model tests on the GPU (SEAL_TEST_DEVICE=cuda: whole-model
#      forward and backward, LoRA gradients, five AdamW steps, PEFT adapters
#      and merge, greedy and batched generation, KV-cached inference), with the
#      new kernels and again with the first (reference) kernels, and once more
#      with decoding steps as CUDA graphs (SEAL_CUDA_GRAPHS=1), whose greedy
#      tokens on the tiny fixture must equal those without graphs;
#   3. teacher and student on different backends (job key teacher_device,
#      docs/teacher.md): tests/fixtures/tiny-seal's job with tests/fixtures/
#      tiny-teacher, 1 round with the teacher on cpu and the student on cuda,
#      then the other way round; each must finish and its checkpoint name both
#      backends (seal inspect);
#   4. the kernel lab at full shapes (every op against the CPU backend, timed);
#   5. compute-sanitizer memcheck (+ leak check), racecheck and initcheck on the
#      lab's small shapes;
#   6. seal bench beside bench/pytorch_baseline.py at the Llama-3.2-1B shape
#      (random bf16 weights, the same run), and with --with-7b the Qwen2.5-7B
#      LoRA-on-q,v steps too; greedy B1 decoding with and without graphs,
#      both timings as rows of the table;
#   7. the table: every check's result, then seal vs PyTorch with the targets.
#
#   scripts/gpu-check.sh [--with-7b] [--budget SECONDS] [build-dir]
#
# Here, once, from the checkout's root: bash /work/shared/device/prepare.sh;
# bash scripts/gpu-deps.sh (utf8proc and OpenBLAS, which prepare.sh does not
# lay out). On the lent machine, carrying [".devdeps"]:
#   source .devdeps/env.sh; scripts/gpu-check.sh
# Each step runs under a timeout cut to the budget left (default 560 s), and a
# step that no longer fits is reported as skipped, so the table always comes.
# Logs and JSON lines go to $OUT when set, else <build-dir>/gpu-check/.
# Exit status non-zero if anything failed (skipped steps do not fail).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
with_7b=0
budget=560
build="build-gpu"
while [[ $# -gt 0 ]]; do
  case $1 in
    --with-7b) with_7b=1 ;;
    --budget) budget=$2; shift ;;
    -h | --help) sed -n '2,30p' "$0"; exit 0 ;;
    *) build=$1 ;;
  esac
  shift
done
if [[ -f .devdeps/env.sh ]]; then
  # shellcheck disable=SC1091
  source .devdeps/env.sh
fi
logs=${OUT:-$build/gpu-check}
mkdir -p "$logs"
checks=$logs/checks.tsv
: >"$checks"
failed=0
start=$SECONDS

step() { printf '\n==== [%4ds] %s\n' "$((SECONDS - start))" "$*"; }
left() { echo $((budget - (SECONDS - start))); }
record() { # name result
  printf '%s\t%s\n' "$1" "$2" >>"$checks"
  [[ $2 == FAIL* ]] && failed=1
  return 0
}
# run NAME WANT_SECONDS LOG COMMAND...: the command under a timeout of at most
# WANT_SECONDS (less when the budget is shorter), its output in LOG.
run() {
  local name=$1 want=$2 log=$3
  shift 3
  local t
  t=$(left)
  ((t -= 15)) # what the table and the last steps need
  if ((t < 20)); then
    record "$name" "skipped (budget)"
    return 1
  fi
  ((want < t)) && t=$want
  local t0=$SECONDS
  timeout -k 5 "$t" "$@" >"$log" 2>&1
  local rc=$?
  if ((rc == 0)); then
    record "$name" "pass ($((SECONDS - t0)) s)"
  elif ((rc == 124 || rc == 137)); then
    record "$name" "FAIL: timed out after $t s"
  else
    record "$name" "FAIL: exit $rc (see $(basename "$log"))"
  fi
  return $rc
}

step "machine"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm --format=csv,noheader || true
nproc

step "configure + build ($build)"
blas=()
# OpenBLAS from .devdeps (scripts/gpu-deps.sh) when the machine has none of its own
if [[ -n ${SEAL_OPENBLAS_DIR:-} && ! -d /usr/lib/x86_64-linux-gnu/openblas-openmp ]]; then
  blas=(-DOPENBLAS_OPENMP_LIB="$SEAL_OPENBLAS_DIR/libopenblas.so.0")
fi
if ! cmake -S . -B "$build" -DSEAL_CUDA=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo "${blas[@]}" \
  >"$logs/configure.log" 2>&1; then
  tail -30 "$logs/configure.log"
  record "configure" "FAIL"
  exit 1
fi
if ! run "build (lab, test_model, seal)" 300 "$logs/build.log" \
  cmake --build "$build" -j"$(nproc)" --target cuda_kernel_lab test_model seal; then
  tail -40 "$logs/build.log"
  cat "$checks"
  exit 1
fi

step "golden model tests on cuda (new kernels, then the reference kernels)"
# CK_RUN_SUITE picks test_golden.c's suite; the tests read tests/fixtures.
run "golden tests, cuda" 90 "$logs/golden-cuda.txt" \
  env SEAL_TEST_DEVICE=cuda CK_RUN_SUITE=golden CK_DEFAULT_TIMEOUT=120 "$build/test_model"
tail -3 "$logs/golden-cuda.txt"
run "golden tests, cuda, reference kernels" 90 "$logs/golden-cuda-reference.txt" \
  env SEAL_TEST_DEVICE=cuda CK_RUN_SUITE=golden CK_DEFAULT_TIMEOUT=120 \
  SEAL_CUDA_ATTENTION=reference SEAL_CUDA_LORA=tiled "$build/test_model"
tail -3 "$logs/golden-cuda-reference.txt"

step "decode steps as CUDA graphs (SEAL_CUDA_GRAPHS=1): same tokens as without"
run "golden tests, cuda, decode graphs" 90 "$logs/golden-cuda-graphs.txt" \
  env SEAL_TEST_DEVICE=cuda CK_RUN_SUITE=golden CK_DEFAULT_TIMEOUT=120 SEAL_CUDA_GRAPHS=1 \
  "$build/test_model"
tail -3 "$logs/golden-cuda-graphs.txt"
# greedy_tokens GRAPHS: the command printing 3 greedy samples of 48 tokens on
# the tiny fixture into greedy-graphs-GRAPHS.out (run() takes a command)
greedy_tokens() {
  echo "SEAL_CUDA_GRAPHS=$1 '$build/seal' generate --model tests/fixtures/tiny-seal \
    --device cuda --prompt 'The capital of France is' --max-tokens 48 --samples 3 \
    >'$logs/greedy-graphs-$1.out'"
}
if run "greedy decode, graphs off (tiny, 3 x 48 tokens)" 30 "$logs/greedy-graphs-0.txt" \
  bash -c "$(greedy_tokens 0)" &&
  run "greedy decode, graphs on (tiny, 3 x 48 tokens)" 30 "$logs/greedy-graphs-1.txt" \
    bash -c "$(greedy_tokens 1)"; then
  if cmp -s "$logs/greedy-graphs-0.out" "$logs/greedy-graphs-1.out" &&
    [[ -s $logs/greedy-graphs-0.out ]]; then
    record "greedy tokens identical with and without graphs" "pass"
  else
    record "greedy tokens identical with and without graphs" \
      "FAIL: outputs differ (greedy-graphs-0.out, greedy-graphs-1.out)"
  fi
fi

step "teacher and student on different backends (tiny teacher job, 1 round each)"
# teacher_run STUDENT_DEVICE TEACHER_DEVICE: the run, then seal inspect naming both
teacher_run() {
  local dev=$1 tdev=$2 name="teacher-$2-student-$1"
  local job="$logs/$name.yaml" dir=${TMPDIR:-/tmp}/seal-$name
  sed -e 's#^model: tests/fixtures/tiny-seal$#model: tests/fixtures/tiny-seal\nteacher: tests/fixtures/tiny-teacher#' \
    -e "s/^device: cpu$/device: $dev/" -e 's/^rounds: 2$/rounds: 1/' \
    tests/fixtures/tiny-seal/job.yaml >"$job"
  printf 'teacher_device: %s\n' "$tdev" >>"$job"
  rm -rf "$dir"
  run "teacher on $tdev, student on $dev (tiny teacher job)" 60 "$logs/$name.txt" \
    bash -c "'$build/seal' train '$job' --output '$dir' &&
      '$build/seal' inspect '$dir/checkpoint.h5' | tee '$logs/$name.inspect' |
        grep -F 'base:       tests/fixtures/tiny-seal (on $dev' &&
      grep -F 'teacher at: tests/fixtures/tiny-teacher (on $tdev' '$logs/$name.inspect'"
  tail -2 "$logs/$name.txt"
}
teacher_run cuda cpu
teacher_run cpu cuda

step "kernel lab (full shapes)"
run "kernel lab, full shapes" 150 "$logs/lab.txt" "$build/cuda_kernel_lab" --reps 5
grep -E "FAIL|checks," "$logs/lab.txt" | tail -20
run "kernel lab, reference kernels (small)" 40 "$logs/lab-reference.txt" \
  env SEAL_CUDA_ATTENTION=reference SEAL_CUDA_LORA=tiled SEAL_CUDA_GEMM=tiled \
  "$build/cuda_kernel_lab" --small --reps 1 --seed 99
tail -1 "$logs/lab-reference.txt"

sanitizer=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
for tool in memcheck racecheck initcheck; do
  step "compute-sanitizer $tool (small shapes)"
  extra=()
  [[ $tool == memcheck ]] && extra=(--leak-check full)
  run "compute-sanitizer $tool" 75 "$logs/sanitizer-$tool.txt" \
    "$sanitizer" --tool "$tool" "${extra[@]}" --error-exitcode 9 \
    "$build/cuda_kernel_lab" --small --reps 1
  grep -E "ERROR SUMMARY|RACECHECK SUMMARY|=========  [A-Z]" "$logs/sanitizer-$tool.txt" | head -8
done

step "seal beside PyTorch, Llama-3.2-1B shape"
export PYTHONUNBUFFERED=1
rand=${TMPDIR:-/tmp}/seal-rand
seal_json=$logs/seal.jsonl
torch_json=$logs/pytorch.jsonl
: >"$seal_json"
: >"$torch_json"
only=(--only llama)
((with_7b)) && only=()
if run "random checkpoints (--save-random)" 120 "$logs/save-random.txt" \
  python3 bench/pytorch_baseline.py --device cuda --save-random "$rand" "${only[@]}"; then
  llama=$rand/llama-3.2-1b
  sb=("$build/seal" bench --model "$llama" --device cuda --json --repeats 3)
  run "seal bench: prefill B8xT512, sft B8xT512" 60 "$logs/seal-1.jsonl" \
    "${sb[@]}" --prompt-tokens 512 --batch 8 --new-tokens 1 --train-tokens 512 --train-batch 8 &&
    cat "$logs/seal-1.jsonl" >>"$seal_json"
  run "seal bench: greedy B1, sft B1xT256" 60 "$logs/seal-2.jsonl" \
    "${sb[@]}" --prompt-tokens 64 --new-tokens 128 --batch 1 --train-tokens 256 &&
    cat "$logs/seal-2.jsonl" >>"$seal_json"
  # the same greedy decode with its steps replayed as CUDA graphs: both
  # timings as check rows (decode_ms reads the JSON line's median)
  decode_ms() { sed -n 's/.*"name": "decode_greedy".*"ms": \([0-9.]*\),.*/\1/p' "$1" | head -1; }
  if run "seal bench: greedy B1, decode graphs" 60 "$logs/seal-2-graphs.jsonl" \
    env SEAL_CUDA_GRAPHS=1 "${sb[@]}" --prompt-tokens 64 --new-tokens 128 --batch 1 \
    --train-tokens 16; then
    record "decode greedy B1 x 128, graphs off" "info: $(decode_ms "$logs/seal-2.jsonl") ms"
    record "decode greedy B1 x 128, graphs on" "info: $(decode_ms "$logs/seal-2-graphs.jsonl") ms"
  fi
  run "seal bench: sampled B16" 60 "$logs/seal-3.jsonl" \
    "${sb[@]}" --prompt-tokens 64 --new-tokens 128 --batch 16 --temperature 1 --top-p 0.95 \
    --train-tokens 16 &&
    grep '"decode_sample"\|"prefill"' "$logs/seal-3.jsonl" >>"$seal_json"
  if ((with_7b)); then
    qwen=$rand/qwen2.5-7b
    run "seal bench: qwen2.5-7b sft q,v B1xT2048 and B1xT40" 120 "$logs/seal-7b.jsonl" \
      bash -c "'$build/seal' bench --model '$qwen' --device cuda --json --repeats 3 --batch 1 \
        --new-tokens 8 --train-tokens 2048 --lora-targets q,v &&
        '$build/seal' bench --model '$qwen' --device cuda --json --repeats 3 --batch 1 \
        --new-tokens 8 --train-tokens 40 --lora-targets q,v" &&
      grep sft_step "$logs/seal-7b.jsonl" >>"$seal_json"
  fi
  run "pytorch baseline (same shapes)" 200 "$torch_json" \
    python3 bench/pytorch_baseline.py --device cuda --repeats 3 --warmup 1 "${only[@]}"
fi

step "summary ($((SECONDS - start)) s)"
bytes=0
[[ -f ${llama:-}/model.safetensors ]] && bytes=$(stat -c %s "$llama/model.safetensors")
python3 bench/compare.py --seal "$seal_json" --torch "$torch_json" --model-bytes "$bytes" \
  --checks "$checks" | tee "$logs/table.md"
if ((failed)); then
  echo "FAILED: see the table above and the logs"
  exit 1
fi
echo "all GPU checks passed ($((SECONDS - start)) s)"
