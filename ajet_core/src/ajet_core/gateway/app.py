"""The Starlette app: ``POST /v1/chat/completions``, ``GET /v1/models``, ``GET /health`` and
``GET /ajet/stats`` (run counters and the gateway's own per-call overhead percentiles)."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from ajet_core.gateway.errors import GatewayError, bad_request

if TYPE_CHECKING:  # pragma: no cover
    from ajet_core.gateway.core import Gateway


def _api_key(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return request.headers.get("api-key") or None  # Azure-style clients


def _error(exc: GatewayError) -> JSONResponse:
    return JSONResponse(exc.body(), status_code=exc.status)


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def build_app(gateway: Gateway) -> Starlette:
    async def chat_completions(request: Request) -> Response:
        try:
            binding = gateway.authorize(_api_key(request))
            raw = await request.body()
            # The gateway's own time starts here: reading the body is the transport's.
            started = time.perf_counter()
            try:
                body = json.loads(raw)
            except ValueError as exc:
                raise bad_request(f"the request body is not valid JSON: {exc}") from None
            result = await gateway.complete(binding, body, started=started)
        except GatewayError as exc:
            return _error(exc)
        if isinstance(result, dict):
            return JSONResponse(result)
        return StreamingResponse(
            result, media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
        )

    async def models(request: Request) -> Response:
        try:
            gateway.authorize(_api_key(request))
        except GatewayError as exc:
            return _error(exc)
        return JSONResponse(
            {
                "object": "list",
                "data": [
                    {"id": gateway.model_name, "object": "model", "created": 0, "owned_by": "ajet"}
                ],
            }
        )

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def stats(request: Request) -> Response:
        overheads = list(gateway.stats.overheads)
        if request.query_params.get("reset"):
            gateway.stats.overheads.clear()
        body: dict[str, Any] = gateway.stats_json()
        body["overhead_ms"] = {
            "count": len(overheads),
            "p50": _ms(percentile(overheads, 0.5)),
            "p99": _ms(percentile(overheads, 0.99)),
        }
        return JSONResponse(body)

    async def not_found(request: Request, exc: Exception) -> Response:
        return JSONResponse(
            {
                "error": {
                    "message": f"no route {request.method} {request.url.path}; the gateway serves "
                    "POST /v1/chat/completions, GET /v1/models and GET /health",
                    "type": "invalid_request_error",
                    "param": None,
                    "code": "not_found",
                }
            },
            status_code=getattr(exc, "status_code", 404),
        )

    return Starlette(
        routes=[
            Route("/v1/chat/completions", chat_completions, methods=["POST"]),
            Route("/v1/models", models, methods=["GET"]),
            Route("/health", health, methods=["GET"]),
            Route("/ajet/stats", stats, methods=["GET"]),
        ],
        exception_handlers={404: not_found, 405: not_found},
    )


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 4)
