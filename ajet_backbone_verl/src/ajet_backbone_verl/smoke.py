"""GPU smoke run of the verl backbone (``scripts/gpu/verl_smoke.sh``).

A few training steps of the quickstart (two-number addition) with a locally saved model on one
GPU, through ``ajet train --backbone verl``'s own code path; prints the mean reward and the
rollout time of each step from the run's metrics.jsonl, and exits non-zero when anything fails.
``--dry-run`` stops after building verl's config and checking the environment (no GPU needed).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
QUICKSTART = REPO / "tutorial" / "quickstart"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="a few verl training steps of the quickstart on one GPU"
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="build the verl config, check the machine, exit"
    )
    parser.add_argument(
        "--model",
        default=str(REPO / ".cache" / "smollm2"),
        help="a local Hugging Face model directory (default: .cache/smollm2)",
    )
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--gpus", type=int, default=1)
    parser.add_argument(
        "--output-dir", default=None, help="where the run folder goes (default: a temp folder)"
    )
    return parser.parse_args(argv)


def build(args: argparse.Namespace):
    import subprocess

    from ajet_core.backbone import build_backbone
    from ajet_core.config.loader import load_config
    from ajet_core.config.plugin_sections import validate_plugin_sections
    from ajet_core.plugins.manager import get_plugin_manager

    output = Path(args.output_dir or tempfile.mkdtemp(prefix="ajet-verl-smoke-"))
    data = output / "data"
    subprocess.run(
        [sys.executable, str(QUICKSTART / "make_data.py"), "--out", str(data)],
        check=True,
        capture_output=True,
    )
    overrides = [
        "backbone.name=verl",
        f"backbone.n_gpus_per_node={args.gpus}",
        f"model.path={args.model}",
        f"experiment.output_dir={output / 'runs'}",
        f"trainer.total_steps={args.steps}",
        f"task_reader.train_path={data / 'train.jsonl'}",
        f"task_reader.validation_path={data / 'validation.jsonl'}",
        "eval.before_train=false",
        "eval.after_train=false",
        "logging.loggers=[console]",
    ]
    loaded = load_config(str(QUICKSTART / "quickstart.yaml"), overrides)
    resolved = validate_plugin_sections(loaded.config, get_plugin_manager())
    return build_backbone(resolved), resolved


def summarise(run_dir: Path) -> list[dict]:
    """Each step's mean reward and rollout time from the run's metrics.jsonl (our names)."""
    from ajet_core import metrics as m
    from ajet_core.metric_loggers.jsonl import read_metrics

    return [
        {
            "step": row["step"],
            "episodes": row[m.EPISODES],
            "failed": row[m.EPISODES_FAILED],
            "reward_mean": row[m.REWARD_MEAN],
            "rollout_seconds": row[m.ROLLOUT_SECONDS],
        }
        for row in read_metrics(run_dir)
        if m.EPISODES in row
    ]


def main(argv: list[str] | None = None) -> int:
    from ajet_backbone_verl.environment import check

    args = parse_args(argv)
    report = check(gpu=True)
    print(report.format())
    if not Path(args.model, "config.json").is_file():
        print(
            f"verl smoke: --model {args.model} is not a Hugging Face model directory (no "
            "config.json); make one with `ajet model import-smollm2 .cache/smollm2` or pass "
            "--model",
            file=sys.stderr,
        )
        return 2
    backbone, resolved = build(args)
    if args.dry_run:
        prepared = backbone.prepare(resolved)
        config = prepared.verl_config
        print(f"dry run: verl config written to {prepared.run_dir / 'verl' / 'verl_config.yaml'}")
        print(
            f"  tasks: {prepared.task_counts}; adv_estimator={config.algorithm.adv_estimator}; "
            f"agent loop={config.actor_rollout_ref.rollout.agent.default_agent_loop}; "
            f"rollout={config.actor_rollout_ref.rollout.name} on {config.trainer.n_gpus_per_node} "
            "GPU(s)"
        )
        if report.problems:
            print(
                "verl smoke: this environment cannot run verl (see the problems above)",
                file=sys.stderr,
            )
            return 1
        return 0
    started = time.time()
    prepared = backbone.train(resolved=resolved)
    rows = summarise(prepared.run_dir)
    for row in rows:
        print(
            f"step {row['step']}: episodes={row['episodes']} failed={row['failed']} "
            f"reward_mean={row['reward_mean']} rollout_seconds={row['rollout_seconds']:.1f}"
        )
    print(
        f"verl smoke: {len(rows)} steps in {time.time() - started:.0f} s; run folder "
        f"{prepared.run_dir}"
    )
    if len(rows) < args.steps or any(r["episodes"] == r["failed"] for r in rows):
        print(
            "verl smoke: FAILED (missing steps or steps whose episodes all failed)", file=sys.stderr
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
