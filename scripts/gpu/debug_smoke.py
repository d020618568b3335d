"""GPU smoke run of the debug backbone: a few quickstart training steps on one CUDA GPU.

    python scripts/gpu/debug_smoke.py [--model DIR] [--steps N] [--mixed-precision bf16]

Runs `ajet train`'s own code path (DebugBackbone.train) with ``model.device=cuda``; checks that
the engine's weights and the trainer live on the GPU, that the logprob gap between engine and
trainer stays ~0 there, that weights changed, and prints each step's reward and wall time.
Exits non-zero on any failure. Needs: one CUDA GPU, torch with CUDA, transformers, and
ajet-core + ajet-plugins-std + ajet-backbone-debug installed; a local model directory
(default: .cache/smollm2, from `ajet model import-smollm2 .cache/smollm2`).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
QUICKSTART = REPO / "tutorial" / "quickstart"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(REPO / ".cache" / "smollm2"))
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--mixed-precision", choices=["no", "bf16"], default="bf16")
    parser.add_argument("--output-dir", default=None)
    parser.add_argument(
        "--override", action="append", default=[], metavar="KEY=VALUE", help="more config overrides"
    )
    parser.add_argument(
        "--judger-regex",
        default=None,
        metavar="PATTERN",
        help="replace the quickstart's judger by `regex` with this pattern (e.g. a format the "
        "tiny test model can earn, so every step has a learning signal)",
    )
    args = parser.parse_args(argv)

    import torch

    if not torch.cuda.is_available():
        print("debug smoke: no CUDA GPU visible to torch", file=sys.stderr)
        return 2
    from ajet_core import metrics as m
    from ajet_core.config.loader import load_config
    from ajet_core.config.plugin_sections import validate_plugin_sections
    from ajet_core.metric_loggers.jsonl import read_metrics
    from ajet_core.plugins.manager import get_plugin_manager

    output = Path(args.output_dir or tempfile.mkdtemp(prefix="ajet-debug-smoke-"))
    data = output / "data"
    subprocess.run(
        [sys.executable, str(QUICKSTART / "make_data.py"), "--out", str(data)],
        check=True,
        capture_output=True,
    )
    config_path = QUICKSTART / "quickstart.yaml"
    if args.judger_regex:
        import yaml

        data_dict = yaml.safe_load(config_path.read_text())
        data_dict["judger"] = {"type": "regex", "pattern": args.judger_regex}
        data_dict["rollout"]["equal_reward_groups"] = "keep"
        config_path = output / "quickstart.yaml"
        output.mkdir(parents=True, exist_ok=True)
        config_path.write_text(yaml.safe_dump(data_dict))
    loaded = load_config(
        str(config_path),
        [
            f"model.path={args.model}",
            "model.device=cuda",
            f"experiment.output_dir={output / 'runs'}",
            f"trainer.total_steps={args.steps}",
            f"task_reader.train_path={data / 'train.jsonl'}",
            f"task_reader.validation_path={data / 'validation.jsonl'}",
            "eval.max_tasks=32",
            f"backbone.mixed_precision={args.mixed_precision}",
            "logging.loggers=[jsonl]",
            *args.override,
        ],
    )
    plugins = get_plugin_manager()
    resolved = validate_plugin_sections(loaded.config, plugins)
    chosen = resolved["backbone"]
    backbone = chosen.implementation(loaded.config, chosen.options)

    engine = backbone.build_engine()
    device = next(engine.model.parameters()).device
    print(f"engine on {device} ({torch.cuda.get_device_name(device)})")
    if device.type != "cuda":
        print("debug smoke: FAILED, the engine is not on the GPU", file=sys.stderr)
        return 1
    before = {name: p.detach().clone() for name, p in engine.model.named_parameters()}
    started = time.time()
    from ajet_core.training.loop import TrainingLoop

    trainer = backbone.build_trainer(engine)
    result = TrainingLoop(
        loaded.config, resolved, plugins, engine=engine, trainer=trainer, show_progress=False
    ).run()
    wall = time.time() - started
    rows = read_metrics(result.run_dir)
    train_rows = [r for r in rows if m.LOSS in r]
    for row in train_rows:
        print(
            f"step {row['step']}: reward_mean={row[m.REWARD_MEAN]:.3f} "
            f"step_seconds={row[m.STEP_SECONDS]:.2f} tokens/s={row[m.TOKENS_PER_SECOND]:.0f} "
            f"logprob_gap={row[m.LOGPROB_GAP]:.2e}"
        )
    for row in rows:
        if m.EVAL_PASS_AT_1 in row:
            print(f"eval at step {row['step']}: pass@1={row[m.EVAL_PASS_AT_1]:.3f}")
    changed = any(
        not torch.equal(before[n], p.detach()) for n, p in engine.model.named_parameters()
    )
    gaps = [r[m.LOGPROB_GAP] for r in train_rows if r.get(m.LOGPROB_GAP) is not None]
    print(
        f"debug smoke: {len(train_rows)} steps in {wall:.0f} s; peak GPU memory "
        f"{torch.cuda.max_memory_allocated() / 2**30:.2f} GiB; weights changed: {changed}; run "
        f"{result.run_dir}"
    )
    failures = []
    if len(train_rows) != args.steps:
        failures.append(f"{len(train_rows)} of {args.steps} steps logged")
    if any(r[m.EPISODES_FAILED] for r in train_rows):
        failures.append("episodes failed")
    if not changed:
        failures.append("the weights did not change")
    # bf16 autocast moves the trainer's recomputed logprobs a little; fp32 must match closely.
    if gaps and max(gaps) > (5e-2 if args.mixed_precision == "bf16" else 1e-3):
        failures.append(f"logprob gap {max(gaps):.2e} between engine and trainer")
    if failures:
        print("debug smoke: FAILED: " + "; ".join(failures), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
