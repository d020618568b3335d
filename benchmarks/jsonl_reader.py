"""JSONL reader throughput and peak memory on a generated file (default 1,000,000 rows).

    .venvs/main/bin/python benchmarks/jsonl_reader.py [--rows N] [--keep FILE]

The reading runs in a fresh subprocess, which reports its own peak RSS from the kernel
(getrusage ru_maxrss) when done: the interpreter, pydantic, numpy and every task ever alive.
Two passes: the reader alone, and through the core TaskStream with its default 10,000-task
shuffle buffer (what training uses). Target: peak RSS under 200 MB.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = r"""
import json, resource, sys, time
from ajet_plugins_std.readers.jsonl import JsonlReaderConfig, JsonlTaskReader
from ajet_core.data import TaskStream
path, mode = sys.argv[1], sys.argv[2]
reader = JsonlTaskReader(
    JsonlReaderConfig(train_path=path, query_field="question", metadata_fields=["answer", "level"])
)
start = time.perf_counter()
count = 0
if mode == "reader":
    for task in reader.iter_tasks("train"):
        count += 1
else:
    for batch in TaskStream(reader, "train", batch_size=64, seed=0):
        count += len(batch)
elapsed = time.perf_counter() - start
peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"rows": count, "seconds": elapsed, "peak_rss_mb": peak_rss_mb}))
"""


def generate(path: Path, rows: int) -> None:
    rng = random.Random(0)
    with path.open("w", encoding="utf-8") as out:
        for i in range(rows):
            a, b = rng.randint(1, 10_000), rng.randint(1, 10_000)
            # Every tenth row carries its own id; the rest get ids derived from content.
            row = {
                "question": f"What is {a} + {b}? Put the result in \\boxed{{}}.",
                "answer": str(a + b),
                "level": i % 5,
            }
            if i % 10 == 0:
                row["task_id"] = f"row-{i}"
            out.write(json.dumps(row) + "\n")


def measure(path: Path, mode: str) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(path), mode], capture_output=True, text=True, check=True
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--keep", type=Path, help="write the generated file here and keep it")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = args.keep or Path(tmp) / "tasks.jsonl"
        start = time.perf_counter()
        generate(path, args.rows)
        size_mb = path.stat().st_size / 2**20
        print(
            f"generated {args.rows:,} rows ({size_mb:.0f} MB) in {time.perf_counter() - start:.1f} "
            "s"
        )
        for mode in ("reader", "task_stream"):
            r = measure(path, mode)
            print(
                f"{mode:12s}: {r['rows']:,} tasks in {r['seconds']:.1f} s = "
                f"{r['rows'] / r['seconds']:,.0f} rows/s; peak RSS {r['peak_rss_mb']:.0f} MB "
                "(limit 200 MB)"
            )
            if r["rows"] != args.rows:
                sys.exit(f"expected {args.rows} tasks, got {r['rows']}")
            if r["peak_rss_mb"] > 200:
                sys.exit(f"{mode}: peak RSS {r['peak_rss_mb']:.0f} MB is over the 200 MB limit")


if __name__ == "__main__":
    main()
