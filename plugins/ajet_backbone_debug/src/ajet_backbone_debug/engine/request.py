"""One generation request as the decode thread sees it, and its stop rules."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import torch

from ajet_core.engine import SamplingParams


@dataclass
class Request:
    prompt_ids: list[int]
    params: SamplingParams
    generator: torch.Generator
    # Where results go: the caller's event loop and its queue (items: see Request.emit).
    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue
    stream: bool
    stop_ids: frozenset[int]
    max_new_tokens: int
    tokenizer: Any
    token_ids: list[int] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)
    # Per token, the engine's weight version when it was sampled (in-flight updates).
    versions: list[int] = field(default_factory=list)
    cancelled: bool = False
    finished: bool = False
    # The request's grammar state under an OutputConstraint (constraints.GrammarMatcher).
    matcher: Any = None
    # Per token, the most likely alternatives when params.top_logprobs is set.
    top_logprobs: list[list[tuple[int, float]]] = field(default_factory=list)

    def add(self, token: int, logprob: float, version: int = 0) -> tuple[str, str | None] | None:
        """Record a sampled token and the weight version that computed it; returns
        (finish_reason, matched_stop) when the request ends."""
        self.token_ids.append(token)
        self.logprobs.append(logprob)
        self.versions.append(version)
        if self.stream:
            self.emit(("tokens", [token], [logprob], [version]))
        if token in self.stop_ids:
            return "stop", None
        if self.params.stop:
            # Decode the whole reply: a stop string may span tokens, and byte-level tokens may
            # split a character. Replies are short, so this stays cheap.
            text = self.tokenizer.decode(self.token_ids, skip_special_tokens=False)
            for stop in self.params.stop:
                if stop and stop in text:
                    return "stop", stop
        if len(self.token_ids) >= self.max_new_tokens:
            return "length", None
        return None

    def emit(self, item: tuple) -> None:
        """Hand an item to the caller's loop from the decode thread (a closed loop is ignored)."""
        try:
            self.loop.call_soon_threadsafe(self.queue.put_nowait, item)
        except RuntimeError:  # the caller's loop is gone; nobody waits for this request
            self.cancelled = True
