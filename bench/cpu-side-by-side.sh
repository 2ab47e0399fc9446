#!/usr/bin/env bash
# bench/cpu-side-by-side.sh — seal, PyTorch + PEFT and llama.cpp on this CPU, on the
# same model (SmolLM2-135M-Instruct, the Q4_1 GGUF of scripts/fetch-model.sh) and the
# same shapes, interleaved over R rounds; prints one Markdown table with ratios
# (issue 15, item 4), and SEAL's unit of work (one knowledge self-edit evaluation from
# bench/unit-of-work.json: the demo's inner loop and answering) in seal and in the
# same loop written with PyTorch + PEFT. What each row times: bench/cpu_side_by_side.py's docstring and
# docs/perf.md ("CPU side by side").
#
#   bash bench/cpu-side-by-side.sh [--smoke] [--rounds R] [--repeats N] [--build DIR]
#
#   --smoke        tiny shapes and one round: checks that everything runs (minutes)
#   --rounds R     interleaved rounds (default 4; 1 with --smoke)
#   --repeats N    timed repeats per measurement per round, after a warm-up (default 1)
#   --build DIR    where the seal binary is (default build/; built there if missing)
#
# Environment:
#   SEAL_BENCH_VENV=DIR    the virtual environment (default ~/.cache/seal/bench-venv);
#                          made and filled from PyPI on the first run, reused after
#   SEAL_BENCH_NO_LLAMA=1  leave llama.cpp out (its column then reads '–'); also what
#                          happens, with a warning, when llama-cpp-python fails to build
#   THREADS=N              threads for every implementation (default: nproc)
#   OPENBLAS_CORETYPE      passed through to seal as it is (the table records it)
#
# Raw records (JSON lines, one per measurement per round) go to BUILD/bench/side-by-side.jsonl
# and the table to stdout and BUILD/bench/side-by-side.md. Run it on a quiet machine:
# other processes' load moves these numbers by up to 3x (docs/perf.md).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
command="bash bench/cpu-side-by-side.sh $*"
smoke=0
rounds=""
repeats=1
build="$repo/build"
while (($#)); do
  case "$1" in
    --smoke) smoke=1 ;;
    --rounds) rounds=${2:?--rounds needs a number}; shift ;;
    --repeats) repeats=${2:?--repeats needs a number}; shift ;;
    --build) build=${2:?--build needs a directory}; shift ;;
    -h | --help) sed -n '2,27p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "cpu-side-by-side.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
  esac
  shift
done
[[ -n "$rounds" ]] || rounds=$((smoke ? 1 : 4))
threads=${THREADS:-$(nproc)}
venv=${SEAL_BENCH_VENV:-$HOME/.cache/seal/bench-venv}
cache="${SEAL_CACHE:-$HOME/.cache/seal}"
log() { echo "cpu-side-by-side.sh: $*" >&2; }

# ---- the virtual environment ----------------------------------------------------------
# Plain PyPI only: torch's PyPI wheel (which also pulls its CUDA libraries, a few GB;
# PyTorch's own CPU-wheel index is not reachable from every machine), transformers,
# peft, gguf (transformers dequantises the GGUF with it) and llama-cpp-python, which
# PyPI ships as source only: pip builds llama.cpp with this machine's ISA (GGML_NATIVE).
python_pkgs=(torch transformers peft gguf safetensors)
setup_venv() {
  local t0=$SECONDS
  if [[ ! -x "$venv/bin/python" ]]; then
    log "creating $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --upgrade pip
  fi
  if ! "$venv/bin/python" -c 'import torch, transformers, peft, gguf' 2>/dev/null; then
    log "installing ${python_pkgs[*]} from PyPI (torch's wheel is large; this takes minutes)"
    "$venv/bin/pip" install --quiet "${python_pkgs[@]}"
  fi
  if [[ -z "${SEAL_BENCH_NO_LLAMA:-}" ]] && ! "$venv/bin/python" -c 'import llama_cpp' 2>/dev/null; then
    log "building llama-cpp-python from source (llama.cpp: tens of minutes on 2 cores)"
    # LLAVA_BUILD=OFF: no multimodal library (54 more C++ files to build; Llama imports it
    # only for image chat formats). CMAKE_ARGS from the environment replaces it.
    if ! CMAKE_ARGS=${CMAKE_ARGS:--DLLAVA_BUILD=OFF} CMAKE_BUILD_PARALLEL_LEVEL=$(nproc) \
      "$venv/bin/pip" install --quiet llama-cpp-python \
      >"$out_dir/llama-cpp-python-build.log" 2>&1; then
      log "llama-cpp-python did not build (see $out_dir/llama-cpp-python-build.log);" \
        "its column will read '–'"
      SEAL_BENCH_NO_LLAMA=1
    fi
  fi
  log "virtual environment ready in $((SECONDS - t0)) s"
}

# ---- inputs ---------------------------------------------------------------------------
out_dir="$build/bench"
mkdir -p "$out_dir"
setup_venv
py="$venv/bin/python"

gguf=$(bash "$repo/scripts/fetch-model.sh")
# The same weights for PyTorch: the GGUF dequantised to f32 once, kept beside it.
hf="$cache/models/$(basename "$gguf" .gguf)-f32-hf"
if [[ ! -f "$hf/config.json" ]]; then
  log "dequantising $gguf to $hf"
  "$py" "$here/cpu_side_by_side.py" convert "$gguf" "$hf"
fi

seal="$build/seal"
if [[ ! -x "$seal" ]]; then
  log "building seal in $build (CPU only)"
  cmake -S "$repo" -B "$build" -DSEAL_CUDA=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build "$build" -j"$(nproc)" --target seal >/dev/null
fi

# ---- the run --------------------------------------------------------------------------
args=(run --seal "$seal" --gguf "$gguf" --hf "$hf" --rounds "$rounds" --repeats "$repeats"
  --threads "$threads" --raw "$out_dir/side-by-side.jsonl"
  --command "THREADS=$threads${SEAL_BENCH_NO_LLAMA:+ SEAL_BENCH_NO_LLAMA=1} $command")
((smoke)) && args+=(--smoke)
[[ -n "${SEAL_BENCH_NO_LLAMA:-}" ]] && args+=(--skip-llama)
"$py" "$here/cpu_side_by_side.py" "${args[@]}" | tee "$out_dir/side-by-side.md"
