#!/usr/bin/env bash
# Fill the test model cache (part of `make setup`, so of `make test`): build the tiny model and
# import SmolLM2-135M-Instruct, each only where missing, with the main environment's
# `ajet model test-cache`. Tests only load these models; a test that finds none fails with this
# command. One cache serves all three environments (plain safetensors folders).
#
# Usage: scripts/setup_models.sh [ENV]      ENV: the environment to run in (default main, the one
#                                           with SmolLM2's package; elsewhere SmolLM2 is skipped)
# Cache: $AJET_TEST_CACHE, default <repo>/.cache. Prints what it makes and how long it took.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENVS_DIR=${AJET_VENVS_DIR:-$ROOT/.venvs}
CACHE=${AJET_TEST_CACHE:-$ROOT/.cache}
ENV_NAME=${1:-main}
PYTHON=$VENVS_DIR/$ENV_NAME/bin/python

if [[ ! -x $PYTHON ]]; then
    echo "setup_models.sh: no $ENV_NAME environment at $VENVS_DIR/$ENV_NAME; run scripts/setup_env.sh $ENV_NAME first" >&2
    exit 2
fi
start=$SECONDS
echo "[models] test model cache $CACHE (made in the $ENV_NAME environment)"
"$PYTHON" -m ajet_core.cli.main model test-cache "$CACHE" 2>&1 | sed -u 's/^/[models] /'
status=${PIPESTATUS[0]}
echo "[models] done in $((SECONDS - start)) s (exit $status)"
exit "$status"
