#!/usr/bin/env bash
# Trinity backbone GPU smoke test: a few GRPO training steps of the quickstart (two-number
# addition, the quickstart's AdditionAgent and exact-match judger) on ONE GPU, run by Trinity-RFT
# in colocate mode (vLLM and the trainer take turns on the GPU). Prints the reward per step (our
# metrics.jsonl), the trainer's step times (trinity_metrics.jsonl) and the wall time; exits
# non-zero when anything fails or no training step was logged.
#
# Requirements (a user's GPU machine; not this repository's CPU CI):
#   * one CUDA GPU with >= 24 GB (a 0.5B-1.5B model; the default is SmolLM2-135M-Instruct);
#   * a Python environment with ajet-core, ajet-plugins-std, ajet-backbone-trinity,
#     trinity-rft 0.6.x and vLLM (the version trinity-rft 0.6 supports; CUDA build), e.g.
#       pip install 'ajet[trinity]'   # = ajet-backbone-trinity 'trinity-rft[agent,vllm]>=0.6,<0.7'
#     (this repository's .venvs/trinity has everything but vLLM and a GPU);
#   * Ray >= 2.60 is started here as a local head with RAY_AUTH_MODE=disabled when none runs;
#   * a locally saved Hugging Face model directory (no model hub is contacted): --model DIR, or
#     $AJET_SMOKE_MODEL, default .cache/smollm2 (made by `ajet model import-smollm2` or the
#     quickstart's `make quickstart`). GGUF files are not accepted: vLLM needs an HF folder.
#
# Usage:
#   scripts/gpu/trinity_smoke.sh [--dry-run] [--model DIR] [--steps N] [--work DIR] [--python PY]
#     --dry-run  resolve the config, write the trinity config (checked by trinity's load_config)
#                and check the environment (ajet_backbone_trinity.environment.check); train
#                nothing. Exit 0 when the config translates and trinity can import here (a
#                missing GPU/vLLM is reported, not fatal), non-zero otherwise. The CPU tests run it.
#     --steps    training steps (default 3)
#     --work     folder for data, config and the run (default: a new temporary folder)
#     --python   interpreter (default: .venvs/trinity/bin/python when present, else python3)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DRY_RUN=0
STEPS=3
MODEL=${AJET_SMOKE_MODEL:-$ROOT/.cache/smollm2}
WORK=""
PYTHON=""
while [[ $# -gt 0 ]]; do
    case $1 in
        --dry-run) DRY_RUN=1; shift ;;
        --steps) STEPS=$2; shift 2 ;;
        --model) MODEL=$2; shift 2 ;;
        --work) WORK=$2; shift 2 ;;
        --python) PYTHON=$2; shift 2 ;;
        -h|--help) sed -n '2,30p' "$0"; exit 0 ;;
        *) echo "trinity_smoke.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done
if [[ -z $PYTHON ]]; then
    if [[ -x $ROOT/.venvs/trinity/bin/python ]]; then PYTHON=$ROOT/.venvs/trinity/bin/python; else PYTHON=python3; fi
fi
if [[ ! -d $MODEL ]]; then
    echo "trinity_smoke.sh: model folder '$MODEL' does not exist; pass --model DIR (a saved Hugging Face model) or set AJET_SMOKE_MODEL" >&2
    exit 2
fi
WORK=${WORK:-$(mktemp -d "${TMPDIR:-/tmp}/ajet-trinity-smoke.XXXXXX")}
mkdir -p "$WORK"
export RAY_AUTH_MODE=${RAY_AUTH_MODE:-disabled}

# 1. data and config: the quickstart's tasks, judger and workflow; trinity in colocate mode.
"$PYTHON" "$ROOT/tutorial/quickstart/make_data.py" --out "$WORK/data" --held-out 16 >/dev/null
cat > "$WORK/smoke.yaml" <<EOF
experiment: {name: trinity_smoke, seed: 0, output_dir: $WORK/runs}
model: {path: $MODEL, dtype: bfloat16, max_model_len: 1024}
task_reader: {type: jsonl, train_path: $WORK/data/train.jsonl, validation_path: $WORK/data/validation.jsonl}
workflow: {name: $ROOT/tutorial/quickstart/addition_agent.py:AdditionAgent}
judger: {type: exact_match, extract: pattern, answer_pattern: '(-?\d+)\D*$', reference_key: answer}
rollout: {batch_size: 8, num_repeat: 4, max_concurrency: 32, temperature: 1.0, max_tokens_per_call: 32,
          equal_reward_groups: keep}
trainer: {total_steps: $STEPS, lr: 1.0e-5, kl_coef: 0.0}
checkpoint: {every_n_steps: 0}
backbone: {name: trinity, mode: colocate, nodes: 1, gpus_per_node: 1, gpu_memory_utilization: 0.25}
EOF

# 2. the dry run: config, trinity config and environment only.
if [[ $DRY_RUN == 1 ]]; then
    exec "$PYTHON" -m ajet_backbone_trinity.launch --conf "$WORK/smoke.yaml" --dry-run
fi

# 3. the real run, timed.
start=$(date +%s)
if ! "$PYTHON" -m ajet_backbone_trinity.launch --conf "$WORK/smoke.yaml"; then
    echo "trinity smoke: FAILED (training did not finish; logs under $WORK/runs)" >&2
    exit 1
fi
wall=$(( $(date +%s) - start ))

# 4. what it did: our reward per explorer step (<run>/metrics.jsonl, the names every backbone uses)
#    and trinity's trainer step times (<run>/trinity_metrics.jsonl).
run_dir=$(ls -td "$WORK"/runs/trinity_smoke/*/ 2>/dev/null | head -1 || true)
if [[ -z $run_dir || ! -f $run_dir/metrics.jsonl ]]; then
    echo "trinity smoke: FAILED (no metrics.jsonl in the run folder under $WORK/runs)" >&2
    exit 1
fi
"$PYTHON" - "$run_dir" "$wall" <<'PY'
import json, sys
from pathlib import Path

run_dir, wall = Path(sys.argv[1]), int(sys.argv[2])
def rows(name):
    path = run_dir / name
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []
for row in rows("metrics.jsonl"):
    if "rollout/reward_mean" in row:
        print(f"step {row['step']}: reward {row['rollout/reward_mean']:.3f}, success {row.get('rollout/success_rate', 0):.2f}, "
              f"episodes {row.get('rollout/episodes')}, failed {row.get('rollout/episodes_failed')}")
trained = [r for r in rows("trinity_metrics.jsonl") if r.get("role") == "trainer"]
for row in trained:
    times = {k: v for k, v in row.items() if "time" in k and isinstance(v, (int, float))}
    step_time = max(times.values()) if times else None
    print(f"train step {row['step']}: " + (f"step time {step_time:.1f} s" if step_time is not None else "logged"))
print(f"wall time: {wall} s for {len(trained)} logged training steps")
sys.exit(0 if trained else 1)
PY
