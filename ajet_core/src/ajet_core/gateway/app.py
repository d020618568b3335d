"""The Starlette app: ``POST /v1/chat/completions``, ``POST /v1/responses`` (OpenAI Responses),
``POST /v1/messages`` (Anthropic Messages), ``GET /v1/models``, ``GET /health`` and
``GET /ajet/stats`` (run counters and the gateway's own per-call overhead percentiles).

Bodies are read up to ``rollout.gateway.max_request_bytes`` (413 beyond), parsed off the loop
when large, and checked for what parses as JSON but cannot be served (deep nesting, lone
surrogates) before any adapter sees them.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from ajet_core.gateway.completion import HEAVY_REQUEST_CHARS
from ajet_core.gateway.errors import GatewayError, bad_request
from ajet_core.gateway.messages_api import anthropic_error
from ajet_core.gateway.request import check_json_body, json_body_needs_check

if TYPE_CHECKING:  # pragma: no cover
    from ajet_core.gateway.faces import AppGateway


def request_api_key(request: Request) -> str | None:
    """The key a client sent, in whichever header its SDK uses."""
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    # Azure-style clients send api-key, Anthropic's send x-api-key.
    return request.headers.get("api-key") or request.headers.get("x-api-key") or None


def _error(exc: GatewayError) -> JSONResponse:
    return JSONResponse(exc.body(), status_code=exc.status)


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def read_body(request: Request, limit: int) -> Any:
    """The JSON body, at most ``limit`` bytes; large bodies are parsed on a worker thread."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(int(declared), limit)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(size, limit)
        chunks.append(chunk)
    raw = b"".join(chunks)
    if len(raw) > HEAVY_REQUEST_CHARS:
        return await asyncio.to_thread(_parse_json, raw)
    return _parse_json(raw)


def _parse_json(raw: bytes) -> Any:
    try:
        body = json.loads(raw)
    except RecursionError:
        raise bad_request(
            "the request body nests too deeply to parse; flatten the structure",
            code="json_too_deep",
        ) from None
    except ValueError as exc:
        raise bad_request(f"the request body is not valid JSON: {exc}") from None
    if json_body_needs_check(raw):
        check_json_body(body)
    return body


def _too_large(size: int, limit: int) -> GatewayError:
    return GatewayError(
        413,
        f"the request body is {size} bytes or more, over the gateway's limit of {limit} bytes "
        "(rollout.gateway.max_request_bytes); shorten the conversation or raise the limit",
        code="request_too_large",
    )


def build_app(gateway: AppGateway, extra_routes: Sequence[Any] = ()) -> Starlette:
    settings = gateway.config.rollout.gateway

    def endpoint(create: Any, error_body: Any = None) -> Any:
        """One protocol's route: key, body, adapter; errors in that protocol's shape."""

        async def handle(request: Request) -> Response:
            try:
                binding = gateway.authorize(request_api_key(request))
                body = await read_body(request, settings.max_request_bytes)
                result = await create(binding, body)
            except GatewayError as exc:
                payload = error_body(exc) if error_body is not None else exc.body()
                return JSONResponse(payload, status_code=exc.status)
            if isinstance(result, dict):
                return JSONResponse(result)
            return StreamingResponse(
                result, media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
            )

        return handle

    async def models(request: Request) -> Response:
        try:
            gateway.authorize(request_api_key(request))
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
        try:
            gateway.authorize_stats(request_api_key(request))
        except GatewayError as exc:
            return _error(exc)
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
                    "POST /v1/chat/completions, POST /v1/responses, POST /v1/messages, "
                    "GET /v1/models and GET /health",
                    "type": "invalid_request_error",
                    "param": None,
                    "code": "not_found",
                }
            },
            status_code=getattr(exc, "status_code", 404),
        )

    return Starlette(
        routes=[
            Route("/v1/chat/completions", endpoint(gateway.chat.create), methods=["POST"]),
            Route("/v1/responses", endpoint(gateway.responses.create), methods=["POST"]),
            Route(
                "/v1/messages",
                endpoint(gateway.messages.create, anthropic_error),
                methods=["POST"],
            ),
            Route("/v1/models", models, methods=["GET"]),
            Route("/health", health, methods=["GET"]),
            Route("/ajet/stats", stats, methods=["GET"]),
            *extra_routes,
        ],
        exception_handlers={404: not_found, 405: not_found},
    )


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 4)
