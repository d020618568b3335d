"""``POST /v1/chat/completions``: OpenAI chat completions over the completion pipeline.

Streaming (``stream=True``) sends OpenAI's chunks: the assistant role before generation starts,
text as the engine decodes (held back where it may open a tool call or a stop string), tool calls
as deltas at the end (one with the id and name, one with the arguments), each choice's finish
reason, the usage chunk when ``stream_options.include_usage`` is set, then ``[DONE]``. An error
after the headers are sent arrives in-band as ``data: {"error": ...}`` followed by ``[DONE]``.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from ajet_core.gateway.completion import Completion, CompletionPipeline, TextDelta
from ajet_core.gateway.errors import GatewayError
from ajet_core.gateway.protocol import SSE_DONE, new_call_id, sse, usage
from ajet_core.gateway.request import ChatRequest, parse_chat_request

if TYPE_CHECKING:  # pragma: no cover
    from ajet_core.gateway.episode import ClientBinding
    from ajet_core.schema import LlmCall


class ChatCompletionsAPI:
    def __init__(self, pipeline: CompletionPipeline) -> None:
        self.pipeline = pipeline

    async def create(
        self, binding: ClientBinding, body: Any
    ) -> dict[str, Any] | AsyncIterator[bytes]:
        """A chat completion (a dict) or, for ``stream=True``, an async iterator of SSE bytes."""
        try:
            request = parse_chat_request(body)
        except GatewayError as exc:
            raise self.pipeline.failed(binding, exc) from None
        if request.stream:
            return self._stream(binding, request)
        completion = await self.pipeline.complete(binding, request)
        if completion.forwarded is not None:
            return completion.forwarded
        return self.body(completion)

    # ----------------------------------------------------------------------------- shapes

    def body(self, completion: Completion) -> dict[str, Any]:
        request, calls = completion.request, completion.calls
        first = calls[0]
        prompt_tokens = len(first.prompt_ids)
        sampled = sum(sum(call.response_mask or []) for call in calls)
        return {
            "id": first.call_id,
            "object": "chat.completion",
            "created": int(first.started_at),
            "model": request.model or self.pipeline.model_name,
            "choices": [
                {
                    "index": index,
                    "message": call.reply,
                    "finish_reason": call.finish_reason,
                    "logprobs": self.logprobs(call, _nth(completion.top_logprobs, index))
                    if request.logprobs
                    else None,
                }
                for index, call in enumerate(calls)
            ],
            "usage": usage(prompt_tokens, sampled),
        }

    def logprobs(
        self, call: LlmCall, top: list[list[tuple[int, float]]] | None = None
    ) -> dict[str, Any]:
        """OpenAI's ``choices[].logprobs``: each token the policy sampled, with its logprob
        (the recorded one, i.e. the distribution the token was drawn from) and, when the engine
        reports them, the most likely alternatives at that position."""
        tokenizer = self.pipeline.renderer.tokenizer  # type: ignore[union-attr]

        def entry(token: int, logprob: float) -> dict[str, Any]:
            text = tokenizer.decode([token])
            return {"token": text, "logprob": logprob, "bytes": list(text.encode("utf-8"))}

        content = []
        sampled = [
            (token, logprob)
            for token, logprob, trained in zip(
                call.response_ids, call.response_logprobs, call.response_mask or []
            )
            if trained
        ]
        for position, (token, logprob) in enumerate(sampled):
            alternatives = top[position] if top and position < len(top) else []
            content.append(
                entry(token, logprob) | {"top_logprobs": [entry(t, lp) for t, lp in alternatives]}
            )
        return {"content": content, "refusal": None}

    # -------------------------------------------------------------------------- streaming

    async def _stream(self, binding: ClientBinding, request: ChatRequest) -> AsyncIterator[bytes]:
        call_id = new_call_id()
        created = int(time.time())
        model = request.model or self.pipeline.model_name

        def chunk(delta: dict[str, Any], finish_reason: str | None = None, index: int = 0) -> bytes:
            return sse(
                {
                    "id": call_id,
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": model,
                    "choices": [
                        {
                            "index": index,
                            "delta": delta,
                            "finish_reason": finish_reason,
                            "logprobs": None,
                        }
                    ],
                }
            )

        yield chunk({"role": "assistant", "content": ""})
        emitted = ""
        completion: Completion | None = None
        try:
            async for event in self.pipeline.stream(binding, request, call_id=call_id):
                if isinstance(event, TextDelta):
                    emitted += event.text
                    yield chunk({"content": event.text})
                else:
                    completion = event
        except GatewayError as error:  # headers are sent: report the error in-band
            yield sse(error.body())
            yield SSE_DONE
            return
        assert completion is not None
        for index, call in enumerate(completion.calls):
            reply = call.reply or {}
            content = reply.get("content") or ""
            already = emitted if index == 0 else ""
            if index > 0:
                yield chunk({"role": "assistant", "content": ""}, index=index)
            if len(content) > len(already) and content.startswith(already):
                yield chunk({"content": content[len(already) :]}, index=index)
            for position, tool_call in enumerate(reply.get("tool_calls") or []):
                function = tool_call["function"]
                opening = {
                    "index": position,
                    "id": tool_call["id"],
                    "type": "function",
                    "function": {"name": function["name"], "arguments": ""},
                }
                yield chunk({"tool_calls": [opening]}, index=index)
                arguments = {"index": position, "function": {"arguments": function["arguments"]}}
                yield chunk({"tool_calls": [arguments]}, index=index)
            yield chunk({}, call.finish_reason, index=index)
        if request.include_usage:
            first = completion.calls[0]
            sampled = sum(sum(call.response_mask or []) for call in completion.calls)
            yield sse(
                {
                    "id": call_id,
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": model,
                    "choices": [],
                    "usage": usage(len(first.prompt_ids), sampled),
                }
            )
        yield SSE_DONE


def _nth(items: list[Any], index: int) -> Any:
    return items[index] if index < len(items) else None
