"""Run the gateway app with uvicorn on the caller's event loop.

Same loop as the engine and the workflows: the engine's batching sees every request, and no
thread hands work across loops. The socket is bound and listening synchronously, so a tuner can
hand out a base URL the moment it is asked. uvicorn's signal capture is turned off so Ctrl-C
reaches the rollout runner instead of being swallowed by the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from typing import Any

import uvicorn


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self):  # type: ignore[override]
        yield


def serve_on_running_loop(
    app: Any, host: str, port: int
) -> tuple[uvicorn.Server, asyncio.Task, str]:
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        raise RuntimeError(
            "the gateway's HTTP server runs on the caller's event loop; call this from async code"
        ) from None
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise RuntimeError(
            f"the gateway could not listen on {host}:{port}: {exc}; pick another "
            "rollout.gateway.port (0 = any free port)"
        ) from None
    sock.listen(2048)
    sock.setblocking(False)
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="off",
        timeout_keep_alive=30,
        backlog=2048,
    )
    server = _Server(config)
    task = loop.create_task(server.serve(sockets=[sock]))
    bound_host, bound_port = sock.getsockname()[:2]
    shown = f"[{bound_host}]" if family == socket.AF_INET6 else bound_host
    return server, task, f"http://{shown}:{bound_port}/v1"


async def wait_started(server: uvicorn.Server, task: asyncio.Task) -> None:
    while not server.started:
        if task.done():
            raise RuntimeError(
                f"the gateway's HTTP server stopped while starting: {task.exception()}"
            )
        await asyncio.sleep(0.005)
