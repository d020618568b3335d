"""Wall and CPU time of `ajet plugins list` (targets: under 1 s on the 2-core dev machine, and
within 1.5x of `pytest --version`'s CPU time in the same environment).

Runs the real CLI in fresh processes, side by side with a bare `python -c pass` start-up in the
same run, so the figure that matters — what ajet adds on top of starting Python — is visible.
CPU time (user + system of the child, from `resource.getrusage`) is the figure to compare across
runs on a shared machine: wall time moves with the load of other work, CPU time hardly does.

    .venvs/main/bin/python benchmarks/plugins_list.py [--runs 10]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import time


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def time_command(command: list[str], runs: int) -> tuple[list[float], list[float]]:
    """(wall seconds, CPU seconds) of each run."""
    walls, cpus = [], []
    for _ in range(runs):
        cpu_before = _children_cpu()
        started = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        walls.append(time.perf_counter() - started)
        cpus.append(_children_cpu() - cpu_before)
    return walls, cpus


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    cli = [sys.executable, "-m", "ajet_core.cli.main", "plugins", "list"]
    rows = {
        "python -c pass": time_command([sys.executable, "-c", "pass"], args.runs),
        # A familiar yardstick from the same environment: pytest's own start-up with its plugins.
        "pytest --version": time_command([sys.executable, "-m", "pytest", "--version"], args.runs),
        "ajet plugins list --json": time_command([*cli, "--json"], args.runs),
        "ajet plugins list (table)": time_command(cli, args.runs),
    }
    baseline = statistics.median(rows["python -c pass"][1])
    print(
        f"{'command':<28} {'wall med s':>10} {'wall max s':>10} {'CPU med s':>10} {'x python':>9}"
    )
    for name, (walls, cpus) in rows.items():
        cpu = statistics.median(cpus)
        print(
            f"{name:<28} {statistics.median(walls):>10.3f} {max(walls):>10.3f} {cpu:>10.3f} "
            f"{cpu / baseline:>9.1f}"
        )
    pytest_cpu = statistics.median(rows["pytest --version"][1])
    for name in ("ajet plugins list --json", "ajet plugins list (table)"):
        ratio = statistics.median(rows[name][1]) / pytest_cpu
        print(f"{name}: {ratio:.2f}x the CPU time of `pytest --version` (target <= 1.5x)")


if __name__ == "__main__":
    main()
