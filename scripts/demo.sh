#!/usr/bin/env bash
# make demo: fetch the small default model, run the embedded demo job (one SEAL
# round of knowledge incorporation on CPU), then evaluate it and print the table.
set -euo pipefail
build=${1:-build}
cd "$(dirname "$0")/.."
model=$(bash scripts/fetch-model.sh)
echo "demo: model $model" >&2
out=${SEAL_DEMO_OUTPUT:-runs/demo}
rm -rf "$out"
start=$(date +%s)
"$build/seal" train --output "$out"
"$build/seal" eval --output "$out"
echo "demo: finished in $(( $(date +%s) - start ))s; checkpoint $out/checkpoint.h5, metrics $out/metrics.jsonl, plot $out/plot.svg" >&2
