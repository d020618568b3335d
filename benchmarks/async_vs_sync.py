"""Synchronous against asynchronous training on a long-tail workload, side by side.

    .venvs/main/bin/python benchmarks/async_vs_sync.py                         # SmolLM2
    .venvs/main/bin/python benchmarks/async_vs_sync.py --model tiny --steps 8   # the tiny model

The workload (benchmarks/long_tail_agent.py): the quickstart's addition tasks, answered in two
turns around a service call that waits a lognormal time (median --median-s, shape --sigma: a
few calls take ten times the median). For each seed, `ajet train` runs the quickstart config on
it twice, one run after the other on the same machine: `trainer.mode: sync`, then `async` with
`trainer.max_staleness` --staleness; same seed, tasks, waits (one seeded stream per run), batch and
number of steps, so both train on the same number of groups (async drops what is too stale and
says how much). Both evaluate the trained model on the same held-out tasks (greedy,
batch-invariant), with the same two-turn workflow.

Prints, per mode: samples trained per minute of training (wall time from the first step's
start to the last step's end), the mean trainer and engine idle shares, mean and max staleness,
samples dropped as too stale, held-out success after training, then the speed-up. Writes
everything to OUT/results.json (--out, default a new folder under /tmp).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
QUICKSTART = "tutorial/quickstart/quickstart.yaml"
WORKFLOW = "benchmarks/long_tail_agent.py:LongTailAgent"


def model_path(name: str) -> Path:
    if name == "smollm2":
        return REPO / ".cache" / "smollm2"
    if name == "tiny":
        found = sorted((REPO / ".cache").glob("tiny-*"))
        if not found:
            raise SystemExit("no tiny model under .cache; run scripts/setup_models.sh")
        return found[0]
    return Path(name)


def train(mode: str, seed: int, args: argparse.Namespace, out: Path) -> dict[str, Any]:
    output_dir = out / f"{mode}-seed{seed}"
    command = [
        sys.executable,
        "-m",
        "ajet_core.cli.main",
        "train",
        "--conf",
        QUICKSTART,
        f"model.path={model_path(args.model)}",
        f"experiment.seed={seed}",
        f"experiment.output_dir={output_dir}",
        f"workflow.name={WORKFLOW}",
        f"trainer.total_steps={args.steps}",
        f"trainer.mode={mode}",
        f"trainer.max_staleness={args.staleness}",
        f"rollout.batch_size={args.batch_size}",
        f"eval.max_tasks={args.eval_tasks}",
        "eval.before_train=false",
        "checkpoint.every_n_steps=0",
        "logging.loggers=[jsonl]",
        "logging.records=none",
        # The tiny model never answers right: every group has equal rewards, and the
        # quickstart's `drop` would leave nothing to train. Kept, they train at zero advantage.
        *(["rollout.equal_reward_groups=keep"] if args.model == "tiny" else []),
        *args.overrides,
    ]
    env = {
        **os.environ,
        "LONG_TAIL_MEDIAN_S": str(args.median_s),
        "LONG_TAIL_SIGMA": str(args.sigma),
        "LONG_TAIL_SEED": str(seed),
    }
    print(f"training {mode} (seed {seed}) ...", flush=True)
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        raise SystemExit(f"{mode} seed {seed} failed:\n{result.stderr[-3000:]}")
    [run] = sorted((output_dir / "quickstart").glob("*"))
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return summarise(rows, args.steps)


def summarise(rows: list[dict[str, Any]], steps: int) -> dict[str, Any]:
    train_rows = [r for r in rows if "rollout/episodes" in r]
    if len(train_rows) != steps:
        raise SystemExit(f"expected {steps} training steps, the run logged {len(train_rows)}")
    evals = [r for r in rows if "eval/pass@1" in r and "rollout/episodes" not in r]
    seconds = sum(r["time/step_seconds"] for r in train_rows)
    samples = sum(r["samples/count"] for r in train_rows)
    trained = [r for r in train_rows if r["samples/count"]]

    def mean(key: str, of: list[dict[str, Any]] = train_rows) -> float:
        values = [r[key] for r in of if key in r]
        return statistics.mean(values) if values else 0.0

    return {
        "train_seconds": seconds,
        "samples": samples,
        "samples_per_minute": samples / seconds * 60,
        "trainer_idle_share": mean("time/trainer_idle_share"),
        "engine_idle_share": mean("time/engine_idle_share"),
        "staleness_mean": mean("samples/staleness_mean", trained),
        "staleness_max": max((r.get("samples/staleness_max", 0) for r in train_rows), default=0),
        "dropped_stale": sum(r.get("samples/dropped_stale", 0) for r in train_rows),
        "held_out_after": evals[-1]["eval/pass@1"] if evals else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2", help="smollm2, tiny, or a model folder")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--steps", type=int, default=15)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--staleness", type=int, default=2)
    parser.add_argument("--median-s", type=float, default=1.0)
    parser.add_argument("--sigma", type=float, default=1.0)
    parser.add_argument("--eval-tasks", type=int, default=60)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument(
        "--modes",
        nargs="+",
        choices=["sync", "async"],
        default=["sync", "async"],
        help="which modes to run (both by default; one alone is for trying async settings)",
    )
    parser.add_argument("overrides", nargs="*", help="config overrides passed to every run")
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="ajet-async-vs-sync-"))
    out.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, "tutorial/quickstart/make_data.py"],
        cwd=REPO,
        check=True,
        capture_output=True,
    )
    results: dict[str, list[dict[str, Any]]] = {mode: [] for mode in args.modes}
    for seed in args.seeds:
        for mode in args.modes:
            results[mode].append(train(mode, seed, args, out))
    (out / "results.json").write_text(
        json.dumps({"settings": vars(args) | {"out": str(out)}, "results": results}, indent=2)
    )
    print(
        f"\nmodel {args.model}, {args.steps} steps x {args.batch_size} tasks x 4 draws, "
        f"service wait lognormal(median {args.median_s} s, sigma {args.sigma}), "
        f"async max_staleness {args.staleness}, seeds {args.seeds}"
    )
    header = (
        f"{'mode':<6} {'samples/min':>11} {'trainer idle':>12} {'engine idle':>11} "
        f"{'stale mean':>10} {'stale max':>9} {'dropped':>7} {'held-out':>8}"
    )
    print(header)
    for mode, runs in results.items():
        for seed, row in zip(args.seeds, runs):
            held_out = "-" if row["held_out_after"] is None else f"{row['held_out_after']:.3f}"
            print(
                f"{mode:<6} {row['samples_per_minute']:>11.1f} {row['trainer_idle_share']:>12.2f} "
                f"{row['engine_idle_share']:>11.2f} {row['staleness_mean']:>10.2f} "
                f"{row['staleness_max']:>9.0f} {row['dropped_stale']:>7d} {held_out:>8}"
                + (f"   seed {seed}" if len(args.seeds) > 1 else "")
            )
    if len(results) == 2:
        speed = [
            a["samples_per_minute"] / s["samples_per_minute"] if s["samples_per_minute"] else 0.0
            for s, a in zip(results["sync"], results["async"])
        ]
        print(f"async / sync samples per minute: {', '.join(f'{x:.2f}x' for x in speed)}")
    print(f"results: {out / 'results.json'}")


if __name__ == "__main__":
    main()
