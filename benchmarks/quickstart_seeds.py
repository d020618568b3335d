"""The quickstart's training, repeated over several seeds: held-out success before and after.

    .venvs/main/bin/python benchmarks/quickstart_seeds.py --seeds 0 1 2

Runs `ajet train` on tutorial/quickstart/quickstart.yaml once per seed (experiment.seed changes
the task order, the sampling seeds and nothing else), then prints one row per seed and the mean
and spread — the table the README publishes. Needs `make quickstart` (or its set-up) first.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run_seed(seed: int, model: Path, output_dir: Path, overrides: list[str]) -> dict:
    started = time.perf_counter()
    command = [
        sys.executable,
        "-m",
        "ajet_core.cli.main",
        "train",
        "--conf",
        "tutorial/quickstart/quickstart.yaml",
        f"model.path={model}",
        f"experiment.seed={seed}",
        f"experiment.output_dir={output_dir}",
        "logging.loggers=[jsonl]",
        *overrides,
    ]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"seed {seed} failed:\n{result.stderr[-3000:]}")
    run_dir = next(
        line.split(": ", 1)[1]
        for line in result.stdout.splitlines()
        if line.startswith("run folder: ")
    )
    summary_path = output_dir / f"summary-{seed}.json"
    subprocess.run(
        [sys.executable, "tutorial/quickstart/report.py", run_dir, "--json", str(summary_path)],
        cwd=REPO,
        check=True,
        capture_output=True,
    )
    summary = json.loads(summary_path.read_text())
    summary["wall_seconds"] = time.perf_counter() - started
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--model", type=Path, default=REPO / ".cache" / "smollm2")
    parser.add_argument("overrides", nargs="*", help="config overrides passed to every run")
    args = parser.parse_args()
    subprocess.run(
        [sys.executable, "tutorial/quickstart/make_data.py"],
        cwd=REPO,
        check=True,
        capture_output=True,
    )
    output_dir = Path(tempfile.mkdtemp(prefix="ajet-quickstart-seeds-"))
    rows = [run_seed(seed, args.model, output_dir, args.overrides) for seed in args.seeds]
    print(
        f"{'seed':>4} {'before':>7} {'after':>7} {'constant':>9} {'train min':>10} {'wall min':>9}"
    )
    for seed, row in zip(args.seeds, rows):
        print(
            f"{seed:>4} {row['held_out_before']:>7.3f} {row['held_out_after']:>7.3f} "
            f"{row['best_constant_accuracy']:>9.3f} {row['training_seconds'] / 60:>10.1f} "
            f"{row['wall_seconds'] / 60:>9.1f}"
        )
    for key, label in (("held_out_before", "before"), ("held_out_after", "after")):
        values = [row[key] for row in rows]
        spread = statistics.stdev(values) if len(values) > 1 else 0.0
        print(
            f"{label}: mean {statistics.mean(values):.3f}, std {spread:.3f}, min "
            f"{min(values):.3f}, max {max(values):.3f}"
        )


if __name__ == "__main__":
    main()
