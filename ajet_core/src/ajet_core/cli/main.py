"""Entry point of the ``ajet`` command.

Exit codes: 0 success, 1 an unexpected failure, 2 a usage or config error (one line; the
traceback only with ``--verbose``).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from ajet_core.cli import bench_cmd, plugins_cmd, run_cmds, view_cmd, worker_cmd
from ajet_core.errors import AjetError
from ajet_core.plugins.commands import CommandRegistry

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2


def build_parser(with_plugins: bool = True) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ajet", description="AgentJet: tune the LLM behind any agent workflow with RL."
    )
    parser.add_argument("--verbose", "-v", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    cli = CommandRegistry(sub)
    cli.add_command(
        "train", "train the policy on a config", run_cmds.train, run_cmds.configure_train
    )
    cli.add_command(
        "rollout", "run episodes without training", run_cmds.rollout, run_cmds.configure_rollout
    )
    cli.add_command(
        "eval",
        "evaluate a checkpoint, the base model or an endpoint",
        run_cmds.evaluate,
        run_cmds.configure_eval,
    )
    cli.add_command(
        "serve",
        "serve the policy or a checkpoint as an OpenAI-compatible endpoint",
        run_cmds.serve,
        run_cmds.configure_serve,
    )
    cli.add_command(
        "worker",
        "run a workflow on episodes claimed from a run that serves remote workers",
        worker_cmd.worker,
        worker_cmd.configure,
    )
    plugins_parser = cli.add_command(
        "plugins", "inspect installed plugins", plugins_cmd.list_plugins, plugins_cmd.configure
    )
    plugins_parser.set_defaults(json=False)
    cli.add_command(
        "view",
        "browse a run's token-level records in a web page",
        view_cmd.view,
        view_cmd.configure,
    )
    cli.add_command(
        "config", "inspect configs", _needs_subcommand("config"), run_cmds.configure_config
    )
    cli.add_command(
        "bench",
        "run benchmark suites and compare their results across versions",
        _needs_subcommand("bench"),
        bench_cmd.configure,
    )
    if with_plugins:
        from ajet_core.plugins.manager import get_plugin_manager

        get_plugin_manager().add_commands(cli)
    return parser


def _needs_subcommand(name: str):
    def handler(args: argparse.Namespace) -> int:
        raise AjetError(f"'ajet {name}' needs a sub-command; see 'ajet {name} --help'")

    return handler


def _normalise_argv(argv: list[str]) -> list[str]:
    """AgentJet's form ``ajet --conf X --backbone NAME`` means ``ajet train --conf X ...``."""
    flags = [a for a in argv if a in ("--verbose", "-v")]
    rest = [a for a in argv if a not in ("--verbose", "-v")]
    if rest and rest[0].split("=")[0] in ("--conf", "--config", "--backbone"):
        return [*flags, "train", *rest]
    return argv


def main(argv: Sequence[str] | None = None) -> int:
    code = _main(argv)
    if argv is None:  # the `ajet` command itself, not a caller inside another program
        _exit_despite_stray_threads(code)
    return code


def _exit_despite_stray_threads(code: int) -> None:
    """A thread that a workflow (or judger) left running must not keep `ajet train` alive after
    the run ended: Python would wait for every non-daemon thread at exit, forever."""
    import threading

    # Idle executor threads exit with their executors; only other live threads would hang us.
    stray = [
        t
        for t in threading.enumerate()
        if t is not threading.main_thread()
        and not t.daemon
        and not t.name.startswith(("ThreadPoolExecutor", "asyncio_"))
    ]
    if not stray:
        return
    from ajet_core.plugins.import_watch import plugin_that_started

    def described(thread: threading.Thread) -> str:
        owner = plugin_that_started(thread)
        return f"{thread.name} (started by plugin {owner!r})" if owner else thread.name

    names = ", ".join(sorted(described(t) for t in stray))
    print(f"ajet: exiting although threads are still running ({names})", file=sys.stderr)
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _main(argv: Sequence[str] | None) -> int:
    args_list = _normalise_argv(list(sys.argv[1:] if argv is None else argv))
    verbose = "--verbose" in args_list or "-v" in args_list
    try:
        parser = build_parser()
        args = parser.parse_args(args_list)
        handler = getattr(args, "_handler", None)
        if handler is None:
            parser.print_help()
            return EXIT_USAGE
        return int(handler(args) or EXIT_OK)
    except SystemExit as exc:  # argparse usage errors exit 2 already
        return int(exc.code) if isinstance(exc.code, int) else EXIT_USAGE
    except (AjetError, NotImplementedError) as exc:
        if verbose:
            import traceback

            traceback.print_exc()
        print(f"ajet: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("ajet: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
