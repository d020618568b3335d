"""``ajet bench run SUITE``, ``ajet bench report`` and ``ajet bench list`` (docs/bench.md)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ajet_core.bench import COMMITTED_STORE, DEFAULT_STORE, DEFAULT_SUITES_FILE, DEFAULT_WORK_DIR
from ajet_core.errors import ConfigError

# The bench modules (pydantic models, rich) are imported by the handlers, not when the parser is
# built: every other command pays nothing for them.


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="bench_command", metavar="{run,report,list}")

    run = sub.add_parser(
        "run",
        help="run a suite: train with held-out evaluation before and after, append a row",
        description="Run a named suite through `ajet train` and append its result row.",
    )
    # One positional list: argparse takes positionals only as one run of words, so the
    # overrides follow the suite name directly (options go before or after both).
    run.add_argument(
        "suite_and_overrides",
        nargs="+",
        metavar="SUITE [KEY=VALUE ...]",
        help="a suite name from the suites file (`ajet bench list`), then dotted config overrides",
    )
    _suites_argument(run)
    _store_argument(run)
    run.add_argument(
        "--backbone", help="a registered backbone, e.g. debug (default: the suite's config)"
    )
    run.add_argument("--model", help="model.path to train (default: the suite's config)")
    run.add_argument("--steps", type=int, help="training steps (default: the suite's steps)")
    run.add_argument(
        "--work-dir",
        type=Path,
        default=DEFAULT_WORK_DIR,
        help=f"where each run's data, log and run folder go (default: {DEFAULT_WORK_DIR})",
    )
    run.add_argument("--quiet", action="store_true", help="keep the training output in its log")
    run.set_defaults(_handler=run_suite)

    report = sub.add_parser(
        "report",
        help="a table of the store's rows, and optionally an HTML page with charts",
        description="Render the results store as a table and (--html) a static page.",
    )
    _store_argument(report)
    report.add_argument("--suite", action="append", help="only this suite (repeatable)")
    report.add_argument("--backbone", action="append", help="only this backbone (repeatable)")
    report.add_argument(
        "--html", type=Path, help="also write a static page with a chart per suite here"
    )
    report.set_defaults(_handler=report_store)

    listing = sub.add_parser("list", help="the suites a suites file defines")
    _suites_argument(listing)
    listing.set_defaults(_handler=list_suites)


def _suites_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--suites",
        type=Path,
        default=DEFAULT_SUITES_FILE,
        help=f"the suites file (default: {DEFAULT_SUITES_FILE})",
    )


def _store_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--store",
        type=Path,
        default=DEFAULT_STORE,
        help=f"the results store, a JSONL file (default: {DEFAULT_STORE})",
    )


def run_suite(args: argparse.Namespace) -> int:
    from ajet_core.bench.runner import BenchRequest, BenchRunFailed
    from ajet_core.bench.runner import run_suite as run
    from ajet_core.bench.store import append_row
    from ajet_core.bench.suites import get_suite, load_suites

    suite, *overrides = args.suite_and_overrides
    entry = get_suite(load_suites(args.suites), suite, args.suites)
    request = BenchRequest(
        suite=suite,
        entry=entry,
        backbone=args.backbone,
        model=args.model,
        steps=args.steps,
        overrides=overrides,
        work_root=args.work_dir,
        quiet=args.quiet,
    )
    try:
        row = run(request)
    except BenchRunFailed as exc:
        print(f"ajet: bench run failed: {exc}", file=sys.stderr)
        return 1
    append_row(args.store, row)
    print(
        f"bench: {row.suite} on {row.backbone} ({row.model}), {row.steps} steps: held-out "
        f"{row.held_out_before:.3f} -> {row.held_out_after:.3f} in {row.wall_seconds:.0f} s; "
        f"row appended to {args.store}"
    )
    return 0


def report_store(args: argparse.Namespace) -> int:
    from rich.console import Console

    from ajet_core.bench.report import html_page, table
    from ajet_core.bench.store import read_store

    if not args.store.is_file():
        raise ConfigError(
            f"results store {str(args.store)!r} does not exist; run `ajet bench run SUITE` "
            f"first or pass --store FILE (the committed history: {COMMITTED_STORE})"
        )
    contents = read_store(args.store)
    for problem in contents.problems:
        print(
            f"ajet: warning: {args.store}:{problem.line}: {problem.reason}; skipped (every other "
            f"line is read); fix or delete line {problem.line}",
            file=sys.stderr,
        )
    rows = [
        row
        for row in contents.rows
        if (not args.suite or row.suite in args.suite)
        and (not args.backbone or row.backbone in args.backbone)
    ]
    if not rows:
        filters = " matching --suite/--backbone" if args.suite or args.backbone else ""
        print(f"no bench rows{filters} in {args.store}", file=sys.stderr)
        return 0
    # A pipe or a file still gets every column: rich would otherwise fold the table to 80.
    console = Console(width=None if sys.stdout.isatty() else 200)
    console.print(table(rows))
    if args.html is not None:
        args.html.parent.mkdir(parents=True, exist_ok=True)
        args.html.write_text(html_page(rows, source=str(args.store)), encoding="utf-8")
        print(f"report page: {args.html}")
    return 0


def list_suites(args: argparse.Namespace) -> int:
    from ajet_core.bench.suites import load_suites

    for name, entry in load_suites(args.suites).suites.items():
        print(f"{name}: {entry.task}, {entry.steps} steps ({entry.config})")
        if entry.description:
            print(f"    {entry.description}")
    return 0
