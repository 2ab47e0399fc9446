#!/usr/bin/env bash
# make demo-labelfree: the demo (scripts/demo.sh) with reward.source
# self-certainty (jobs/demo-labelfree.yaml): one SEAL round on CPU whose ReST-EM
# filter reads no gold answer, then `seal eval` against the gold answers, which
# also prints how self-certainty and entropy tracked the labelled reward.
# SEAL_DEMO_OUTPUT: where the run goes (default runs/demo-labelfree);
# SEAL_DEMO_RANKS: see scripts/demo-run.sh.
set -euo pipefail
exec bash "$(dirname "$0")/demo-run.sh" demo-labelfree "${1:-build}" jobs/demo-labelfree.yaml \
  "${SEAL_DEMO_OUTPUT:-runs/demo-labelfree}"
