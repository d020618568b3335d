"""Summarise a quickstart run: held-out accuracy before and after training, against the best
constant-answer policy on the same held-out set.

    python tutorial/quickstart/report.py RUN_DIR [--data tutorial/quickstart/data]
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

from ajet_core import metrics as m
from ajet_core.metric_loggers.jsonl import read_metrics


def best_constant_answer(validation: Path) -> tuple[str, float]:
    """The single answer that would score best on the held-out set, and its accuracy."""
    answers = [
        json.loads(line)["metadata"]["answer"]
        for line in validation.read_text().splitlines()
        if line.strip()
    ]
    answer, count = Counter(answers).most_common(1)[0]
    return answer, count / len(answers)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--data", type=Path, default=Path(__file__).parent / "data")
    parser.add_argument("--json", type=Path, help="also write the summary here")
    args = parser.parse_args()
    rows = read_metrics(args.run_dir)
    evals = [r for r in rows if m.EVAL_PASS_AT_1 in r]
    train = [r for r in rows if m.LOSS in r or m.REWARD_MEAN in r]
    if len(evals) < 2:
        raise SystemExit(
            f"{args.run_dir}: needs evaluations before and after training (found {len(evals)})"
        )
    before, after = evals[0], evals[-1]
    constant, constant_accuracy = best_constant_answer(args.data / "validation.jsonl")
    train_seconds = sum(r.get(m.STEP_SECONDS, 0.0) for r in train)
    summary = {
        "held_out_before": before[m.EVAL_PASS_AT_1],
        "held_out_after": after[m.EVAL_PASS_AT_1],
        "best_constant_answer": constant,
        "best_constant_accuracy": constant_accuracy,
        "steps": len(train),
        "training_seconds": round(train_seconds, 1),
        "run_dir": str(args.run_dir),
    }
    print(f"held-out success before training: {summary['held_out_before']:.3f}")
    print(f"held-out success after training:  {summary['held_out_after']:.3f}")
    print(f"best constant answer ({constant!r}):  {constant_accuracy:.3f}")
    print(f"{len(train)} steps, {train_seconds / 60:.1f} min of training")
    verdict = (
        "improved" if after[m.EVAL_PASS_AT_1] > before[m.EVAL_PASS_AT_1] else "did NOT improve"
    )
    print(
        f"result: {verdict}; beats the best constant answer: "
        f"{after[m.EVAL_PASS_AT_1] > constant_accuracy}"
    )
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
