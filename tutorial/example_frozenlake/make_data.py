"""Write FrozenLake task files: each task is a map seed (training and validation seeds disjoint).

python tutorial/example_frozenlake/make_data.py --out tutorial/example_frozenlake/data
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def write_split(path: Path, seeds: range) -> None:
    with path.open("w") as handle:
        for seed in seeds:
            row = {"task_id": f"frozenlake-{seed}", "main_query": "", "metadata": {"seed": seed}}
            handle.write(json.dumps(row) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "data")
    parser.add_argument("--train", type=int, default=256)
    parser.add_argument("--validation", type=int, default=64)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    write_split(args.out / "train.jsonl", range(args.train))
    write_split(args.out / "validation.jsonl", range(100_000, 100_000 + args.validation))
    print(f"wrote {args.train} training and {args.validation} validation tasks to {args.out}")


if __name__ == "__main__":
    main()
