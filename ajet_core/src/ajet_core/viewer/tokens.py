"""Token ids to text for the token strip, with the run's own tokenizer (loaded lazily, cached)."""

from __future__ import annotations

import functools
import logging
from typing import Any

log = logging.getLogger(__name__)


@functools.lru_cache(maxsize=4)
def load_tokenizer(model_path: str | None) -> Any | None:
    """The tokenizer at ``model_path``, or None (the page then shows ids only)."""
    if not model_path:
        return None
    try:
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(model_path)
    except Exception as exc:  # noqa: BLE001 - any failure means "ids only", never a broken page
        log.warning(
            "viewer: cannot load tokenizer from %s (%s); showing token ids only", model_path, exc
        )
        return None


def token_texts(tokenizer: Any | None, ids: list[int]) -> list[str] | None:
    if tokenizer is None:
        return None
    # Decoding each id on its own shows that token's own text (a leading space included).
    return tokenizer.batch_decode([[token_id] for token_id in ids])


# A sample's lists aligned with its tokens: the strip carries them, token by token.
PER_TOKEN = ("input_ids", "loss_mask", "old_logprobs", "versions")


def with_token_strips(episode: dict[str, Any], tokenizer: Any | None) -> dict[str, Any]:
    """Replace each sample's parallel lists by ``tokens``: id, text, loss mask, old logprob and
    the policy version that sampled it (None where the engine reported none) each.

    The lists themselves are left out of the answer: ``tokens`` carries them all, and a long
    merged sample would otherwise travel twice.
    """
    samples = []
    for sample in episode.get("samples") or []:
        ids = sample.get("input_ids") or []
        mask = sample.get("loss_mask") or [0] * len(ids)
        logprobs = sample.get("old_logprobs") or [None] * len(ids)
        versions = sample.get("versions") or [None] * len(ids)
        texts = token_texts(tokenizer, ids) or [None] * len(ids)
        tokens = [
            {"id": i, "text": t, "mask": m, "logprob": lp, "version": v if m else None}
            for i, t, m, lp, v in zip(ids, texts, mask, logprobs, versions)
        ]
        rest = {k: v for k, v in sample.items() if k not in PER_TOKEN}
        samples.append({**rest, "tokens": tokens})
    return {**episode, "samples": samples, "decoded": tokenizer is not None}
