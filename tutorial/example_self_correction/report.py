"""Summarise a self-correction run: held-out success before and after training next to the best
policy that ignores the question, and the evidence that the merged multi-turn samples were trained
(drift fallbacks, LLM calls per episode and per training sample).

    python tutorial/example_self_correction/report.py RUN_DIR [--data DATA_DIR]
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

from ajet_core import metrics as m
from ajet_core.metric_loggers.jsonl import read_metrics


def best_blind_policy(validation: Path, turns: int) -> tuple[list[int], float]:
    """The best policy that never reads the question but uses the feedback: with ``turns``
    answers and "right / too high / too low" after each but the last, its final answer can be any
    of 2**turns - 1 values (a binary search tree over them; a right answer is kept), so its best
    success rate is the share of held-out tasks whose answer is among the 2**turns - 1 most common
    answers."""
    answers = [
        int(json.loads(line)["metadata"]["answer"])
        for line in validation.read_text().splitlines()
        if line.strip()
    ]
    top = Counter(answers).most_common(2**turns - 1)
    return sorted(value for value, _ in top), sum(count for _, count in top) / len(answers)


def summarise(run_dir: Path, data: Path, turns: int) -> dict:
    rows = read_metrics(run_dir)
    evals = [r for r in rows if m.EVAL_PASS_AT_1 in r]
    train = [r for r in rows if m.EPISODES in r]
    if len(evals) < 2:
        raise SystemExit(
            f"{run_dir}: needs evaluations before and after training (found {len(evals)}); "
            "run with eval.before_train=true eval.after_train=true"
        )
    blind, blind_rate = best_blind_policy(data / "validation.jsonl", turns)
    # One answer every time, whatever the question and the feedback.
    constant, constant_rate = best_blind_policy(data / "validation.jsonl", 1)
    calls = sum(r.get(m.LLM_CALLS, 0) for r in train)
    samples = sum(r.get(m.SAMPLES, 0) for r in train)
    calls_per_episode = (
        sum(r.get(m.CALLS_PER_EPISODE, 0.0) for r in train) / len(train) if train else 0.0
    )
    # samples/per_episode counts the episodes of kept groups, and is 0 in a step whose groups
    # were all dropped (equal rewards): only the steps that trained say how episodes merged.
    trained = [r for r in train if r.get(m.SAMPLES, 0)]
    samples_per_episode = (
        sum(r[m.SAMPLES_PER_EPISODE] for r in trained) / len(trained) if trained else 0.0
    )
    return {
        "held_out_before": evals[0][m.EVAL_PASS_AT_1],
        "held_out_after": evals[-1][m.EVAL_PASS_AT_1],
        "best_blind_policy_answers": blind,
        "best_blind_policy_success": blind_rate,
        "best_constant_answer": constant[0],
        "best_constant_success": constant_rate,
        "drift_fallbacks": sum(r.get(m.DRIFT_FALLBACKS, 0) for r in train),
        # Mean over steps of each step's turns/calls_per_episode (workflow.options.turns).
        "calls_per_episode": calls_per_episode,
        "llm_calls": calls,
        "samples": samples,
        "samples_per_episode": samples_per_episode,
        # Every episode makes the same number of calls, so this is the calls merged per sample.
        "calls_per_sample": (
            calls_per_episode / samples_per_episode if samples_per_episode else 0.0
        ),
        "steps": len(train),
        "training_seconds": round(sum(r.get(m.STEP_SECONDS, 0.0) for r in train), 1),
        "run_dir": str(run_dir),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--data", type=Path, default=Path(__file__).parent / "data")
    parser.add_argument("--turns", type=int, default=3, help="workflow.options.turns")
    parser.add_argument("--json", type=Path, help="also write the summary here")
    args = parser.parse_args()
    s = summarise(args.run_dir, args.data, args.turns)
    print(f"held-out success before training: {s['held_out_before']:.3f}")
    print(f"held-out success after training:  {s['held_out_after']:.3f}")
    print(
        "best policy that ignores the question (binary search over "
        f"{s['best_blind_policy_answers']}): {s['best_blind_policy_success']:.3f}; "
        f"best constant answer ({s['best_constant_answer']}): {s['best_constant_success']:.3f}"
    )
    print(
        f"drift fallbacks: {s['drift_fallbacks']}; LLM calls per episode: "
        f"{s['calls_per_episode']:.2f}; samples per kept episode: {s['samples_per_episode']:.2f}; "
        f"LLM calls per training sample: {s['calls_per_sample']:.2f}"
    )
    print(f"{s['steps']} steps, {s['training_seconds'] / 60:.1f} min of training")
    improved = s["held_out_after"] > s["held_out_before"]
    print(
        f"result: {'improved' if improved else 'did NOT improve'}; beats the best blind "
        f"policy: {s['held_out_after'] > s['best_blind_policy_success']}"
    )
    if args.json:
        args.json.write_text(json.dumps(s, indent=2))


if __name__ == "__main__":
    main()
