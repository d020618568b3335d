"""Small HTTP servers the std tests start on 127.0.0.1 (a boundary we own): an OpenAI-compatible
chat endpoint whose replies a test scripts, to exercise success paths and failure handling that
the tiny model cannot produce on demand (well-formed JSON lists, 5xx answers, slowness)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ThreadedServer:
    def __init__(self, app: Starlette) -> None:
        self.port = free_port()
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="error")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.closing = threading.Event()

    def __enter__(self) -> ThreadedServer:
        self.thread.start()
        # Readiness, not speed: a generous deadline for a loaded machine.
        deadline = time.monotonic() + 60
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.closing.set()  # ends a delayed reply at once, so shutting down does not wait for it
        self.server.should_exit = True
        self.thread.join(timeout=60)

    async def pause(self, seconds: float) -> None:
        """Sleep ``seconds`` before replying, or until the server closes."""
        deadline = time.monotonic() + seconds
        while not self.closing.is_set() and time.monotonic() < deadline:
            await asyncio.sleep(0.02)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


class ChatServer(ThreadedServer):
    """``reply(messages) -> text``; ``fail_first`` answers 500 that often; ``delay`` seconds."""

    def __init__(
        self,
        reply: Callable[[list[dict[str, Any]]], str],
        *,
        fail_first: int = 0,
        delay: float = 0.0,
    ) -> None:
        self.reply, self.fail_first, self.delay = reply, fail_first, delay
        self.requests: list[dict[str, Any]] = []

        async def completions(request: Request) -> JSONResponse:
            body = await request.json()
            self.requests.append(body)
            if self.delay:
                await self.pause(self.delay)
            if len(self.requests) <= self.fail_first:
                return JSONResponse(
                    {"error": {"message": "overloaded", "type": "server_error"}}, status_code=500
                )
            text = self.reply(body["messages"])
            return JSONResponse(
                {
                    "id": f"chatcmpl-{len(self.requests)}",
                    "object": "chat.completion",
                    "created": 0,
                    "model": body["model"],
                    "choices": [
                        {
                            "index": 0,
                            "finish_reason": "stop",
                            "message": {"role": "assistant", "content": text},
                        }
                    ],
                    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                }
            )

        super().__init__(
            Starlette(routes=[Route("/v1/chat/completions", completions, methods=["POST"])])
        )

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"
