"""``POST /v1/responses``: OpenAI's Responses API over the completion pipeline.

The request's ``instructions`` and ``input`` items become chat messages (a system message; user,
assistant and developer messages; ``function_call`` items joined into the assistant turn they
belong to; ``function_call_output`` items as tool messages), function tools become chat tools,
and the pipeline serves it like any chat completion: the same rendering with token reuse, the
same recording and drift counters. The reply becomes output items: a ``message`` with one
``output_text`` part, then a ``function_call`` item per tool call, whose ``call_id`` is the
gateway-issued tool-call id (so the next turn's prompt reuses the sampled tokens).

``store`` (default true) keeps the response's conversation on its episode, so a later request
of the same episode may continue it with ``previous_response_id``; nothing outlives the episode,
and a request with ``store: false`` (or ``ajet serve``, which has no episodes) keeps nothing. As
in OpenAI's API, ``instructions`` are not carried over to the next response.

Streaming sends the Responses events (``response.created``, ``response.output_item.added``,
``response.output_text.delta``, ``response.function_call_arguments.delta``, ...,
``response.completed``); an error after the headers are sent is an ``error`` event.

Honoured: input, instructions, tools (type function), tool_choice, parallel_tool_calls,
temperature, top_p, max_output_tokens, stream, store, previous_response_id, text.format
(structured output, as chat's response_format). Accepted and ignored: metadata, user, reasoning,
include, truncation, service_tier, prompt_cache_key and other keys. Refused with 400: built-in
tools (web search, file search, computer use), image/file inputs.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from ajet_core.gateway.completion import Completion, CompletionPipeline, TextDelta
from ajet_core.gateway.errors import GatewayError, bad_request
from ajet_core.gateway.protocol import new_id, sse
from ajet_core.gateway.request import ChatRequest, parse_chat_request

if TYPE_CHECKING:  # pragma: no cover
    from ajet_core.gateway.episode import ClientBinding
    from ajet_core.schema import LlmCall

TEXT_PARTS = ("input_text", "output_text", "text")


class ResponsesAPI:
    def __init__(self, pipeline: CompletionPipeline) -> None:
        self.pipeline = pipeline

    async def create(
        self, binding: ClientBinding, body: Any
    ) -> dict[str, Any] | AsyncIterator[bytes]:
        try:
            request, echo = self._translate(binding, body)
        except GatewayError as exc:
            raise self.pipeline.failed(binding, exc) from None
        response_id = new_id("resp")
        if request.stream:
            return self._stream(binding, request, echo, response_id)
        completion = await self.pipeline.complete(binding, request, call_id=response_id)
        call = completion.calls[0]
        self._store(binding, echo, call, response_id)
        return self.response(call, echo, response_id, self.output_items(call))

    # -------------------------------------------------------------------------- requests

    def _translate(self, binding: ClientBinding, body: Any) -> tuple[ChatRequest, dict[str, Any]]:
        if not isinstance(body, dict):
            raise bad_request("the request body must be a JSON object")
        history: list[dict[str, Any]] = []
        previous = body.get("previous_response_id")
        if previous is not None:
            stored = binding.session.responses.get(previous) if isinstance(previous, str) else None
            if stored is None:
                raise bad_request(
                    f"previous_response_id {previous!r} is not a stored response of this "
                    "episode (responses are kept per episode, and only with store: true; "
                    "`ajet serve` keeps none): send the whole conversation as input instead",
                    "previous_response_id",
                    code="previous_response_not_found",
                )
            history = list(stored)
        new_messages = input_messages(body.get("input"))
        instructions = body.get("instructions")
        if instructions is not None and not isinstance(instructions, str):
            raise bad_request("'instructions' must be a string", "instructions")
        system = [{"role": "system", "content": instructions}] if instructions else []
        chat: dict[str, Any] = {
            "model": body.get("model"),
            "messages": system + history + new_messages,
            "stream": body.get("stream", False),
        }
        for key in ("temperature", "top_p", "parallel_tool_calls", "seed"):
            if body.get(key) is not None:
                chat[key] = body[key]
        if body.get("max_output_tokens") is not None:
            chat["max_tokens"] = body["max_output_tokens"]
            if not isinstance(body["max_output_tokens"], int) or body["max_output_tokens"] < 1:
                raise bad_request(
                    "'max_output_tokens' must be a positive integer", "max_output_tokens"
                )
        tools = chat_tools(body.get("tools"))
        if tools:
            chat["tools"] = tools
        if body.get("tool_choice") is not None:
            chat["tool_choice"] = chat_tool_choice(body["tool_choice"])
        text_format = (
            (body.get("text") or {}).get("format") if isinstance(body.get("text"), dict) else None
        )
        if text_format is not None:
            chat["response_format"] = chat_response_format(text_format)
        store = body.get("store", True)
        if not isinstance(store, bool):
            raise bad_request(f"'store' must be a boolean, got {store!r}", "store")
        request = parse_chat_request(chat)
        echo = {
            "model": request.model or self.pipeline.model_name,
            "instructions": instructions,
            "previous_response_id": previous,
            "store": store,
            "tools": body.get("tools") or [],
            "tool_choice": body.get("tool_choice", "auto"),
            "parallel_tool_calls": request.parallel_tool_calls,
            "temperature": request.temperature,
            "top_p": request.top_p,
            "max_output_tokens": request.max_tokens,
            "text": {"format": text_format or {"type": "text"}},
            "metadata": body.get("metadata") or {},
            # The conversation to store: what came before, this input, then the reply.
            "conversation": history + new_messages,
        }
        return request, echo

    def _store(self, binding: ClientBinding, echo: dict[str, Any], call: LlmCall, rid: str) -> None:
        if echo["store"] and not binding.session.closed and call.reply is not None:
            binding.session.responses[rid] = echo["conversation"] + [call.reply]

    # ----------------------------------------------------------------------------- shapes

    def output_items(self, call: LlmCall) -> list[dict[str, Any]]:
        reply = call.reply or {}
        items: list[dict[str, Any]] = []
        if reply.get("content") or not reply.get("tool_calls"):
            items.append(message_item(new_id("msg"), reply.get("content") or ""))
        for tool_call in reply.get("tool_calls") or []:
            items.append(function_call_item(new_id("fc"), tool_call))
        return items

    def response(
        self,
        call: LlmCall | None,
        echo: dict[str, Any],
        response_id: str,
        output: list[dict[str, Any]],
        status: str | None = None,
    ) -> dict[str, Any]:
        incomplete = call is not None and call.finish_reason == "length"
        if status is None:
            status = "incomplete" if incomplete else "completed"
        body: dict[str, Any] = {
            "id": response_id,
            "object": "response",
            "created_at": int(call.started_at) if call is not None else int(time.time()),
            "status": status,
            "error": None,
            "incomplete_details": {"reason": "max_output_tokens"} if incomplete else None,
            "output": output,
            "usage": None,
        }
        body.update({k: v for k, v in echo.items() if k != "conversation"})
        body["truncation"] = "disabled"
        if call is not None:
            sampled = sum(call.response_mask or [])
            body["usage"] = {
                "input_tokens": len(call.prompt_ids),
                "input_tokens_details": {"cached_tokens": 0},
                "output_tokens": sampled,
                "output_tokens_details": {"reasoning_tokens": 0},
                "total_tokens": len(call.prompt_ids) + sampled,
            }
        return body

    # -------------------------------------------------------------------------- streaming

    async def _stream(
        self, binding: ClientBinding, request: ChatRequest, echo: dict[str, Any], rid: str
    ) -> AsyncIterator[bytes]:
        sequence = 0

        def event(kind: str, **fields: Any) -> bytes:
            nonlocal sequence
            sequence += 1
            return sse({"type": kind, "sequence_number": sequence - 1, **fields}, event=kind)

        message_id, streamed = new_id("msg"), ""

        def open_message() -> list[bytes]:
            """The events that open the reply's message item and its one text part: before the
            first text delta, or before the final text when nothing was streamed."""
            return [
                event(
                    "response.output_item.added",
                    output_index=0,
                    item=message_item(message_id, "", status="in_progress", parts=False),
                ),
                event(
                    "response.content_part.added",
                    item_id=message_id,
                    output_index=0,
                    content_index=0,
                    part=text_part(""),
                ),
            ]

        shell = self.response(None, echo, rid, [], status="in_progress")
        yield event("response.created", response=shell)
        yield event("response.in_progress", response=shell)
        completion: Completion | None = None
        try:
            async for piece in self.pipeline.stream(binding, request, call_id=rid):
                if isinstance(piece, TextDelta):
                    if not streamed:
                        for opening in open_message():
                            yield opening
                    streamed += piece.text
                    yield event(
                        "response.output_text.delta",
                        item_id=message_id,
                        output_index=0,
                        content_index=0,
                        delta=piece.text,
                        logprobs=[],
                    )
                else:
                    completion = piece
        except GatewayError as error:  # headers are sent: report the error in-band
            yield event("error", code=error.code, message=error.message, param=error.param)
            return
        assert completion is not None
        call = completion.calls[0]
        self._store(binding, echo, call, rid)
        reply = call.reply or {}
        content = reply.get("content") or ""
        output: list[dict[str, Any]] = []
        if streamed or content or not reply.get("tool_calls"):
            if not streamed:
                for opening in open_message():
                    yield opening
            if len(content) > len(streamed) and content.startswith(streamed):
                yield event(
                    "response.output_text.delta",
                    item_id=message_id,
                    output_index=0,
                    content_index=0,
                    delta=content[len(streamed) :],
                    logprobs=[],
                )
            yield event(
                "response.output_text.done",
                item_id=message_id,
                output_index=0,
                content_index=0,
                text=content,
                logprobs=[],
            )
            yield event(
                "response.content_part.done",
                item_id=message_id,
                output_index=0,
                content_index=0,
                part=text_part(content),
            )
            item = message_item(message_id, content)
            output.append(item)
            yield event("response.output_item.done", output_index=0, item=item)
        for tool_call in reply.get("tool_calls") or []:
            index = len(output)
            item = function_call_item(new_id("fc"), tool_call)
            yield event(
                "response.output_item.added",
                output_index=index,
                item=item | {"arguments": "", "status": "in_progress"},
            )
            yield event(
                "response.function_call_arguments.delta",
                item_id=item["id"],
                output_index=index,
                delta=item["arguments"],
            )
            yield event(
                "response.function_call_arguments.done",
                item_id=item["id"],
                output_index=index,
                arguments=item["arguments"],
            )
            output.append(item)
            yield event("response.output_item.done", output_index=index, item=item)
        final = self.response(call, echo, rid, output)
        done = "response.incomplete" if final["status"] == "incomplete" else "response.completed"
        yield event(done, response=final)


# ------------------------------------------------------------------------------ translation


def _text(content: Any, where: str) -> str:
    """The text of a Responses content value: a string or a list of text parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise bad_request(f"{where} must be a string or a list of content parts", where)
    texts = []
    for index, part in enumerate(content):
        at = f"{where}[{index}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in TEXT_PARTS and isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif kind == "refusal" and isinstance(part.get("refusal"), str):
            texts.append(part["refusal"])
        else:
            raise bad_request(
                f"{at} has type {kind!r}; this model takes only text parts "
                f"({', '.join(TEXT_PARTS)})",
                f"{at}.type",
            )
    return "".join(texts)


def input_messages(value: Any) -> list[dict[str, Any]]:
    """Responses ``input`` as chat messages (function calls joined into their assistant turn)."""
    if isinstance(value, str):
        return [{"role": "user", "content": value}]
    if not isinstance(value, list) or not value:
        raise bad_request("'input' must be a string or a non-empty list of input items", "input")
    messages: list[dict[str, Any]] = []
    for index, item in enumerate(value):
        where = f"input[{index}]"
        if not isinstance(item, dict):
            raise bad_request(f"{where} must be an object", where)
        kind = item.get("type", "message")
        if kind == "message":
            role = item.get("role")
            if role not in ("user", "assistant", "system", "developer"):
                raise bad_request(
                    f"{where}.role is {role!r}; expected user, assistant, system or developer",
                    f"{where}.role",
                )
            messages.append(
                {"role": role, "content": _text(item.get("content"), f"{where}.content")}
            )
        elif kind == "function_call":
            for key in ("call_id", "name", "arguments"):
                if not isinstance(item.get(key), str):
                    raise bad_request(f"{where}.{key} must be a string", f"{where}.{key}")
            call = {
                "id": item["call_id"],
                "type": "function",
                "function": {"name": item["name"], "arguments": item["arguments"]},
            }
            last = messages[-1] if messages else None
            if last is not None and last["role"] == "assistant":
                last.setdefault("tool_calls", []).append(call)
            else:
                messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind == "function_call_output":
            if not isinstance(item.get("call_id"), str):
                raise bad_request(f"{where}.call_id must be a string", f"{where}.call_id")
            output = item.get("output")
            text = output if isinstance(output, str) else _text(output, f"{where}.output")
            messages.append({"role": "tool", "tool_call_id": item["call_id"], "content": text})
        elif kind == "reasoning":
            continue  # the policy's own reasoning is inside its message text
        else:
            raise bad_request(
                f"{where}.type is {kind!r}; the gateway takes message, function_call, "
                "function_call_output and reasoning items",
                f"{where}.type",
            )
    return messages


def chat_tools(value: Any) -> list[dict[str, Any]] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise bad_request("'tools' must be a list of function tools", "tools")
    tools = []
    for index, tool in enumerate(value):
        where = f"tools[{index}]"
        kind = tool.get("type") if isinstance(tool, dict) else None
        if kind != "function":
            raise bad_request(
                f"{where}.type is {kind!r}; the gateway serves function tools only (built-in "
                "tools such as web search need OpenAI's servers)",
                f"{where}.type",
            )
        function = {"name": tool.get("name")}
        if tool.get("description") is not None:
            function["description"] = tool["description"]
        if tool.get("parameters") is not None:
            function["parameters"] = tool["parameters"]
        if tool.get("strict") is not None:
            function["strict"] = tool["strict"]
        tools.append({"type": "function", "function": function})
    return tools


def chat_tool_choice(value: Any) -> Any:
    if value in ("auto", "none", "required"):
        return value
    if isinstance(value, dict) and value.get("type") == "function":
        return {"type": "function", "function": {"name": value.get("name")}}
    raise bad_request(
        "'tool_choice' must be 'auto', 'none', 'required' or {'type': 'function', 'name': ...}",
        "tool_choice",
    )


def chat_response_format(text_format: Any) -> dict[str, Any]:
    """Responses ``text.format`` as chat's ``response_format``."""
    if not isinstance(text_format, dict):
        raise bad_request("'text.format' must be an object", "text.format")
    if text_format.get("type") == "json_schema":
        schema = {k: text_format.get(k) for k in ("name", "schema", "strict", "description")}
        return {
            "type": "json_schema",
            "json_schema": {k: v for k, v in schema.items() if v is not None},
        }
    return text_format


def text_part(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def message_item(
    item_id: str, text: str, *, status: str = "completed", parts: bool = True
) -> dict[str, Any]:
    return {
        "type": "message",
        "id": item_id,
        "status": status,
        "role": "assistant",
        "content": [text_part(text)] if parts else [],
    }


def function_call_item(item_id: str, tool_call: dict[str, Any]) -> dict[str, Any]:
    function = tool_call["function"]
    arguments = function["arguments"]
    return {
        "type": "function_call",
        "id": item_id,
        "call_id": tool_call["id"],
        "name": function["name"],
        "arguments": arguments if isinstance(arguments, str) else json.dumps(arguments),
        "status": "completed",
    }
