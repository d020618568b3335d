"""Two-number addition tasks (operands 1-50) for the self-correction tutorial: a training set and
a disjoint held-out set. The workflow asks, the verifier answers "too high" / "too low", and the
model tries again.

    python tutorial/example_self_correction/make_data.py --out tutorial/example_self_correction/data
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path


def task_row(a: int, b: int) -> dict:
    return {
        "task_id": f"correct-{a}-{b}",
        "main_query": f"What is {a} + {b}?",
        "metadata": {"answer": a + b},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "data")
    parser.add_argument("--held-out", type=int, default=120)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    pairs = [(a, b) for a in range(1, 51) for b in range(1, 51)]
    random.Random(args.seed).shuffle(pairs)
    held_out, train = pairs[: args.held_out], pairs[args.held_out :]
    args.out.mkdir(parents=True, exist_ok=True)
    for name, split in (("train.jsonl", train), ("validation.jsonl", held_out)):
        with (args.out / name).open("w") as handle:
            handle.writelines(json.dumps(task_row(a, b)) + "\n" for a, b in split)
    print(f"wrote {len(train)} training and {len(held_out)} held-out tasks to {args.out}")


if __name__ == "__main__":
    main()
