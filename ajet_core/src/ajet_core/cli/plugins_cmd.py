"""``ajet plugins list``: what is installed, what it registers, and what is broken."""

from __future__ import annotations

import argparse
import json
import sys

from ajet_core.plugins.manager import STATUS_OK, PluginInfo, get_plugin_manager


def _status_text(info: PluginInfo) -> str:
    if info.status != STATUS_OK:
        return f"{info.status}: {info.error} -> {info.hint}"
    if info.unavailable:
        return "; ".join(f"{what} {problem}" for what, problem in info.unavailable.items())
    if info.error:  # e.g. a duplicate name; the plugin still loaded
        return f"ok (warning: {info.error})"
    return "ok"


def list_plugins(args: argparse.Namespace) -> int:
    manager = get_plugin_manager()
    manager.registry("judger")  # run the registration hooks
    plugins = sorted(manager.plugins.values(), key=lambda p: p.name)
    if args.json:
        json.dump([p.to_json() for p in plugins], sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table(title="AgentJet plugins")
    for column in ("plugin", "distribution", "version", "registers", "status"):
        table.add_column(column, overflow="fold")
    for info in plugins:
        registers = "\n".join(
            f"{kind}: {', '.join(names)}" for kind, names in sorted(info.registers.items())
        )
        style = "red" if info.status != STATUS_OK else ("yellow" if info.unavailable else None)
        cells = (
            info.name,
            info.distribution or "-",
            info.version or "-",
            registers or "-",
            _status_text(info),
        )
        # Escaped: install hints such as "pip install 'ajet[verl]'" are not rich markup.
        table.add_row(*(escape(cell) for cell in cells), style=style)
    Console().print(table)
    return 0


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="plugins_command", metavar="{list}")
    list_parser = sub.add_parser("list", help="list installed plugins and what they register")
    list_parser.add_argument("--json", action="store_true", help="machine-readable output")
    list_parser.set_defaults(_handler=list_plugins)
