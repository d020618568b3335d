"""Server-sent events for ``stream=True``, shaped like OpenAI's chunks.

The first chunk (the assistant role) goes out before generation starts. With an engine that has
``generate_stream`` the text follows token by token; text that may open a tool call or a stop
string is held back until it is known not to be one, so the streamed content is always a prefix
of the final content. Tool calls are sent at the end as deltas: one with the id and name, one
with the arguments.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from ajet_core.engine import ContextLengthExceeded, EngineError
from ajet_core.gateway.errors import GatewayError

if TYPE_CHECKING:  # pragma: no cover
    from ajet_core.gateway.core import ClientBinding, Gateway, _Prepared
    from ajet_core.gateway.request import ChatRequest


def _held_back(text: str, markers: list[str]) -> str:
    """Drop a trailing piece of ``text`` that could be the start of one of ``markers``."""
    cut = len(text)
    for marker in markers:
        if not marker:
            continue
        at = text.find(marker)
        if at >= 0:
            cut = min(cut, at)
            continue
        for size in range(min(len(marker) - 1, len(text)), 0, -1):
            if text.endswith(marker[:size]):
                cut = min(cut, len(text) - size)
                break
    return text[:cut]


async def stream_completion(
    gateway: Gateway, binding: ClientBinding, request: ChatRequest, prepared: _Prepared
) -> AsyncIterator[bytes]:
    from ajet_core.gateway.core import new_call_id, sse

    call_id = new_call_id()
    created = int(time.time())
    model = request.model or gateway.model_name

    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        return sse(
            {
                "id": call_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [
                    {"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}
                ],
            }
        )

    yield chunk({"role": "assistant", "content": ""})
    markers = list(request.stop)
    if request.parse_tools and gateway.tool_parser.start_marker:
        markers.append(gateway.tool_parser.start_marker)
    ids: list[int] = []
    logprobs: list[float] = []
    finish_reason, matched_stop, weight_version = "length", None, None
    emitted = ""
    engine = gateway.engine
    try:
        if hasattr(engine, "generate_stream"):
            async for piece in engine.generate_stream(prepared.engine_prompt, prepared.sampling):
                ids.extend(piece.token_ids)
                logprobs.extend(piece.logprobs)
                if piece.finish_reason is not None:
                    finish_reason, matched_stop = piece.finish_reason, piece.matched_stop
                    continue
                text = gateway._reply_text(prepared.forced_ids + ids, "length", None).rstrip(
                    "\ufffd"
                )
                visible = _held_back(text, markers)
                if len(visible) > len(emitted) and visible.startswith(emitted):
                    yield chunk({"content": visible[len(emitted) :]})
                    emitted = visible
        else:
            generation = await engine.generate(prepared.engine_prompt, prepared.sampling)
            ids, logprobs = generation.token_ids, generation.logprobs
            finish_reason, matched_stop = generation.finish_reason, generation.matched_stop
            weight_version = generation.weight_version
        call = gateway._finish(
            binding,
            request,
            prepared,
            ids,
            logprobs,
            finish_reason,
            matched_stop,
            call_id=call_id,
            weight_version=weight_version,
        )
    except Exception as exc:  # noqa: BLE001 - headers are sent: report the error in-band
        if isinstance(exc, GatewayError):
            error = exc
        elif isinstance(exc, ContextLengthExceeded):
            from ajet_core.gateway.core import context_length_error

            error = context_length_error(exc.prompt_tokens, exc.max_model_len)
        elif isinstance(exc, EngineError):
            error = GatewayError(
                503, f"the policy engine failed: {exc}", type="server_error", code="engine_error"
            )
        else:
            error = GatewayError(
                500, f"internal gateway error: {type(exc).__name__}: {exc}", type="server_error"
            )
        gateway._note_error(binding, error)
        yield sse(error.body())
        yield b"data: [DONE]\n\n"
        return
    reply = call.reply or {}
    content = reply.get("content") or ""
    if len(content) > len(emitted) and content.startswith(emitted):
        yield chunk({"content": content[len(emitted) :]})
    for index, tool_call in enumerate(reply.get("tool_calls") or []):
        function = tool_call["function"]
        yield chunk(
            {
                "tool_calls": [
                    {
                        "index": index,
                        "id": tool_call["id"],
                        "type": "function",
                        "function": {"name": function["name"], "arguments": ""},
                    }
                ]
            }
        )
        yield chunk(
            {"tool_calls": [{"index": index, "function": {"arguments": function["arguments"]}}]}
        )
    yield chunk({}, call.finish_reason)
    if request.include_usage:
        sampled = sum(call.response_mask or [])
        yield sse(
            {
                "id": call_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [],
                "usage": {
                    "prompt_tokens": len(call.prompt_ids),
                    "completion_tokens": sampled,
                    "total_tokens": len(call.prompt_ids) + sampled,
                },
            }
        )
    yield b"data: [DONE]\n\n"
