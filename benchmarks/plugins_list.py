"""Wall time of `ajet plugins list` (target: under 1 s on the 2-core dev machine).

Runs the real CLI in fresh processes, side by side with a bare `python -c pass` start-up in the
same run, so the figure that matters — what ajet adds on top of starting Python — is visible.

    .venvs/main/bin/python benchmarks/plugins_list.py [--runs 10]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time


def time_command(command: list[str], runs: int) -> list[float]:
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        timings.append(time.perf_counter() - started)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    rows = {
        "python -c pass": time_command([sys.executable, "-c", "pass"], args.runs),
        "ajet plugins list --json": time_command(
            [sys.executable, "-m", "ajet_core.cli.main", "plugins", "list", "--json"], args.runs
        ),
        "ajet plugins list (table)": time_command(
            [sys.executable, "-m", "ajet_core.cli.main", "plugins", "list"], args.runs
        ),
    }
    baseline = statistics.median(rows["python -c pass"])
    print(f"{'command':<28} {'median s':>9} {'max s':>7} {'x python start':>15}")
    for name, timings in rows.items():
        median = statistics.median(timings)
        print(f"{name:<28} {median:>9.3f} {max(timings):>7.3f} {median / baseline:>15.1f}")


if __name__ == "__main__":
    main()
