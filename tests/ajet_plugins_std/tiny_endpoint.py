"""The project's gateway serving the tiny local model over HTTP, as an OpenAI-compatible endpoint.

Used by the llm_judge and generated-reader tests: the real gateway (rendering, sampling
settings, recording) in front of the real tiny Qwen2 model (``ajet model init-tiny``'s build).
The gateway runs on its own event loop in a background thread, as a separate service would.

The engine is the debug backbone's ``TransformersEngine`` (continuous batching, logprobs).
"""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path
from typing import Any


def tiny_model_dir() -> Path:
    """The tiny model from the test cache (set-up makes it; a missing one names the command)."""
    from ajet_backbone_debug.models.model_cache import tiny_model_path

    cache = os.environ.get("AJET_TEST_CACHE") or str(Path(__file__).resolve().parents[2] / ".cache")
    return tiny_model_path(cache)


def _engine(model_dir: Path) -> Any:
    from ajet_backbone_debug.engine import TransformersEngine

    return TransformersEngine.from_path(str(model_dir), dtype="float32", device="cpu")


class TinyModelEndpoint:
    """Start with ``with TinyModelEndpoint() as endpoint:``; gives ``base_url``, ``api_key``,
    ``model`` and ``calls()`` (the LLM calls the gateway recorded)."""

    def __init__(self, mode: str = "eval") -> None:
        from ajet_core.gateway import Gateway
        from ajet_core.toolparsers.hermes import HermesToolParser

        self.gateway = Gateway(_engine(tiny_model_dir()), mode=mode, tool_parser=HermesToolParser())
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def _run(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=240)

    def __enter__(self) -> TinyModelEndpoint:
        self.thread.start()
        self._run(self.gateway.start_http("127.0.0.1", 0))

        async def open_session() -> Any:
            handle = self.gateway.open_episode("std-tests")
            return handle, handle.tuner.as_oai_baseurl_apikey()

        self.handle, endpoint = self._run(open_session())
        self.base_url, self.api_key, self.model = (
            endpoint.base_url,
            endpoint.api_key,
            endpoint.model,
        )
        return self

    def calls(self) -> list[Any]:
        return list(self.handle.calls)

    def __exit__(self, *exc: Any) -> None:
        async def stop() -> None:
            self.gateway.close_episode("std-tests")
            await self.gateway.stop_http()

        try:
            self._run(stop())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout=10)
            getattr(self.gateway.engine, "close", lambda: None)()
