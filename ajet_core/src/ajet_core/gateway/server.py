"""Run the gateway app with uvicorn on the gateway's own loop thread.

Not the workflows' loop: a workflow that blocks its loop with a synchronous HTTP call must
still be answered (see :mod:`ajet_core.gateway.loop_thread`). The socket is bound and listening
synchronously, so a tuner can hand out a base URL the moment it is asked. uvicorn's signal
capture is turned off so Ctrl-C reaches the rollout runner instead of being swallowed.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import socket
from typing import TYPE_CHECKING, Any

import uvicorn

if TYPE_CHECKING:  # pragma: no cover
    from ajet_core.gateway.loop_thread import GatewayLoop


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self):  # type: ignore[override]
        yield


def bind_socket(host: str, port: int) -> tuple[socket.socket, str]:
    """A listening socket on ``host:port`` and the ``/v1`` base URL it serves."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on connections whose socket says
    # TCP, and without it a response written in two parts (headers, then body) waits for the
    # client's delayed ACK — about 40 ms on Linux, on every request. Set on the listener too
    # (Linux passes it on to accepted connections).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
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
    bound_host, bound_port = sock.getsockname()[:2]
    shown = f"[{bound_host}]" if family == socket.AF_INET6 else bound_host
    return sock, f"http://{shown}:{bound_port}/v1"


def serve(
    app: Any, sock: socket.socket, loop: GatewayLoop
) -> tuple[uvicorn.Server, concurrent.futures.Future]:
    """Start uvicorn on ``sock`` on the gateway loop; the future resolves when it stops."""
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="off",
        timeout_keep_alive=30,
        backlog=2048,
    )
    server = _Server(config)
    return server, loop.submit(server.serve(sockets=[sock]))


async def wait_started(server: uvicorn.Server, future: concurrent.futures.Future) -> None:
    # Polled: uvicorn offers no started event, and the server lives on another loop.
    while not server.started:
        if future.done():
            raise RuntimeError(
                f"the gateway's HTTP server stopped while starting: {future.exception()}"
            )
        await asyncio.sleep(0.005)
