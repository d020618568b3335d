"""In-process transports: clients reach the gateway's app with no socket.

Both run the ASGI app on the gateway's loop thread, whatever loop or thread the client is on:

- :class:`InProcessTransport` for ``httpx.AsyncClient`` (the tuner's ``openai.AsyncOpenAI``);
- :class:`InProcessSyncTransport` for ``httpx.Client`` (``openai.OpenAI``, LangChain's
  ``invoke``): it blocks its caller, never the gateway, so it works even on the workflow's
  own event loop thread.

Responses are complete when they are returned (httpx's ASGI transport collects the body), so a
streamed reply arrives all at once in-process; over HTTP it streams.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx

if TYPE_CHECKING:  # pragma: no cover
    from ajet_core.gateway.faces import InProcessGateway


class InProcessTransport(httpx.AsyncBaseTransport):
    def __init__(self, gateway: InProcessGateway) -> None:
        self._gateway = gateway
        self._asgi = httpx.ASGITransport(app=gateway.app)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await request.aread()  # the body crosses threads as bytes
        return await self._gateway.run_on_loop(self._asgi.handle_async_request(request))


class InProcessSyncTransport(httpx.BaseTransport):
    def __init__(self, gateway: InProcessGateway) -> None:
        self._gateway = gateway
        self._asgi = httpx.ASGITransport(app=gateway.app)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()
        response = self._gateway.loop.submit(_collect(self._asgi, request)).result()
        return response


async def _collect(asgi: httpx.ASGITransport, request: httpx.Request) -> httpx.Response:
    response = await asgi.handle_async_request(request)
    body = await response.aread()
    return httpx.Response(
        response.status_code, headers=response.headers, content=body, request=request
    )
