"""Constrained decoding for the debug engine, with llguidance (a maintained grammar library, the
one behind vLLM's ``guidance`` structured-output backend).

Each constrained request gets a matcher compiled from its :class:`~ajet_core.engine.
OutputConstraint`; before each token the matcher's bitmask removes every token the grammar
forbids from the logits, and the sampled token advances it. Once the grammar is complete only
the stop tokens remain allowed, so the reply ends there.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import torch

from ajet_core.engine import COMPACT_JSON, ConstraintError, OutputConstraint


class GrammarCompiler:
    """Builds matchers for one tokenizer; its llguidance tokenizer is built once per stop set."""

    def __init__(self, tokenizer: Any, vocab_size: int) -> None:
        self.tokenizer = tokenizer
        self.vocab_size = vocab_size
        self._by_stops: dict[tuple[int, ...], Any] = {}
        self._lock = threading.Lock()

    def _ll_tokenizer(self, stop_ids: tuple[int, ...]) -> Any:
        import llguidance.hf

        with self._lock:
            cached = self._by_stops.get(stop_ids)
            if cached is None:
                cached = self._by_stops[stop_ids] = llguidance.hf.from_tokenizer(
                    self.tokenizer, n_vocab=self.vocab_size, eos_token=list(stop_ids)
                )
            return cached

    def matcher(self, constraint: OutputConstraint, stop_ids: frozenset[int]) -> GrammarMatcher:
        import llguidance

        if constraint.json_schema is not None:
            try:
                grammar = llguidance.LLMatcher.grammar_from_json_schema(
                    constraint.json_schema, overrides=COMPACT_JSON
                )
            except ValueError as exc:
                raise ConstraintError(f"the JSON schema is not valid: {exc}") from None
        elif constraint.lark is not None:
            grammar = llguidance.LLMatcher.grammar_from_lark(constraint.lark)
        else:
            raise ConstraintError("an OutputConstraint needs json_schema or lark")
        tokenizer = self._ll_tokenizer(tuple(sorted(stop_ids)))
        failed, messages = llguidance.LLMatcher.validate_grammar_with_warnings(grammar, tokenizer)
        if failed:
            raise ConstraintError(f"the output constraint does not compile: {messages[0]}")
        return GrammarMatcher(llguidance.LLMatcher(tokenizer, grammar), self.vocab_size)


class GrammarMatcher:
    """One request's position in its grammar."""

    def __init__(self, matcher: Any, vocab_size: int) -> None:
        self._matcher = matcher
        self._vocab_size = vocab_size

    def allowed(self, device: torch.device) -> torch.Tensor:
        """A bool mask over the vocabulary: the tokens the grammar allows next."""
        bits = np.unpackbits(
            np.frombuffer(self._matcher.compute_bitmask(), dtype=np.uint8), bitorder="little"
        )[: self._vocab_size]
        mask = torch.zeros(self._vocab_size, dtype=torch.bool)
        mask[: len(bits)] = torch.from_numpy(bits.astype(bool))
        return mask.to(device)

    def advance(self, token: int) -> None:
        if not self._matcher.consume_token(token):
            raise ConstraintError(f"the grammar refused token {token}: {self._matcher.get_error()}")
