"""TransformersEngine: the debug backbone's implementation of :class:`ajet_core.engine.Engine`.

A background thread owns the model and runs the decode loop:

1. admit waiting requests: prefill each alone (KV cache + first token) and join the batch;
2. one decode step for every running row (one forward pass on the left-padded batch);
3. sample each row with its own parameters and RNG, record the token and its logprob;
4. finish rows on EOS / stop token / stop string / max tokens and return them to their callers.

A request with an output constraint (structured output) samples only the tokens its grammar
allows (:mod:`ajet_backbone_debug.engine.constraints`).

A batch-invariant request (``SamplingParams.batch_invariant``, which the gateway sets in
evaluation) never joins the shared batch: it decodes as its own batch of one, with no padding, so
every matrix it goes through has the same shape whatever else is being served, and its tokens and
logprobs are the same under any load or arrival order (the thread count is fixed per engine).
Evaluation gives up some throughput for that; training keeps the shared batch.

Requests that arrive while the batch decodes join it at the next step (continuous batching). The
event loops of the callers never run model code, so a gateway stays responsive while it decodes.
The served module is ``engine.model``; a trainer on the same device updates it in place inside
``with engine.paused():`` (or through :meth:`update_weights`), and the next step uses the new
weights with no copy.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import Any

import torch

from ajet_backbone_debug.engine.batch import RunningBatch
from ajet_backbone_debug.engine.constraints import GrammarCompiler
from ajet_backbone_debug.engine.request import Request
from ajet_backbone_debug.engine.sampling import check_params, choose_token, top_alternatives
from ajet_core.engine import (
    ContextLengthExceeded,
    EngineError,
    Generation,
    GenerationChunk,
    SamplingParams,
)


class TransformersEngine:
    # Enforces ajet_core.engine.OutputConstraint (llguidance; see engine/constraints.py).
    supports_constraints = True

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        max_model_len: int | None = None,
        max_batch_size: int = 32,
        seed: int = 0,
        eos_token_ids: Iterable[int] | None = None,
        num_threads: int | None = None,
    ) -> None:
        """``eos_token_ids`` overrides the ids read from the model and tokenizer; an empty list
        generates until ``max_tokens`` (fixed-length benchmarks, long requests in tests).
        ``num_threads`` sets torch's intra-op threads for the decode thread (None: torch's
        default). On a CPU shared with other busy processes, 1 is often several times faster
        than 2: idle OpenMP workers spin while they wait for a core."""
        self.model = model.eval()
        self._tokenizer = tokenizer
        limit = getattr(model.config, "max_position_embeddings", None) or max_model_len or 4096
        self._max_model_len = min(max_model_len or limit, limit)
        self.max_batch_size = max_batch_size
        self.num_threads = num_threads
        self.device = next(model.parameters()).device
        self.vocab_size = model.get_output_embeddings().weight.shape[0]
        self.eos_ids = (
            self._eos_ids(model, tokenizer) if eos_token_ids is None else frozenset(eos_token_ids)
        )
        # Seeds for requests without one: reproducible per engine, different per request.
        self._seeds = torch.Generator().manual_seed(seed)
        self._pending: deque[tuple[Request, list[int]]] = deque()
        self._wake = threading.Condition()
        # Held for each step of the decode loop; hold it to change the weights between steps.
        self._weights = threading.RLock()
        self._batch = RunningBatch()
        # One batch of one per batch-invariant request (SamplingParams.batch_invariant): its
        # shapes, and so its rounding, depend on that request alone.
        self._solo: list[RunningBatch] = []
        self._closed = False
        self._thread: threading.Thread | None = None
        # transformers 5.x names the KV-cache argument `cache`; earlier versions `past_key_values`.
        import inspect

        params = inspect.signature(model.forward).parameters
        self._cache_arg = "cache" if "cache" in params else "past_key_values"
        self._grammars = GrammarCompiler(tokenizer, self.vocab_size)
        # The policy version of the weights served now; every sampled token records it.
        self.version = 0
        self.steps = 0  # decode steps run (diagnostics and tests)
        # Seconds spent computing (prefills and decode steps): the loop reports the idle share.
        self.busy_seconds = 0.0
        self.max_rows_seen = 0

    # -- construction ---------------------------------------------------------------------------

    @classmethod
    def from_path(
        cls,
        path: str,
        dtype: str = "auto",
        device: str = "auto",
        max_model_len: int | None = None,
        trust_remote_code: bool = False,
        **kwargs: Any,
    ) -> TransformersEngine:
        """Load ``path`` (a local HF model directory or a ``.gguf`` file) and serve it."""
        from ajet_backbone_debug.models.loading import (
            fix_chatml_special_tokens,
            load_model,
            load_tokenizer,
        )

        tokenizer = load_tokenizer(path, trust_remote_code)
        model = load_model(path, dtype, device, trust_remote_code)
        if str(path).endswith(".gguf"):
            fix_chatml_special_tokens(tokenizer, model)
        return cls(model, tokenizer, max_model_len=max_model_len, **kwargs)

    @staticmethod
    def _eos_ids(model: Any, tokenizer: Any) -> frozenset[int]:
        ids: set[int] = set()
        for source in (getattr(model, "generation_config", None), model.config, tokenizer):
            value = getattr(source, "eos_token_id", None) if source is not None else None
            if isinstance(value, int):
                ids.add(value)
            elif isinstance(value, (list, tuple)):
                ids.update(int(v) for v in value)
        return frozenset(ids)

    # -- the Engine protocol --------------------------------------------------------------------

    @property
    def tokenizer(self) -> Any:
        return self._tokenizer

    @property
    def max_model_len(self) -> int:
        return self._max_model_len

    async def generate(self, prompt_ids: list[int], sampling: SamplingParams) -> Generation:
        request = self._submit(prompt_ids, sampling, stream=False)
        try:
            kind, *payload = await request.queue.get()
        finally:
            request.cancelled = not request.finished
        if kind == "error":
            raise payload[0]
        finish, matched = payload
        return Generation(
            list(request.token_ids),
            list(request.logprobs),
            finish,
            matched,
            top_logprobs=list(request.top_logprobs) if sampling.top_logprobs else None,
            weight_version=request.versions[0] if request.versions else self.version,
            token_versions=list(request.versions),
        )

    async def generate_stream(
        self, prompt_ids: list[int], sampling: SamplingParams
    ) -> AsyncIterator[GenerationChunk]:
        """Tokens as they are sampled; the last chunk carries ``finish_reason``."""
        request = self._submit(prompt_ids, sampling, stream=True)
        try:
            while True:
                kind, *payload = await request.queue.get()
                if kind == "tokens":
                    ids, logprobs, versions = payload
                    # Merge whatever else is already queued, so a slow reader gets fewer chunks.
                    while not request.queue.empty() and request.queue._queue[0][0] == "tokens":  # type: ignore[attr-defined]
                        _, more_ids, more_lps, more_versions = request.queue.get_nowait()
                        ids, logprobs = ids + more_ids, logprobs + more_lps
                        versions = versions + more_versions
                    yield GenerationChunk(ids, logprobs, token_versions=versions)
                elif kind == "error":
                    raise payload[0]
                else:
                    yield GenerationChunk([], [], finish_reason=payload[0], matched_stop=payload[1])
                    return
        finally:
            request.cancelled = not request.finished

    # -- weights --------------------------------------------------------------------------------

    @contextlib.contextmanager
    def paused(self) -> Iterator[Any]:
        """Hold decoding between steps (e.g. around ``optimizer.step()``); yields the model."""
        with self._weights:
            yield self.model

    def update_weights(
        self, state_dict: dict[str, torch.Tensor] | None = None, version: int | None = None
    ) -> None:
        """Load new weights between decode steps (an in-flight update: running requests go on
        with them, and their later tokens record ``version``). With no ``state_dict`` it only
        waits for a step boundary: a trainer that updated ``engine.model`` in place needs
        nothing more."""
        with self._weights:
            if state_dict is not None:
                with torch.no_grad():
                    self.model.load_state_dict(state_dict, strict=False)
            if version is not None:
                self.version = version

    def missing_weights(self, state_dict: dict[str, torch.Tensor]) -> list[str]:
        """The served model's tensors that ``state_dict`` lacks, sorted; an empty list means it is
        a full set. A tied output embedding counts as present (trainers send the input one)."""
        tied = bool(getattr(self.model.config, "tie_word_embeddings", False))
        return sorted(
            name
            for name in self.model.state_dict()
            if name not in state_dict and not (tied and name == "lm_head.weight")
        )

    def close(self) -> None:
        """Stop the decode thread; waiting callers get an EngineError."""
        with self._wake:
            self._closed = True
            self._wake.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=30)

    # -- submission (caller's thread) -----------------------------------------------------------

    def _submit(self, prompt_ids: list[int], sampling: SamplingParams, stream: bool) -> Request:
        if self._closed:
            raise EngineError("the engine is closed")
        check_params(sampling)
        prompt = [int(t) for t in prompt_ids]
        if not prompt:
            raise ValueError("prompt_ids is empty; render at least one message")
        bad = [t for t in prompt if not 0 <= t < self.vocab_size]
        if bad:
            raise ValueError(
                f"prompt_ids holds ids outside the vocabulary [0, {self.vocab_size}): {bad[:5]}"
            )
        if len(prompt) >= self._max_model_len:
            raise ContextLengthExceeded(len(prompt), self._max_model_len)
        seed = (
            sampling.seed
            if sampling.seed is not None
            else int(torch.randint(2**62, (1,), generator=self._seeds))
        )
        generator = torch.Generator(device=self.device).manual_seed(seed)
        request = Request(
            prompt_ids=prompt,
            params=sampling,
            generator=generator,
            loop=asyncio.get_running_loop(),
            queue=asyncio.Queue(),
            stream=stream,
            stop_ids=self.eos_ids | frozenset(sampling.stop_token_ids),
            max_new_tokens=min(sampling.max_tokens, self._max_model_len - len(prompt)),
            tokenizer=self._tokenizer,
        )
        if sampling.constraint is not None:
            # Compiled here, on the caller's thread: a bad schema is the caller's error.
            request.matcher = self._grammars.matcher(sampling.constraint, request.stop_ids)
        with self._wake:
            self._pending.append((request, prompt))
            self._start_thread()
            self._wake.notify()
        return request

    def _start_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(
                target=self._run, name="ajet-engine-decode", daemon=True
            )
            self._thread.start()

    # -- the decode loop (its own thread) -------------------------------------------------------

    def _run(self) -> None:
        if self.num_threads is not None:
            torch.set_num_threads(self.num_threads)
        while True:
            with self._wake:
                while not self._closed and not self._pending and not self._decoding():
                    self._wake.wait()
                if self._closed:
                    self._fail_all(EngineError("the engine was closed while serving this request"))
                    return
                admitted = []
                while self._pending and self._decoding() + len(admitted) < self.max_batch_size:
                    admitted.append(self._pending.popleft())
            try:
                with self._weights, torch.inference_mode(), self._timed():
                    for request, prompt in admitted:
                        if not request.cancelled:
                            self._prefill(request, prompt)
                    if len(self._batch):
                        self._decode_step(self._batch)
                    for solo in self._solo:
                        self._decode_step(solo)
                    self._solo = [solo for solo in self._solo if len(solo)]
            except Exception as exc:  # noqa: BLE001 - every waiting caller must hear about it
                failure = EngineError(f"generation failed: {type(exc).__name__}: {exc}")
                failure.__cause__ = exc
                for request, _ in admitted:
                    if not request.finished:
                        self._finish(request, error=failure)
                self._fail_decoding(failure)

    @contextlib.contextmanager
    def _timed(self) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.busy_seconds += time.perf_counter() - started

    def _prefill(self, request: Request, prompt: list[int]) -> None:
        from transformers import DynamicCache

        cache = DynamicCache(config=self.model.config)
        ids = torch.tensor([prompt], device=self.device)
        out = self.model(
            input_ids=ids, use_cache=True, logits_to_keep=1, **{self._cache_arg: cache}
        )
        token, logprob = self._choose(request, out.logits[0, -1].float())
        ended = request.add(token, logprob, self.version)
        if ended is not None:
            self._finish(request, *ended)
            return
        # The DynamicCache is filled in place by the forward pass.
        if request.params.batch_invariant:
            solo = RunningBatch()
            solo.join(request, cache, len(prompt), token, self.device)
            self._solo.append(solo)
            return
        self._batch.join(request, cache, len(prompt), token, self.device)
        self.max_rows_seen = max(self.max_rows_seen, len(self._batch))

    def _decoding(self) -> int:
        """Requests being decoded: the shared batch's rows and the batches of one."""
        return len(self._batch) + len(self._solo)

    def _decode_step(self, batch: RunningBatch) -> None:
        mask = torch.cat([batch.mask, torch.ones_like(batch.mask[:, :1])], dim=1)
        out = self.model(
            input_ids=batch.last_tokens[:, None],
            attention_mask=mask,
            position_ids=batch.positions[:, None],
            use_cache=True,
            **{self._cache_arg: batch.cache},
        )
        batch.mask = mask
        logits = out.logits[:, -1].float()
        self.steps += 1
        keep, tokens = [], []
        for row, request in enumerate(batch.rows):
            if request.cancelled:
                request.finished = True
                continue
            token, logprob = self._choose(request, logits[row])
            ended = request.add(token, logprob, self.version)
            if ended is not None:
                self._finish(request, *ended)
                continue
            keep.append(row)
            tokens.append(token)
        batch.positions = batch.positions + 1
        batch.last_tokens = torch.tensor([0] * len(batch.rows), device=self.device)
        for row, token in zip(keep, tokens):
            batch.last_tokens[row] = token
        batch.keep(keep)

    def _choose(self, request: Request, logits: torch.Tensor) -> tuple[int, float]:
        """Sample one token, within the request's output constraint when it has one."""
        allowed = None if request.matcher is None else request.matcher.allowed(logits.device)
        token, logprob = choose_token(logits, request.params, request.generator, allowed)
        if request.matcher is not None:
            request.matcher.advance(token)
        if request.params.top_logprobs:
            request.top_logprobs.append(top_alternatives(logits, request.params, allowed))
        return token, logprob

    def _finish(
        self,
        request: Request,
        finish: str | None = None,
        matched: str | None = None,
        error: Exception | None = None,
    ) -> None:
        request.finished = True
        request.emit(("error", error) if error is not None else ("done", finish, matched))

    def _fail_all(self, error: Exception) -> None:
        for request, _ in self._pending:
            self._finish(request, error=error)
        self._pending.clear()
        self._fail_decoding(error)

    def _fail_decoding(self, error: Exception) -> None:
        for batch in (self._batch, *self._solo):
            for request in batch.rows:
                self._finish(request, error=error)
        self._batch = RunningBatch()
        self._solo = []
