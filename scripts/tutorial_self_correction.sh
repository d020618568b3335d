#!/usr/bin/env bash
# `make tutorial-self-correction`: the multi-turn tutorial. Set up the main environment, import
# SmolLM2-135M-Instruct, make the self-correction data, evaluate held-out success, train on CPU,
# evaluate again, and print both numbers next to the best question-blind policy, the drift fallbacks
# and the LLM calls per episode and per training sample. Extra arguments are config overrides
# (experiment.seed=1, trainer.total_steps=10).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
VENV=${AJET_VENVS_DIR:-$ROOT/.venvs}/main
MODEL_DIR=${AJET_QUICKSTART_MODEL:-$ROOT/.cache/smollm2}
TUTORIAL=tutorial/example_self_correction
LOG=$(mktemp /tmp/ajet-self-correction.XXXXXX.log)

scripts/setup_env.sh main
[ -f "$MODEL_DIR/config.json" ] || "$VENV/bin/ajet" model import-smollm2 "$MODEL_DIR"
"$VENV/bin/python" "$TUTORIAL/make_data.py" --out "$TUTORIAL/data"

"$VENV/bin/ajet" train --conf "$TUTORIAL/self_correction.yaml" "model.path=$MODEL_DIR" "$@" | tee "$LOG"
run_dir=$(sed -n 's/^run folder: //p' "$LOG" | tail -n 1)
"$VENV/bin/python" "$TUTORIAL/report.py" "$run_dir" --data "$TUTORIAL/data"
echo "look at the episodes: $VENV/bin/ajet view $run_dir"
