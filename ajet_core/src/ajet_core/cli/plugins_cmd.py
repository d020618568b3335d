"""``ajet plugins list``: what is installed, what it registers, and what is broken.

``--strict`` exits 1 when a plugin failed or conflicts with another, or when doing what a run
would (importing each registered target, checking the declared requirements) fails (for CI);
``-v`` adds each
registration's description and the entry-point import time.
"""

from __future__ import annotations

import argparse
import json
import sys

from ajet_core.plugins.manager import (
    STATUS_CONFLICT,
    STATUS_FAILED,
    STATUS_OK,
    PluginInfo,
    get_plugin_manager,
)

# `--strict` fails on these: the plugin is broken, or a name it registers is unusable.
STRICT_FAILURES = (STATUS_FAILED, STATUS_CONFLICT)


def _status_text(info: PluginInfo) -> str:
    if info.status != STATUS_OK:
        text = f"{info.status}: {info.error} -> {info.hint}"
    elif info.unavailable:
        text = "; ".join(f"{what} {problem}" for what, problem in info.unavailable.items())
    else:
        text = "ok"
    return "\n".join([text, *(f"warning: {w}" for w in info.warnings)])


def _registers_text(info: PluginInfo, verbose: bool) -> str:
    if not verbose:
        return "\n".join(
            f"{kind}: {', '.join(names)}" for kind, names in sorted(info.registers.items())
        )
    return "\n".join(
        f"{entry.kind}: {entry.name}" + (f" - {entry.description}" if entry.description else "")
        for entry in sorted(info.entries, key=lambda e: (e.kind, e.name))
    )


def list_plugins(args: argparse.Namespace) -> int:
    manager = get_plugin_manager()
    manager.registry("judger")  # run the registration hooks
    plugins = sorted(manager.plugins.values(), key=lambda p: p.name)
    verbose = bool(getattr(args, "show_details", False))
    strict = bool(getattr(args, "strict", False))
    # --strict also does what a run would: import every target, check declared requirements.
    deep = manager.strict_problems() if strict else {}
    for name, problems in deep.items():
        manager.plugins[name].warnings.extend(f"--strict: {problem}" for problem in problems)
    failed = any(p.status in STRICT_FAILURES for p in plugins) or bool(deep)
    exit_code = 1 if strict and failed else 0
    if args.json:
        json.dump([p.to_json() for p in plugins], sys.stdout, indent=2)
        sys.stdout.write("\n")
        return exit_code
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table(title="AgentJet plugins")
    columns = ["plugin", "distribution", "version", "registers", "status"]
    if verbose:
        columns.insert(3, "import s")
    for column in columns:
        table.add_column(column, overflow="fold")
    for info in plugins:
        style = "red" if info.status != STATUS_OK else ("yellow" if info.unavailable else None)
        cells = [
            info.name,
            info.distribution or "-",
            info.version or "-",
            _registers_text(info, verbose) or "-",
            _status_text(info),
        ]
        if verbose:
            seconds = info.import_seconds
            cells.insert(3, "-" if seconds is None else f"{seconds:.3f}")
        # Escaped: install hints such as "pip install 'ajet[verl]'" are not rich markup.
        table.add_row(*(escape(cell) for cell in cells), style=style)
    Console().print(table)
    return exit_code


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="plugins_command", metavar="{list}")
    list_parser = sub.add_parser("list", help="list installed plugins and what they register")
    list_parser.add_argument("--json", action="store_true", help="machine-readable output")
    list_parser.add_argument(
        "--strict",
        action="store_true",
        help="exit 1 when a plugin failed or conflicts with another, or when a registered "
        "target does not load, a declared requirement is unmet or an optional ajet_ hook "
        "matches nothing (for CI; imports every target)",
    )
    list_parser.add_argument(
        "--verbose",
        "-v",
        action="store_true",
        # Its own name: the top-level --verbose (tracebacks) must not be overwritten.
        dest="show_details",
        help="show each registration's description and the entry-point import time",
    )
    list_parser.set_defaults(_handler=list_plugins)
