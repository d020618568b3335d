"""Shared pieces of the trainer tests: the tiny model, sampling with it, and samples built by hand.

Samples are produced by the real model: tokens drawn from softmax(logits / T) of its own forward
pass, each recorded with log_softmax(logits / T) — exactly what the engine records.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import torch

from ajet_core.schema import Sample

TEMPERATURE = 0.8


def load_tiny(model_dir: Path) -> tuple[Any, Any]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    return model, AutoTokenizer.from_pretrained(model_dir)


@torch.no_grad()
def sample_continuation(
    model: Any,
    prompt_ids: Sequence[int],
    max_new_tokens: int,
    temperature: float = TEMPERATURE,
    generator: torch.Generator | None = None,
    eos_token_id: int | None = None,
) -> tuple[list[int], list[float]]:
    """Draw tokens one at a time from the model's own forward pass; return (ids, logprobs)."""
    ids = list(prompt_ids)
    response, logprobs = [], []
    for _ in range(max_new_tokens):
        logits = model(input_ids=torch.tensor([ids])).logits[0, -1].float() / temperature
        log_probs = torch.log_softmax(logits, dim=-1)
        token = int(torch.multinomial(log_probs.exp(), 1, generator=generator))
        ids.append(token)
        response.append(token)
        logprobs.append(float(log_probs[token]))
        if eos_token_id is not None and token == eos_token_id:
            break
    return response, logprobs


def chat_prompt(tokenizer: Any, user_text: str) -> list[int]:
    messages = [{"role": "user", "content": user_text}]
    return list(
        tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, tokenize=True, return_dict=False
        )
    )


def sampled_sample(
    model: Any,
    prompt_ids: Sequence[int],
    max_new_tokens: int,
    advantage: float,
    generator: torch.Generator | None = None,
    temperature: float = TEMPERATURE,
    episode_id: str = "",
    eos_token_id: int | None = None,
) -> Sample:
    response, logprobs = sample_continuation(
        model, prompt_ids, max_new_tokens, temperature, generator, eos_token_id
    )
    return Sample(
        input_ids=list(prompt_ids) + response,
        loss_mask=[0] * len(prompt_ids) + [1] * len(response),
        old_logprobs=[0.0] * len(prompt_ids) + logprobs,
        advantage=advantage,
        episode_id=episode_id,
    )


def gradients(trainer: Any) -> dict[str, torch.Tensor]:
    return {
        name: (p.grad.detach().clone() if p.grad is not None else torch.zeros_like(p))
        for name, p in trainer.trainable_parameters()
    }


def assert_same_loss_and_gradients(
    trainer: Any, samples_a: Sequence[Sample], samples_b: Sequence[Sample], atol: float = 1e-5
) -> tuple[dict[str, float], dict[str, float]]:
    """The merging invariant: two sample sets of one set of episodes give one loss and gradient."""
    from ajet_core import metrics as m

    stats_a = trainer.compute_gradients(samples_a)
    grads_a = gradients(trainer)
    stats_b = trainer.compute_gradients(samples_b)
    grads_b = gradients(trainer)
    trainer.optimizer.zero_grad(set_to_none=True)
    assert stats_a["train/tokens"] == stats_b["train/tokens"]
    assert abs(stats_a[m.LOSS] - stats_b[m.LOSS]) <= atol, (stats_a[m.LOSS], stats_b[m.LOSS])
    assert any(g.abs().max() > 0 for g in grads_a.values()), (
        "no gradient at all: the test is vacuous"
    )
    for name in grads_a:
        diff = float((grads_a[name] - grads_b[name]).abs().max())
        assert diff <= atol, f"gradient of {name} differs by {diff}"
    return stats_a, stats_b


def params_snapshot(model: Any) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in model.named_parameters()}


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """The tiny model is faster on one thread, and far faster when the machine is busy: on 2
    shared cores two OpenMP threads spin against other processes (measured 13x slower)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
