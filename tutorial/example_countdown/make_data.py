"""Write Countdown puzzles (always solvable) as JSONL: training and validation seeds disjoint.

python tutorial/example_countdown/make_data.py --out tutorial/example_countdown/data
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ajet_plugins_std.envs.countdown import generate_puzzle


def write_split(path: Path, seeds: range, count: int) -> None:
    with path.open("w") as handle:
        for seed in seeds:
            puzzle = generate_puzzle(seed, count=count)
            row = {
                "task_id": f"countdown-{count}-{seed}",
                "main_query": puzzle.prompt(),
                "metadata": puzzle.as_metadata(),
            }
            handle.write(json.dumps(row) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "data")
    parser.add_argument("--train", type=int, default=512)
    parser.add_argument("--validation", type=int, default=100)
    parser.add_argument("--numbers", type=int, default=3, help="numbers per puzzle")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    write_split(args.out / "train.jsonl", range(args.train), args.numbers)
    write_split(
        args.out / "validation.jsonl", range(1_000_000, 1_000_000 + args.validation), args.numbers
    )
    print(f"wrote {args.train} training and {args.validation} validation puzzles to {args.out}")


if __name__ == "__main__":
    main()
