#!/usr/bin/env bash
# make demo-arc: fetch the small default model, run jobs/arc-demo.yaml (one SEAL
# round of few-shot ARC on CPU over data/arc-demo), then evaluate it: prints the
# table of the four conditions (in-context, ttt-fixed, seal-round-0, seal-round-1).
# SEAL_DEMO_OUTPUT: where the run goes (default runs/arc-demo); SEAL_DEMO_RANKS:
# see scripts/demo-run.sh.
set -euo pipefail
exec bash "$(dirname "$0")/demo-run.sh" demo-arc "${1:-build}" jobs/arc-demo.yaml \
  "${SEAL_DEMO_OUTPUT:-runs/arc-demo}"
