#!/usr/bin/env bash
# make demo: fetch the small default model, run the embedded demo job (one SEAL
# round of knowledge incorporation on CPU), then evaluate it and print the table.
# SEAL_DEMO_OUTPUT: where the run goes (default runs/demo); SEAL_DEMO_RANKS: see
# scripts/demo-run.sh.
set -euo pipefail
exec bash "$(dirname "$0")/demo-run.sh" demo "${1:-build}" "" "${SEAL_DEMO_OUTPUT:-runs/demo}"
