#!/usr/bin/env bash
# GPU smoke run of the verl backbone: a few GRPO steps of the quickstart (two-number addition)
# through `ajet train --backbone verl`, printing the mean reward and wall time of each step;
# exits non-zero on any failure.
#
# Needs (a user's GPU machine; vLLM is CUDA-only, so none of this runs on a CPU machine):
#   * one NVIDIA GPU with >= 16 GB (SmolLM2-135M or a Qwen2.5-0.5B-sized model), a CUDA 12 driver;
#   * a Python environment with ajet-core, ajet-plugins-std, ajet-backbone-debug,
#     ajet-backbone-verl, 'verl[verl-core]>=0.9,<0.10' and the vLLM release that verl supports
#     (`pip install 'ajet[verl]' vllm`), transformers<5.11 (verl's pin);
#   * a model saved locally as a Hugging Face directory: --model DIR (default .cache/smollm2, made
#     by `ajet model import-smollm2 .cache/smollm2`). No model hub is contacted.
#   * Ray: a local head is started (RAY_AUTH_MODE=disabled); set backbone.ray_address to join one.
#
# Usage: scripts/gpu/verl_smoke.sh [--dry-run] [--model DIR] [--steps N] [--gpus N] [--output-dir DIR]
#   --dry-run  resolve the config, build verl's config, check the environment, exit (no GPU needed;
#              the CPU test suite runs it).
# PYTHON picks the interpreter (default: .venvs/verl/bin/python when present, else python3).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PYTHON=${PYTHON:-$( [ -x "$ROOT/.venvs/verl/bin/python" ] && echo "$ROOT/.venvs/verl/bin/python" || echo python3 )}
cd "$ROOT"
exec "$PYTHON" -m ajet_backbone_verl.smoke "$@"
