"""``ajet worker --url URL --workflow FILE.py:Class``: run an existing workflow on episodes that a
run serving remote workers (``rollout.isolation: remote``) hands out."""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
from pathlib import Path

from ajet_core.errors import AjetError, ConfigError

TOKEN_ENV = "AJET_RUN_TOKEN"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--url", required=True, help="the run's server, as in <run folder>/remote/url"
    )
    token = parser.add_mutually_exclusive_group()
    token.add_argument("--token", help=f"the run token (default: ${TOKEN_ENV})")
    token.add_argument(
        "--token-file", type=Path, help="a file holding the run token (<run folder>/remote/token)"
    )
    parser.add_argument(
        "--workflow",
        required=True,
        help="the workflow to run: 'path/to/file.py:Class', 'module:Class' or a registered name",
    )
    parser.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a keyword argument for the workflow's constructor (YAML value); repeatable",
    )
    parser.add_argument(
        "--concurrency", type=int, default=1, help="episodes this worker runs at once"
    )
    parser.add_argument(
        "--max-episodes", type=int, default=None, help="stop after claiming this many"
    )
    parser.add_argument(
        "--reconnect-seconds",
        type=float,
        default=120.0,
        help="how long to keep retrying an unreachable run (a restart) before giving up",
    )
    parser.add_argument(
        "--name", default=None, help="this worker's name in the run's records (default: host:pid)"
    )


def worker(args: argparse.Namespace) -> int:
    import yaml

    from ajet_client import EpisodeClient
    from ajet_core.config.models import AjetConfig
    from ajet_core.plugins.manager import get_plugin_manager
    from ajet_core.rollout.remote.worker import run_worker
    from ajet_core.rollout.workflows import resolve_workflow, workflow_factory

    if args.concurrency < 1:
        raise AjetError(f"--concurrency {args.concurrency} runs nothing; use 1 or more")
    token = _token(args)
    options = {}
    for option in args.option:
        key, equals, value = option.partition("=")
        if not equals or not key:
            raise AjetError(f"--option {option!r} is not KEY=VALUE")
        options[key] = yaml.safe_load(value)
    # file.py:Class paths are relative to the working directory (config.base_dir's default).
    config = AjetConfig.model_validate({"workflow": {"name": args.workflow, "options": options}})
    make_workflow = workflow_factory(config, resolve_workflow(config, get_plugin_manager()))
    name = args.name or f"{socket.gethostname()}:{os.getpid()}"
    client = EpisodeClient(args.url, token, worker=name, reconnect_seconds=args.reconnect_seconds)
    with client:
        try:
            counts = asyncio.run(
                run_worker(
                    client,
                    make_workflow,
                    concurrency=args.concurrency,
                    max_episodes=args.max_episodes,
                )
            )
        except ConnectionError as exc:
            raise AjetError(f"{exc}; is the run still going?") from None
    print(
        f"worker {name}: {counts.finished} finished, {counts.aborted} aborted, {counts.lost} lost",
        flush=True,
    )
    return 0


def _token(args: argparse.Namespace) -> str:
    if args.token_file is not None:
        try:
            token = args.token_file.read_text().strip()
        except OSError as exc:
            raise ConfigError(f"--token-file {args.token_file}: {exc.strerror}") from None
    else:
        token = args.token or os.environ.get(TOKEN_ENV, "")
    if not token:
        raise ConfigError(
            f"no run token: pass --token-file <run folder>/remote/token, --token, or set "
            f"${TOKEN_ENV}"
        )
    return token
