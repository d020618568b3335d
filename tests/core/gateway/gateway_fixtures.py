"""Shared helpers for the gateway/tracker/tuner tests (imported by name; tests/core/gateway has no
package __init__). The tokenizer is a real byte-level BPE with a ChatML + tools template."""

from __future__ import annotations

import asyncio
import functools
import threading
from typing import Any

from ajet_core.chat.testing import build_chatml_tokenizer
from ajet_core.config.models import AjetConfig
from ajet_core.engine import Generation, GenerationChunk, SamplingParams
from ajet_core.gateway import Gateway
from ajet_core.gateway.scripted_engine import ScriptedEngine
from ajet_core.toolparsers.hermes import HermesToolParser

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "current weather of a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
WEATHER_CALL_TEXT = (
    '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'
)


@functools.cache
def tokenizer() -> Any:
    return build_chatml_tokenizer()


def weather_reply(prompt: str) -> str:
    """A scripted agent: call the tool once, then answer from the tool's result."""
    if "<tool_response>" in prompt:
        return "It is sunny in Paris."
    return WEATHER_CALL_TEXT


def make_gateway(
    reply: Any = weather_reply,
    *,
    mode: str = "train",
    config: AjetConfig | None = None,
    engine: Any = None,
    **engine_kwargs: Any,
) -> Gateway:
    engine = engine or ScriptedEngine(tokenizer(), reply, **engine_kwargs)
    return Gateway(engine, config, mode=mode, tool_parser=HermesToolParser())


class CharLevelEngine(ScriptedEngine):
    """Emits each character as its own token: a valid sampling whose ids are NOT what encoding
    the text would give. Prefix reuse must keep these ids; re-tokenizing would drift."""

    def _reply_ids(self, prompt_ids: list[int]) -> list[int]:
        text = self._reply(self._tokenizer.decode(prompt_ids))
        ids = []
        for char in text:
            ids.extend(self._tokenizer.encode(char, add_special_tokens=False))
        return ids + [self._eot]


class GatedEngine(ScriptedEngine):
    """Streams nothing until ``release()``: proves the first chunk leaves before the end.

    The engine runs on the gateway's loop thread; ``release`` may be called from any thread.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._released = threading.Event()
        self._gates: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []
        self._lock = threading.Lock()
        self.finished = False

    def release(self) -> None:
        with self._lock:
            self._released.set()
            for loop, gate in self._gates:
                loop.call_soon_threadsafe(gate.set)

    async def generate_stream(self, prompt_ids: list[int], sampling: SamplingParams):
        gate = asyncio.Event()
        with self._lock:
            self._gates.append((asyncio.get_running_loop(), gate))
            if self._released.is_set():
                gate.set()
        await gate.wait()
        async for chunk in super().generate_stream(prompt_ids, sampling):
            yield chunk
        self.finished = True


class FailingEngine(ScriptedEngine):
    def __init__(self, *args: Any, error: BaseException, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.error = error
        self.fail_next = True

    async def generate(self, prompt_ids: list[int], sampling: SamplingParams) -> Generation:
        if self.fail_next:
            self.fail_next = False
            raise self.error
        return await super().generate(prompt_ids, sampling)


class GenerateOnlyEngine:
    """An engine that cannot stream, as the verl and trinity backbones' engines cannot: the
    :class:`~ajet_core.engine.Engine` protocol of ``inner`` (tokenizer, max_model_len, generate)
    and nothing more. The class has no ``generate_stream``, so the gateway answers a stream
    request from one ``generate`` call."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.generate_calls = 0

    @property
    def tokenizer(self) -> Any:
        return self.inner.tokenizer

    @property
    def max_model_len(self) -> int:
        return self.inner.max_model_len

    async def generate(self, prompt_ids: list[int], sampling: SamplingParams) -> Generation:
        self.generate_calls += 1
        return await self.inner.generate(prompt_ids, sampling)


__all__ = [
    "CharLevelEngine",
    "FailingEngine",
    "GatedEngine",
    "GenerateOnlyEngine",
    "GenerationChunk",
    "WEATHER_CALL_TEXT",
    "WEATHER_TOOL",
    "make_gateway",
    "tokenizer",
    "weather_reply",
]
