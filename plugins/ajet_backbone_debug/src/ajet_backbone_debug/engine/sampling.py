"""Choosing the next token of one request, and the logprob recorded for it.

The recorded logprob is ``log_softmax(logits / T)`` over the full vocabulary — before top-k /
top-p filtering — because that is what a trainer recomputes from the same logits. At ``T == 0``
(greedy) the token is the argmax and the recorded logprob is the ``T = 1`` one,
``log_softmax(logits)``: a finite number a trainer can compare against, since the limit T -> 0
would be 0 for every token. Under an output constraint the forbidden tokens are removed before
all of this: the distribution sampled and recorded is the constrained one.
"""

from __future__ import annotations

import torch

from ajet_core.engine import SamplingParams


def filter_logits(scaled: torch.Tensor, top_k: int, top_p: float) -> torch.Tensor:
    """``scaled`` (vocab,) with the tokens outside top-k / the top-p nucleus set to -inf."""
    if 0 < top_k < scaled.numel():
        kth = torch.topk(scaled, top_k).values[-1]
        scaled = scaled.masked_fill(scaled < kth, float("-inf"))
    if top_p < 1.0:
        sorted_logits, order = torch.sort(scaled, descending=True)
        cumulative = torch.softmax(sorted_logits, dim=-1).cumsum(dim=-1)
        # Drop a token when the tokens ranked above it already reach top_p; the top one stays.
        drop_sorted = (cumulative - torch.softmax(sorted_logits, dim=-1)) >= top_p
        drop = torch.zeros_like(drop_sorted).scatter(0, order, drop_sorted)
        scaled = scaled.masked_fill(drop, float("-inf"))
    return scaled


def choose_token(
    logits: torch.Tensor,
    params: SamplingParams,
    generator: torch.Generator,
    allowed: torch.Tensor | None = None,
) -> tuple[int, float]:
    """(token id, recorded logprob) for one row of float32 logits.

    ``allowed`` (a bool mask from an output constraint) removes the other tokens first, so the
    token and its logprob come from the constrained distribution."""
    if allowed is not None:
        logits = logits.masked_fill(~allowed, float("-inf"))
    if params.temperature == 0:
        logprobs = torch.log_softmax(logits, dim=-1)
        token = int(torch.argmax(logits))
        return token, float(logprobs[token])
    scaled = logits / params.temperature
    logprobs = torch.log_softmax(scaled, dim=-1)
    probs = torch.softmax(filter_logits(scaled, params.top_k, params.top_p), dim=-1)
    token = int(torch.multinomial(probs, 1, generator=generator))
    return token, float(logprobs[token])


def top_alternatives(
    logits: torch.Tensor, params: SamplingParams, allowed: torch.Tensor | None
) -> list[tuple[int, float]]:
    """The ``params.top_logprobs`` most likely tokens of the distribution the recorded logprob
    is taken from (T = 1 when greedy, the constrained one under a constraint)."""
    if allowed is not None:
        logits = logits.masked_fill(~allowed, float("-inf"))
    scale = params.temperature if params.temperature > 0 else 1.0
    values, ids = torch.topk(torch.log_softmax(logits / scale, dim=-1), params.top_logprobs)
    return [(int(i), float(v)) for i, v in zip(ids, values) if v != float("-inf")]


def check_params(params: SamplingParams) -> None:
    """Raise ValueError naming the bad field; the gateway checks first; this guards direct use."""
    if params.temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {params.temperature}")
    if not 0 < params.top_p <= 1:
        raise ValueError(f"top_p must be in (0, 1], got {params.top_p}")
    if params.top_k == 0 or params.top_k < -1:
        raise ValueError(f"top_k must be -1 (off) or positive, got {params.top_k}")
    if params.max_tokens <= 0:
        raise ValueError(f"max_tokens must be positive, got {params.max_tokens}")
