"""Running-total tasks: a start number and three additions, told one turn at a time.

Each task is (start, add1, add2, add3) with start 1-20 and additions 2-9; the held-out tasks never
appear in training. The episode asks for the first sum, then for each next total in turn.

    python tutorial/example_running_total/make_data.py --out tutorial/example_running_total/data
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
from pathlib import Path


def task_row(start: int, adds: tuple[int, ...]) -> dict:
    totals = list(itertools.accumulate((start, *adds)))[1:]
    return {
        "task_id": "total-" + "-".join(str(n) for n in (start, *adds)),
        "main_query": "",  # the workflow builds each turn's question from the numbers
        "metadata": {"start": start, "adds": list(adds), "totals": totals},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "data")
    parser.add_argument("--held-out", type=int, default=60)
    parser.add_argument("--train", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    tasks = [
        (start, adds)
        for start in range(1, 21)
        for adds in itertools.product(range(2, 10), repeat=3)
    ]
    random.Random(args.seed).shuffle(tasks)
    held_out = tasks[: args.held_out]
    train = tasks[args.held_out : args.held_out + args.train]
    args.out.mkdir(parents=True, exist_ok=True)
    for name, split in (("train.jsonl", train), ("validation.jsonl", held_out)):
        with (args.out / name).open("w") as handle:
            handle.writelines(json.dumps(task_row(s, a)) + "\n" for s, a in split)
    print(f"wrote {len(train)} training and {len(held_out)} held-out tasks to {args.out}")


if __name__ == "__main__":
    main()
