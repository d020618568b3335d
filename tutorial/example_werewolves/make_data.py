"""Write Werewolves game set-ups as JSONL: who sits where and who is the werewolf.

    python tutorial/example_werewolves/make_data.py --out tutorial/example_werewolves/data

Training and validation use disjoint seeds; each set-up fixes the names, the seating order and
the werewolf's seat, so a GRPO group replays the same game with different werewolf moves.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

NAMES = ["Alice", "Bob", "Carol", "Dave", "Erin", "Frank", "Grace", "Heidi", "Ivan", "Judy"]


def setup(seed: int, players: int) -> dict:
    rng = random.Random(seed)
    names = rng.sample(NAMES, players)
    werewolf = rng.choice(names)
    return {
        "task_id": f"werewolves-{players}-{seed}",
        "main_query": f"A game of Werewolves between {', '.join(names)}.",
        "metadata": {"players": names, "werewolf": werewolf},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "data")
    parser.add_argument("--train", type=int, default=256)
    parser.add_argument("--validation", type=int, default=64)
    parser.add_argument("--players", type=int, default=4)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    splits = {
        "train.jsonl": range(args.train),
        "validation.jsonl": range(10_000, 10_000 + args.validation),
    }
    for name, seeds in splits.items():
        with (args.out / name).open("w") as handle:
            for seed in seeds:
                handle.write(json.dumps(setup(seed, args.players)) + "\n")
    print(f"wrote {args.train} training and {args.validation} validation games to {args.out}")


if __name__ == "__main__":
    main()
