#!/usr/bin/env bash
# GPU smoke run of the verl backbone: a few GRPO steps of the quickstart (two-number addition)
# through `ajet train --backbone verl`, printing the mean reward and wall time of each step;
# exits non-zero on any failure.
#
# Needs (a user's GPU machine; vLLM is CUDA-only, so none of this runs on a CPU machine):
#   * one NVIDIA GPU with >= 16 GB (SmolLM2-135M or a Qwen2.5-0.5B-sized model), a CUDA 12 driver;
#   * a Python environment with ajet-core, ajet-plugins-std, ajet-backbone-debug,
#     ajet-backbone-verl and verl 0.9.1 with its `vllm` extra, which pins vLLM 0.24.0, torch 2.11.0
#     and transformers 5.9.0 (`pip install 'ajet[verl]' 'verl[vllm]==0.9.1'`);
#   * a model saved locally as a Hugging Face directory: --model DIR (default .cache/smollm2, made
#     by `ajet model import-smollm2 .cache/smollm2`). No model hub is contacted.
#   * Ray: a local head is started (RAY_AUTH_MODE=disabled); set backbone.ray_address to join one.
#
# Usage: scripts/gpu/verl_smoke.sh [--dry-run] [--model DIR] [--steps N] [--gpus N] [--output-dir DIR]
#   --dry-run  resolve the config, build verl's config, check the environment, exit (no GPU needed;
#              the CPU test suite runs it).
#
# Not the same as backbone.rollout_engine=cpu: that mode runs verl's trainer on a CPU to test its
# code path (the test suite trains the tiny model with it); it says nothing about GPU memory, vLLM
# or speed, which only this run on a GPU measures.
# PYTHON picks the interpreter (default: .venvs/verl/bin/python when present, else python3).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PYTHON=${PYTHON:-$( [ -x "$ROOT/.venvs/verl/bin/python" ] && echo "$ROOT/.venvs/verl/bin/python" || echo python3 )}
cd "$ROOT"
exec "$PYTHON" -m ajet_backbone_verl.smoke "$@"
