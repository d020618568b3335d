#!/usr/bin/env bash
# The README's first command (`make quickstart`): set up the main environment and run the main job.
# Placeholder until the debug backbone trains: it sets up .venvs/main and lists the plugins.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$ROOT/scripts/setup_env.sh" main
"${AJET_VENVS_DIR:-$ROOT/.venvs}/main/bin/ajet" plugins list
