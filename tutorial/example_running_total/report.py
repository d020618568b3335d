"""Summarise a running-total run: held-out success before and after training next to the best
constant-answer policy, and the evidence that the merged multi-turn samples were trained
(drift fallbacks, LLM calls per training sample).

    python tutorial/example_running_total/report.py RUN_DIR [--data DATA_DIR]
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

from ajet_core import metrics as m
from ajet_core.metric_loggers.jsonl import read_metrics


def best_constant_final(validation: Path) -> tuple[int, float]:
    """The one final total that would score best on the held-out set (answering it at every
    turn), and its success rate: the best policy that ignores the numbers."""
    finals = [
        json.loads(line)["metadata"]["totals"][-1]
        for line in validation.read_text().splitlines()
        if line.strip()
    ]
    value, count = Counter(finals).most_common(1)[0]
    return value, count / len(finals)


def summarise(run_dir: Path, data: Path) -> dict:
    rows = read_metrics(run_dir)
    evals = [r for r in rows if m.EVAL_PASS_AT_1 in r]
    train = [r for r in rows if m.EPISODES in r]
    if len(evals) < 2:
        raise SystemExit(
            f"{run_dir}: needs evaluations before and after training (found {len(evals)}); "
            "run with eval.before_train=true eval.after_train=true"
        )
    constant, constant_rate = best_constant_final(data / "validation.jsonl")
    calls = sum(r.get(m.LLM_CALLS, 0) for r in train)
    samples = sum(r.get(m.SAMPLES, 0) for r in train)
    return {
        "held_out_before": evals[0][m.EVAL_PASS_AT_1],
        "held_out_after": evals[-1][m.EVAL_PASS_AT_1],
        "best_constant_answer": constant,
        "best_constant_success": constant_rate,
        "drift_fallbacks": sum(r.get(m.DRIFT_FALLBACKS, 0) for r in train),
        # Mean over steps of each step's turns/calls_per_episode: 3.0 for this workflow.
        "calls_per_episode": (
            sum(r.get(m.CALLS_PER_EPISODE, 0.0) for r in train) / len(train) if train else 0.0
        ),
        "llm_calls": calls,
        "samples": samples,
        "samples_per_episode": (
            sum(r.get(m.SAMPLES_PER_EPISODE, 0.0) for r in train) / len(train) if train else 0.0
        ),
        "steps": len(train),
        "training_seconds": round(sum(r.get(m.STEP_SECONDS, 0.0) for r in train), 1),
        "run_dir": str(run_dir),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--data", type=Path, default=Path(__file__).parent / "data")
    parser.add_argument("--json", type=Path, help="also write the summary here")
    args = parser.parse_args()
    s = summarise(args.run_dir, args.data)
    print(f"held-out success before training: {s['held_out_before']:.3f}")
    print(f"held-out success after training:  {s['held_out_after']:.3f}")
    print(f"best constant answer ({s['best_constant_answer']}): {s['best_constant_success']:.3f}")
    print(
        f"drift fallbacks: {s['drift_fallbacks']}; LLM calls per episode: "
        f"{s['calls_per_episode']:.2f}; samples per kept episode: {s['samples_per_episode']:.2f}"
    )
    print(f"{s['steps']} steps, {s['training_seconds'] / 60:.1f} min of training")
    improved = s["held_out_after"] > s["held_out_before"]
    print(
        f"result: {'improved' if improved else 'did NOT improve'}; beats the best constant "
        f"answer: {s['held_out_after'] > s['best_constant_success']}"
    )
    if args.json:
        args.json.write_text(json.dumps(s, indent=2))


if __name__ == "__main__":
    main()
