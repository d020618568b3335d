"""``ajet bench``: named benchmark suites run through ``ajet train``, their results appended to a
local JSONL store, and a report comparing versions (docs/bench.md)."""

from pathlib import Path

# Relative to the directory `ajet bench` runs in: the repository root.
DEFAULT_SUITES_FILE = Path("benchmarks/suites.yaml")
DEFAULT_STORE = Path("runs/bench/results.jsonl")  # local runs; the committed history is --store
COMMITTED_STORE = Path("benchmarks/results/bench.jsonl")
DEFAULT_WORK_DIR = Path("runs/bench")
