"""The typed object handed to ``ajet_add_commands``: plugins add sub-commands through it."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass

Handler = Callable[[argparse.Namespace], int | None]


@dataclass
class Command:
    name: str
    help: str
    handler: Handler


class CommandRegistry:
    def __init__(self, subparsers: argparse._SubParsersAction) -> None:
        self._subparsers = subparsers
        self.commands: dict[str, Command] = {}

    def add_command(
        self,
        name: str,
        help: str,
        handler: Handler,
        configure: Callable[[argparse.ArgumentParser], None] | None = None,
    ) -> argparse.ArgumentParser:
        """Add ``ajet NAME``. ``configure`` adds arguments; ``handler`` returns the exit code.

        A handler may add its own nested sub-commands through ``configure`` (the debug backbone's
        ``ajet model init-tiny`` is one); it then dispatches on its own ``args`` fields.
        """
        if name in self.commands:
            raise ValueError(f"command {name!r} is already defined")
        parser = self._subparsers.add_parser(name, help=help, description=help)
        if configure is not None:
            configure(parser)
        parser.set_defaults(_handler=handler)
        self.commands[name] = Command(name, help, handler)
        return parser
