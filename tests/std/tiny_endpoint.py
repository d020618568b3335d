"""The project's gateway serving the tiny local model over HTTP, as an OpenAI-compatible endpoint.

Used by the llm_judge and generated-reader tests: the real gateway (rendering, sampling
settings, recording) in front of the real tiny Qwen2 model (``ajet model init-tiny``'s build).
The gateway runs on its own event loop in a background thread, as a separate service would.

The engine is the debug backbone's ``TransformersEngine`` when installed; otherwise a plain
transformers engine below (greedy or sampled decoding with logprobs) drives the same model.
"""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path
from typing import Any

from ajet_core.engine import Generation, SamplingParams


def tiny_model_dir() -> Path:
    from ajet_backbone_debug.models.tiny import ensure_tiny_model

    cache = os.environ.get("AJET_TEST_CACHE") or str(Path(__file__).resolve().parents[2] / ".cache")
    return ensure_tiny_model(cache)


class TransformersEngine:
    """Token-in/token-out generation with a Hugging Face causal LM (one request at a time)."""

    def __init__(self, model_dir: Path, max_model_len: int = 2048) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self._torch = torch
        self._tokenizer = AutoTokenizer.from_pretrained(model_dir)
        self._model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
        self._max_model_len = max_model_len
        self._eos = self._tokenizer.convert_tokens_to_ids("<|im_end|>")
        self._lock = threading.Lock()

    @property
    def tokenizer(self) -> Any:
        return self._tokenizer

    @property
    def max_model_len(self) -> int:
        return self._max_model_len

    def _generate(self, prompt_ids: list[int], sampling: SamplingParams) -> Generation:
        torch = self._torch
        generator = torch.Generator().manual_seed(sampling.seed if sampling.seed is not None else 0)
        ids, out, logprobs, past = torch.tensor([prompt_ids]), [], [], None
        with self._lock, torch.no_grad():
            for _ in range(sampling.max_tokens):
                result = self._model(input_ids=ids, past_key_values=past, use_cache=True)
                past = result.past_key_values
                logits = result.logits[0, -1].float()
                if sampling.temperature > 0:
                    log_probs = torch.log_softmax(logits / sampling.temperature, dim=-1)
                    token = int(torch.multinomial(log_probs.exp(), 1, generator=generator))
                else:
                    log_probs = torch.log_softmax(logits, dim=-1)
                    token = int(torch.argmax(logits))
                out.append(token)
                logprobs.append(float(log_probs[token]))
                if token == self._eos:
                    return Generation(out, logprobs, "stop")
                ids = torch.tensor([[token]])
        return Generation(out, logprobs, "length")

    async def generate(self, prompt_ids: list[int], sampling: SamplingParams) -> Generation:
        return await asyncio.to_thread(self._generate, list(prompt_ids), sampling)


def _engine(model_dir: Path) -> Any:
    try:  # the debug backbone's own engine (continuous batching), where installed
        from ajet_backbone_debug.engine import TransformersEngine as DebugEngine
    except ImportError:
        return TransformersEngine(model_dir)
    return DebugEngine.from_path(str(model_dir), dtype="float32", device="cpu")


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
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=60)

    def __enter__(self) -> TinyModelEndpoint:
        self.thread.start()
        self._run(self.gateway.start_http("127.0.0.1", 0))

        async def open_session() -> Any:
            handle = self.gateway.open_episode("std-tests")
            return handle, handle.tuner.as_oai_baseurl_apikey()

        self.handle, endpoint = self._run(open_session())
        self.base_url, self.api_key, self.model = endpoint.base_url, endpoint.api_key, endpoint.model
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
