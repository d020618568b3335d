"""``POST /v1/messages``: Anthropic's Messages API over the completion pipeline.

``system`` and ``messages`` become chat messages: ``text`` blocks are content, an assistant's
``tool_use`` blocks are its tool calls (``input`` as the arguments), a user's ``tool_result``
blocks are tool messages (in order, before the rest of that user turn). Tools
(``input_schema``) become chat tools and ``tool_choice`` maps to chat's (``any`` = required,
``tool`` = a named function, ``disable_parallel_tool_use`` = ``parallel_tool_calls: false``).
The reply becomes a ``text`` block and one ``tool_use`` block per call, whose ``id`` is the
gateway-issued tool-call id, so the next turn reuses the sampled tokens exactly as chat does.

Streaming sends Anthropic's events (``message_start``, ``content_block_start``/``delta``/``stop``
with ``text_delta`` and ``input_json_delta``, ``message_delta``, ``message_stop``); errors use
Anthropic's shape, ``{"type": "error", "error": {"type", "message"}}``, in-band as an ``error``
event once the stream has begun.

Honoured: system, messages, max_tokens (required, as in Anthropic's API), tools, tool_choice,
temperature, top_p, stop_sequences, stream. Ignored: metadata, top_k (the run's sampling holds),
thinking, service_tier. Refused with 400: image and document blocks.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from ajet_core.gateway.completion import Completion, CompletionPipeline, TextDelta
from ajet_core.gateway.errors import GatewayError, bad_request
from ajet_core.gateway.protocol import new_id, sse
from ajet_core.gateway.request import ChatRequest, parse_chat_request

if TYPE_CHECKING:  # pragma: no cover
    from ajet_core.gateway.episode import ClientBinding
    from ajet_core.schema import LlmCall

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    503: "overloaded_error",
}


def anthropic_error(error: GatewayError) -> dict[str, Any]:
    kind = ERROR_TYPES.get(error.status, "api_error")
    return {"type": "error", "error": {"type": kind, "message": error.message}}


class MessagesAPI:
    def __init__(self, pipeline: CompletionPipeline) -> None:
        self.pipeline = pipeline

    async def create(
        self, binding: ClientBinding, body: Any
    ) -> dict[str, Any] | AsyncIterator[bytes]:
        try:
            request = parse_chat_request(chat_body(body))
        except GatewayError as exc:
            raise self.pipeline.failed(binding, exc) from None
        message_id = new_id("msg")
        if request.stream:
            return self._stream(binding, request, message_id)
        completion = await self.pipeline.complete(binding, request, call_id=message_id)
        return self.message(completion.calls[0], request, message_id)

    # ----------------------------------------------------------------------------- shapes

    def message(self, call: LlmCall, request: ChatRequest, message_id: str) -> dict[str, Any]:
        stop_reason, stop_sequence = self.stop_reason(call, request)
        return {
            "id": message_id,
            "type": "message",
            "role": "assistant",
            "model": request.model or self.pipeline.model_name,
            "content": content_blocks(call.reply or {}),
            "stop_reason": stop_reason,
            "stop_sequence": stop_sequence,
            "usage": self.usage(call),
        }

    @staticmethod
    def usage(call: LlmCall | None) -> dict[str, int]:
        return {
            "input_tokens": len(call.prompt_ids) if call else 0,
            "output_tokens": sum(call.response_mask or []) if call else 0,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        }

    def stop_reason(self, call: LlmCall, request: ChatRequest) -> tuple[str, str | None]:
        if call.finish_reason == "tool_calls":
            return "tool_use", None
        if call.finish_reason == "length":
            return "max_tokens", None
        text = self.pipeline.renderer.tokenizer.decode(  # type: ignore[union-attr]
            [t for t, m in zip(call.response_ids, call.response_mask or []) if m]
        )
        matched = next((stop for stop in request.stop if stop in text), None)
        return ("stop_sequence", matched) if matched else ("end_turn", None)

    # -------------------------------------------------------------------------- streaming

    async def _stream(
        self, binding: ClientBinding, request: ChatRequest, message_id: str
    ) -> AsyncIterator[bytes]:
        def event(kind: str, **fields: Any) -> bytes:
            return sse({"type": kind, **fields}, event=kind)

        shell = {
            "id": message_id,
            "type": "message",
            "role": "assistant",
            "model": request.model or self.pipeline.model_name,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": self.usage(None),
        }
        yield event("message_start", message=shell)
        streamed, completion = "", None
        text_open = False
        try:
            async for piece in self.pipeline.stream(binding, request, call_id=message_id):
                if isinstance(piece, TextDelta):
                    if not text_open:
                        text_open = True
                        yield event(
                            "content_block_start",
                            index=0,
                            content_block={"type": "text", "text": ""},
                        )
                    streamed += piece.text
                    delta = {"type": "text_delta", "text": piece.text}
                    yield event("content_block_delta", index=0, delta=delta)
                else:
                    completion = piece
        except GatewayError as error:  # the stream has begun: report the error in-band
            yield sse(anthropic_error(error), event="error")
            return
        assert isinstance(completion, Completion)
        call = completion.calls[0]
        blocks = content_blocks(call.reply or {})
        if text_open and blocks[0]["type"] != "text":
            blocks.insert(0, {"type": "text", "text": streamed})  # the text block already open
        index = 0
        for block in blocks:
            if block["type"] == "text":
                if not text_open:
                    yield event(
                        "content_block_start", index=index, content_block=block | {"text": ""}
                    )
                text = block["text"]
                if len(text) > len(streamed) and text.startswith(streamed):
                    delta = {"type": "text_delta", "text": text[len(streamed) :]}
                    yield event("content_block_delta", index=index, delta=delta)
            else:
                yield event("content_block_start", index=index, content_block=block | {"input": {}})
                partial = {"type": "input_json_delta", "partial_json": json.dumps(block["input"])}
                yield event("content_block_delta", index=index, delta=partial)
            yield event("content_block_stop", index=index)
            index += 1
        stop_reason, stop_sequence = self.stop_reason(call, request)
        yield event(
            "message_delta",
            delta={"stop_reason": stop_reason, "stop_sequence": stop_sequence},
            # The prompt's size is known only once it is rendered, after message_start.
            usage=self.usage(call),
        )
        yield event("message_stop")


# ------------------------------------------------------------------------------ translation


def content_blocks(reply: dict[str, Any]) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    if reply.get("content") or not reply.get("tool_calls"):
        blocks.append({"type": "text", "text": reply.get("content") or ""})
    for call in reply.get("tool_calls") or []:
        arguments = call["function"]["arguments"]
        try:
            parsed = json.loads(arguments) if isinstance(arguments, str) else arguments
        except ValueError:
            parsed = {}
        blocks.append(
            {
                "type": "tool_use",
                "id": call["id"],
                "name": call["function"]["name"],
                "input": parsed if isinstance(parsed, dict) else {},
            }
        )
    return blocks


def _block_text(content: Any, where: str) -> str:
    if isinstance(content, str):
        return content
    if content is None:
        return ""
    if not isinstance(content, list):
        raise bad_request(f"{where} must be a string or a list of text blocks", where)
    texts = []
    for index, block in enumerate(content):
        kind = block.get("type") if isinstance(block, dict) else None
        if kind != "text" or not isinstance(block.get("text"), str):
            raise bad_request(
                f"{where}[{index}] has type {kind!r}; this model takes only text blocks here",
                f"{where}[{index}].type",
            )
        texts.append(block["text"])
    return "".join(texts)


def _messages(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not value:
        raise bad_request("'messages' must be a non-empty list of messages", "messages")
    messages: list[dict[str, Any]] = []
    for index, message in enumerate(value):
        where = f"messages[{index}]"
        if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
            raise bad_request(f"{where}.role must be 'user' or 'assistant'", f"{where}.role")
        role, content = message["role"], message.get("content")
        if isinstance(content, str):
            messages.append({"role": role, "content": content})
            continue
        if not isinstance(content, list):
            raise bad_request(f"{where}.content must be a string or a list of blocks", where)
        texts, calls, results = [], [], []
        for position, block in enumerate(content):
            at = f"{where}.content[{position}]"
            kind = block.get("type") if isinstance(block, dict) else None
            if kind == "text" and isinstance(block.get("text"), str):
                texts.append(block["text"])
            elif kind == "tool_use" and role == "assistant":
                if not isinstance(block.get("id"), str) or not isinstance(block.get("name"), str):
                    raise bad_request(f"{at} needs a string 'id' and 'name'", at)
                arguments = json.dumps(block.get("input") or {}, ensure_ascii=False)
                calls.append(
                    {
                        "id": block["id"],
                        "type": "function",
                        "function": {"name": block["name"], "arguments": arguments},
                    }
                )
            elif kind == "tool_result" and role == "user":
                if not isinstance(block.get("tool_use_id"), str):
                    raise bad_request(f"{at}.tool_use_id must be a string", f"{at}.tool_use_id")
                text = _block_text(block.get("content"), f"{at}.content")
                results.append(
                    {"role": "tool", "tool_call_id": block["tool_use_id"], "content": text}
                )
            elif kind in ("thinking", "redacted_thinking"):
                continue  # the policy's own reasoning is inside its text
            else:
                raise bad_request(
                    f"{at} has type {kind!r}; the gateway takes text, tool_use (assistant) and "
                    "tool_result (user) blocks",
                    f"{at}.type",
                )
        messages.extend(results)
        if role == "assistant":
            item: dict[str, Any] = {"role": "assistant", "content": "".join(texts) or None}
            if calls:
                item["tool_calls"] = calls
            messages.append(item)
        elif texts or not results:
            messages.append({"role": "user", "content": "".join(texts)})
    return messages


def _tools(value: Any) -> list[dict[str, Any]] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise bad_request("'tools' must be a list of tools", "tools")
    tools = []
    for index, tool in enumerate(value):
        where = f"tools[{index}]"
        if not isinstance(tool, dict) or not isinstance(tool.get("name"), str):
            raise bad_request(f"{where}.name must be a string", f"{where}.name")
        if tool.get("type") not in (None, "custom"):
            raise bad_request(
                f"{where}.type is {tool['type']!r}; the gateway serves client tools only "
                "(server tools such as web search need Anthropic's servers)",
                f"{where}.type",
            )
        function = {"name": tool["name"], "parameters": tool.get("input_schema") or {}}
        if tool.get("description") is not None:
            function["description"] = tool["description"]
        tools.append({"type": "function", "function": function})
    return tools


def chat_body(body: Any) -> dict[str, Any]:
    """An Anthropic Messages request as a chat-completions body."""
    if not isinstance(body, dict):
        raise bad_request("the request body must be a JSON object")
    max_tokens = body.get("max_tokens")
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
        raise bad_request(
            f"'max_tokens' is required and must be a positive integer, got {max_tokens!r}",
            "max_tokens",
        )
    system = body.get("system")
    messages = _messages(body.get("messages"))
    if system:
        messages.insert(0, {"role": "system", "content": _block_text(system, "system")})
    chat: dict[str, Any] = {
        "model": body.get("model"),
        "messages": messages,
        "max_tokens": max_tokens,
        "stream": body.get("stream", False),
    }
    temperature = body.get("temperature")
    if temperature is not None:
        if isinstance(temperature, (int, float)) and not 0 <= temperature <= 1:
            raise bad_request(
                f"'temperature' must be from 0 to 1 in the Messages API, got {temperature}",
                "temperature",
            )
        chat["temperature"] = temperature
    if body.get("top_p") is not None:
        chat["top_p"] = body["top_p"]
    if body.get("stop_sequences") is not None:
        chat["stop"] = body["stop_sequences"]
    tools = _tools(body.get("tools"))
    if tools:
        chat["tools"] = tools
    choice = body.get("tool_choice")
    if choice is not None:
        if not isinstance(choice, dict) or choice.get("type") not in (
            "auto",
            "any",
            "tool",
            "none",
        ):
            raise bad_request(
                "'tool_choice' must be {'type': 'auto' | 'any' | 'tool' | 'none'}", "tool_choice"
            )
        kind = choice["type"]
        if kind == "tool":
            chat["tool_choice"] = {"type": "function", "function": {"name": choice.get("name")}}
        else:
            chat["tool_choice"] = {"auto": "auto", "any": "required", "none": "none"}[kind]
        if choice.get("disable_parallel_tool_use"):
            chat["parallel_tool_calls"] = False
    return chat
