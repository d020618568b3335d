"""A zero-cost engine: replies from a script instead of a model.

For gateway plumbing tests and for measuring the gateway's own overhead (benchmarks/gateway.py),
where a model's compute would hide what the gateway adds. Every reply is tokenized with the real
tokenizer and ends with the end-of-turn token, like a model's. Never used to stand in for a
model in tests of what a model does: those run the tiny local model.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

from ajet_core.engine import Generation, GenerationChunk, SamplingParams


class ScriptedEngine:
    """``reply(prompt_text) -> text``; the text is cut at ``max_tokens`` like a real engine."""

    def __init__(
        self,
        tokenizer: Any,
        reply: Callable[[str], str] | str = "ok",
        *,
        max_model_len: int = 4096,
        end_of_turn: str = "<|im_end|>",
        stream_delay: float = 0.0,
    ) -> None:
        self._tokenizer = tokenizer
        self._fixed = None if callable(reply) else reply
        self._reply = reply if callable(reply) else (lambda _prompt, text=reply: text)
        self._max_model_len = max_model_len
        self._eot = tokenizer.convert_tokens_to_ids(end_of_turn)
        self.stream_delay = stream_delay
        self.requests: list[tuple[list[int], SamplingParams]] = []
        self._cache: dict[str, list[int]] = {}

    @property
    def tokenizer(self) -> Any:
        return self._tokenizer

    @property
    def max_model_len(self) -> int:
        return self._max_model_len

    def _reply_ids(self, prompt_ids: list[int]) -> list[int]:
        # A fixed reply skips decoding the prompt: the benchmark's engine must cost nothing.
        text = (
            self._fixed
            if self._fixed is not None
            else self._reply(self._tokenizer.decode(prompt_ids))
        )
        ids = self._cache.get(text)
        if ids is None:
            ids = self._cache[text] = list(
                self._tokenizer.encode(text, add_special_tokens=False)
            ) + [self._eot]
        return ids

    async def generate(self, prompt_ids: list[int], sampling: SamplingParams) -> Generation:
        self.requests.append((list(prompt_ids), sampling))
        ids = self._reply_ids(prompt_ids)
        for end in range(1, len(ids) + 1):  # stop strings end the reply, their tokens kept
            text = self._tokenizer.decode(ids[:end]) if sampling.stop else ""
            matched = next((stop for stop in sampling.stop if stop in text), None)
            if matched is not None and end <= sampling.max_tokens:
                return Generation(ids[:end], [-0.5] * end, "stop", matched)
        if len(ids) > sampling.max_tokens:
            ids = ids[: sampling.max_tokens]
            return Generation(ids, [-0.5] * len(ids), "length")
        return Generation(ids, [-0.5] * len(ids), "stop")

    async def generate_stream(
        self, prompt_ids: list[int], sampling: SamplingParams
    ) -> AsyncIterator[GenerationChunk]:
        generation = await self.generate(prompt_ids, sampling)
        for token, logprob in zip(generation.token_ids, generation.logprobs):
            yield GenerationChunk([token], [logprob])
            await asyncio.sleep(self.stream_delay)
        yield GenerationChunk(
            [], [], finish_reason=generation.finish_reason, matched_stop=generation.matched_stop
        )
