"""Run the gateway app with uvicorn on the caller's event loop.

Same loop as the engine and the workflows: the engine's batching sees every request, and no
thread hands work across loops. uvicorn's signal capture is turned off so Ctrl-C reaches the
rollout runner instead of being swallowed by the server.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import uvicorn


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self):  # type: ignore[override]
        yield


async def start_server(app: Any, host: str, port: int) -> tuple[uvicorn.Server, asyncio.Task, str]:
    config = uvicorn.Config(
        app, host=host, port=port, log_level="warning", access_log=False, lifespan="off",
        timeout_keep_alive=30,
    )
    server = _Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            error = task.exception()
            raise RuntimeError(
                f"the gateway could not listen on {host}:{port}: {error or 'server exited'}; "
                "pick another rollout.gateway.port (0 = any free port)"
            )
        await asyncio.sleep(0.005)
    bound_port = server.servers[0].sockets[0].getsockname()[1]
    return server, task, f"http://{host}:{bound_port}/v1"
