"""Write small arithmetic word problems with reference answers (training/validation disjoint).

python tutorial/example_math_agent/make_data.py --out tutorial/example_math_agent/data
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

TEMPLATES = [
    (
        "A shop sells {a} apples in the morning and {b} in the afternoon. How many apples does it "
        "sell?",
        lambda a, b: a + b,
    ),
    ("Tom has {a} marbles and gives away {b}. How many marbles are left?", lambda a, b: a - b),
    ("There are {a} boxes with {b} pens each. How many pens are there?", lambda a, b: a * b),
]


def write_split(path: Path, seeds: range) -> None:
    with path.open("w") as handle:
        for seed in seeds:
            rng = random.Random(f"math-agent|{seed}")
            template, solve = rng.choice(TEMPLATES)
            a, b = rng.randint(10, 99), rng.randint(2, 9)
            row = {
                "task_id": f"math-{seed}",
                "main_query": template.format(a=a, b=b),
                "metadata": {"answer": str(solve(a, b))},
            }
            handle.write(json.dumps(row) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "data")
    parser.add_argument("--train", type=int, default=256)
    parser.add_argument("--validation", type=int, default=100)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    write_split(args.out / "train.jsonl", range(args.train))
    write_split(args.out / "validation.jsonl", range(1_000_000, 1_000_000 + args.validation))
    print(f"wrote {args.train} training and {args.validation} validation problems to {args.out}")


if __name__ == "__main__":
    main()
