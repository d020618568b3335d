"""``ajet view RUN_DIR [RUN_DIR ...]``: browse token-level records and overlay reward curves."""

from __future__ import annotations

import argparse
from pathlib import Path

from ajet_core.errors import AjetError


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "run_dirs",
        nargs="+",
        type=Path,
        metavar="RUN_DIR",
        help="run folder(s) runs/<experiment>/<time>/; several overlay their reward curves",
    )
    parser.add_argument(
        "--port", type=int, default=None, help="port on 127.0.0.1 (default: a free one)"
    )
    parser.add_argument("--no-browser", action="store_true", help="only print the URL")


def view(args: argparse.Namespace) -> int:
    if args.port is not None and not 0 < args.port < 65536:
        raise AjetError(
            f"--port {args.port} is not a port number; use 1..65535 or leave it out for a free one"
        )
    from ajet_core.viewer.server import serve  # starlette/uvicorn only when viewing

    serve(args.run_dirs, port=args.port, open_browser=not args.no_browser)
    return 0
