"""Count test outcomes in pytest JUnit XML files for scripts/test.sh's summary lines.

    junit_counts.py FILE            ->  "N passed, N failed, N skipped"
    junit_counts.py --total FILE..  ->  "total: N passed, N failed, N skipped"
    junit_counts.py --failures FILE..  ->  one line per failed test: its id and the first line
                                          of its message (CI keeps only the log's tail: the
                                          summary must name what failed)

Errors (failures outside a test body, e.g. in a fixture) count as failed. A missing file (pytest
never ran, or collected nothing) counts as zero tests.
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from pathlib import Path


def count(path: Path) -> dict[str, int]:
    totals = {"tests": 0, "failed": 0, "skipped": 0}
    if not path.is_file():
        return totals
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    for suite in suites:
        totals["tests"] += int(suite.get("tests", 0))
        totals["failed"] += int(suite.get("failures", 0)) + int(suite.get("errors", 0))
        totals["skipped"] += int(suite.get("skipped", 0))
    return totals


def describe(totals: dict[str, int]) -> str:
    passed = totals["tests"] - totals["failed"] - totals["skipped"]
    return f"{passed} passed, {totals['failed']} failed, {totals['skipped']} skipped"


MESSAGE_CHARS = 240


def failures(path: Path) -> list[str]:
    if not path.is_file():
        return []
    lines = []
    for case in ET.parse(path).getroot().iter("testcase"):
        for outcome in ("failure", "error"):
            found = case.find(outcome)
            if found is None:
                continue
            message = (found.get("message") or found.text or "").strip().splitlines()
            first = message[0][:MESSAGE_CHARS] if message else ""
            name = f"{case.get('classname', '')}::{case.get('name', '')}"
            lines.append(f"{outcome.upper()} {name} ({case.get('time', '?')} s): {first}")
    return lines


def main(argv: list[str]) -> int:
    mode = argv[0] if argv[:1] and argv[0] in ("--total", "--failures") else None
    files = [Path(arg) for arg in (argv[1:] if mode else argv)]
    total = mode == "--total"
    if not files:
        print(__doc__, file=sys.stderr)
        return 2
    if mode == "--failures":
        for path in files:
            for line in failures(path):
                print(line)
        return 0
    sums = {"tests": 0, "failed": 0, "skipped": 0}
    for path in files:
        for key, value in count(path).items():
            sums[key] += value
    print(("total: " if total else "") + describe(sums))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
