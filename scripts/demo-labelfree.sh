#!/usr/bin/env bash
# make demo-labelfree: the demo (scripts/demo.sh) with reward.source
# self-certainty (jobs/demo-labelfree.yaml): one SEAL round on CPU whose ReST-EM
# filter reads no gold answer, then `seal eval` against the gold answers, which
# also prints how self-certainty and entropy tracked the labelled reward.
set -euo pipefail
build=${1:-build}
cd "$(dirname "$0")/.."
model=$(bash scripts/fetch-model.sh)
echo "demo-labelfree: model $model" >&2
job=jobs/demo-labelfree.yaml
out=${SEAL_DEMO_OUTPUT:-runs/demo-labelfree}
rm -rf "$out"
start=$(date +%s)
"$build/seal" train "$job" --output "$out"
"$build/seal" eval "$job" --output "$out"
echo "demo-labelfree: finished in $(( $(date +%s) - start ))s; checkpoint $out/checkpoint.h5, metrics $out/metrics.jsonl, eval $out/eval.json, plot $out/plot.svg" >&2
