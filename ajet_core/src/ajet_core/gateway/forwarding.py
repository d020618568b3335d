"""Calls of non-trained agents that are configured to use a fixed external model.

The request goes to the endpoint's ``/chat/completions`` (non-streaming; a streaming client gets
the reply as chunks), the call is recorded with ``trainable=False`` and no token ids (the viewer
shows its messages and reply), and the reply is returned as the endpoint sent it.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from ajet_core.gateway.errors import GatewayError
from ajet_core.schema import LlmCall

if TYPE_CHECKING:  # pragma: no cover
    from ajet_core.gateway.core import ClientBinding, Gateway
    from ajet_core.gateway.request import ChatRequest


async def forward_to_fixed_endpoint(
    gateway: Gateway, binding: ClientBinding, request: ChatRequest, body: dict[str, Any]
) -> dict[str, Any] | AsyncIterator[bytes]:
    import httpx

    endpoint = binding.fixed_endpoint
    assert endpoint is not None
    if gateway._forward_client is None:
        gateway._forward_client = httpx.AsyncClient(timeout=httpx.Timeout(600.0, connect=10.0))
    payload = {k: v for k, v in body.items() if k not in ("stream", "stream_options")}
    payload["model"] = endpoint.model
    started = time.perf_counter()
    url = endpoint.base_url.rstrip("/") + "/chat/completions"
    try:
        response = await gateway._forward_client.post(
            url, json=payload, headers={"Authorization": f"Bearer {endpoint.api_key}"}
        )
    except httpx.HTTPError as exc:
        raise GatewayError(
            502,
            f"fixed endpoint {binding.fixed_endpoint_name!r} at {url} is unreachable: {exc}",
            type="server_error",
            code="fixed_endpoint_error",
        ) from exc
    if response.status_code != 200:
        raise GatewayError(
            502,
            f"fixed endpoint {binding.fixed_endpoint_name!r} answered {response.status_code}: "
            f"{response.text[:300]}",
            type="server_error",
            code="fixed_endpoint_error",
        )
    completion = response.json()
    choice = (completion.get("choices") or [{}])[0]
    call = LlmCall(
        call_id=completion.get("id") or "fixed",
        agent=binding.agent_name,
        target_tag=binding.target_tag,
        trainable=False,
        prompt_ids=[],
        response_ids=[],
        response_logprobs=[],
        temperature=float(body.get("temperature") if body.get("temperature") is not None else 1.0),
        finish_reason=choice.get("finish_reason") or "stop",
        messages=request.messages,
        tools=request.tools,
        latency=time.perf_counter() - started,
        reply=choice.get("message"),
        fixed_endpoint=binding.fixed_endpoint_name,
    )
    if not binding.session.closed:
        binding.session.calls.append(call)
    gateway.stats.calls += 1
    if not request.stream:
        return completion
    return _as_stream(completion)


async def _as_stream(completion: dict[str, Any]) -> AsyncIterator[bytes]:
    from ajet_core.gateway.core import sse

    choice = (completion.get("choices") or [{}])[0]
    message = choice.get("message") or {}
    base = {k: completion.get(k) for k in ("id", "created", "model")} | {
        "object": "chat.completion.chunk"
    }
    delta: dict[str, Any] = {"role": "assistant", "content": message.get("content") or ""}
    if message.get("tool_calls"):
        delta["tool_calls"] = [dict(call, index=i) for i, call in enumerate(message["tool_calls"])]
    yield sse(base | {"choices": [{"index": 0, "delta": delta, "finish_reason": None}]})
    yield sse(
        base
        | {
            "choices": [
                {"index": 0, "delta": {}, "finish_reason": choice.get("finish_reason") or "stop"}
            ]
        }
    )
    yield b"data: [DONE]\n\n"
