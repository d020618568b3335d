"""A synchronous httpx transport that sends requests through an async client on another loop.

LangChain's ``invoke`` / ``stream`` are synchronous and need an ``httpx.Client``. When the
gateway is in-process (no socket), the only way in is the async ASGI transport, which runs on the
gateway's event loop. This transport hands each request to that loop and waits for the answer, so
sync calls work from worker threads (``asyncio.to_thread``, LangChain's own executors).

Called on the gateway's loop itself, a blocking call could never be answered (the loop that must
serve it is the one waiting), so it fails at once with a message saying what to do instead.
"""

from __future__ import annotations

import asyncio

import httpx


class LoopBridgeTransport(httpx.BaseTransport):
    """``httpx.BaseTransport`` forwarding to ``async_client`` on ``loop``, buffering responses."""

    def __init__(self, async_client: httpx.AsyncClient, loop: asyncio.AbstractEventLoop) -> None:
        self._async_client = async_client
        self._loop = loop

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            raise RuntimeError(
                "a synchronous LangChain call (invoke/stream) was made on the event loop that "
                "serves the in-process AgentJet gateway, so it could never be answered; use "
                "`await model.ainvoke(...)` / `model.astream(...)`, or run the sync call in a "
                "thread with `await asyncio.to_thread(model.invoke, ...)`"
            )
        if self._loop.is_closed():
            raise RuntimeError(
                "the event loop of the in-process AgentJet gateway is closed; the episode this "
                "model belonged to has ended, ask the tuner for a new model"
            )
        body = request.read()
        future = asyncio.run_coroutine_threadsafe(self._send(request, body), self._loop)
        status, headers, content = future.result()
        return httpx.Response(status, headers=headers, content=content, request=request)

    async def _send(
        self, request: httpx.Request, body: bytes
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        forwarded = self._async_client.build_request(
            request.method, request.url, headers=request.headers, content=body
        )
        response = await self._async_client.send(forwarded)
        content = await response.aread()
        await response.aclose()
        # The body is already decoded by aread(): drop the encoding headers that described it.
        headers = [
            (k, v)
            for k, v in response.headers.raw
            if k.lower() not in (b"content-encoding", b"content-length", b"transfer-encoding")
        ]
        return response.status_code, headers, content
