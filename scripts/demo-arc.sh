#!/usr/bin/env bash
# make demo-arc: fetch the small default model, run jobs/arc-demo.yaml (one SEAL
# round of few-shot ARC on CPU over data/arc-demo), then evaluate it: prints the
# table of the four conditions (in-context, ttt-fixed, seal-round-0, seal-round-1).
set -euo pipefail
build=${1:-build}
cd "$(dirname "$0")/.."
model=$(bash scripts/fetch-model.sh)
echo "demo-arc: model $model" >&2
job=jobs/arc-demo.yaml
out=${SEAL_DEMO_OUTPUT:-runs/arc-demo}
rm -rf "$out"
start=$(date +%s)
"$build/seal" train "$job" --output "$out"
"$build/seal" eval "$job" --output "$out"
echo "demo-arc: finished in $(( $(date +%s) - start ))s; checkpoint $out/checkpoint.h5, metrics $out/metrics.jsonl, eval $out/eval.json, plot $out/plot.svg" >&2
