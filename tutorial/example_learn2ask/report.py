"""Summarise a learn-to-ask run's held-out consultations: exact coverage (the share of each
case's facts the simulated patient revealed), success (every fact found), the judge's score and
how often its verdict on a fact agreed with what the patient revealed, and the judge failures.

    python tutorial/example_learn2ask/report.py RUN_DIR [--json summary.json]

Reads ``records/eval_step_*.jsonl.gz`` (the YAML keeps every record: ``logging.records: all``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ajet_core.training.records import read_records

KEYS = ("coverage", "judge_score", "judge_agreement", "judge_question_ok")


def summarise_eval(path: Path) -> dict:
    records = list(read_records(path))
    judged = [r for r in records if r["error"] is None]
    summary: dict = {
        "step": int(path.name.split("_")[2].split(".")[0]),
        "episodes": len(records),
        "judge_failures": len(records) - len(judged),
        "success": sum(bool(r["is_success"]) for r in judged) / len(records) if records else 0.0,
        "reward": sum(r["reward"] for r in judged) / len(judged) if judged else 0.0,
    }
    for key in KEYS:
        values = [r["judger_metrics"][key] for r in judged if key in r["judger_metrics"]]
        summary[key] = sum(values) / len(values) if values else None
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--json", type=Path, help="also write the summary here")
    args = parser.parse_args()
    paths = sorted((args.run_dir / "records").glob("eval_step_*.jsonl.gz"))
    if not paths:
        raise SystemExit(
            f"{args.run_dir}: no eval records; run with eval.before_train=true "
            "eval.after_train=true logging.records=all"
        )
    rows = [summarise_eval(path) for path in paths]
    for row in rows:
        shown = ", ".join(
            f"{key} {row[key]:.3f}" if row[key] is not None else f"{key} n/a" for key in KEYS
        )
        print(
            f"held-out at step {row['step']}: {row['episodes']} consultations, success "
            f"{row['success']:.3f}, reward {row['reward']:.3f}, {shown}, judge failures "
            f"{row['judge_failures']}"
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
