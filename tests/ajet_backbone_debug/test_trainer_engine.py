"""The trainer against the real TransformersEngine: same logprobs, and weights served in place.

The engine samples with a KV cache in a left-padded, continuously batched decode loop; the
trainer recomputes with one right-padded forward pass and logits only at trained positions.
Both must give log_softmax(logits / T) of the same tokens, so ``logprob_gap`` is ~0 — before the
first update and after it, which also shows the engine serves the updated module with no copy.
"""

from __future__ import annotations

import asyncio

import pytest
from ajet_backbone_debug.engine import TransformersEngine
from ajet_backbone_debug.training.trainer import PolicyTrainer

from ajet_core import metrics as m
from ajet_core.config.models import TrainerConfig
from ajet_core.engine import SamplingParams
from ajet_core.schema import Sample

from .trainer_support import one_torch_thread  # noqa: F401 - autouse fixture

TEMPERATURE = 0.7
QUESTIONS = [
    "What is 2 + 2?",
    "Name a fruit.",
    "Compute 7 * 8.",
    "Say hello.",
    "What is 10 - 3?",
    "Hi!",
]


@pytest.fixture
def engine(tiny_model_dir):
    eng = TransformersEngine.from_path(str(tiny_model_dir), max_model_len=512)
    yield eng
    eng.close()


async def rollout(engine, advantages, seed) -> list[Sample]:
    """Concurrent requests (they share the engine's batch), turned into Samples."""
    prompts = [
        engine.tokenizer.apply_chat_template(
            [{"role": "user", "content": QUESTIONS[i % len(QUESTIONS)]}],
            add_generation_prompt=True,
            return_dict=False,
        )
        for i in range(len(advantages))
    ]
    sampling = [
        SamplingParams(temperature=TEMPERATURE, max_tokens=24, seed=seed + i)
        for i in range(len(prompts))
    ]
    generations = await asyncio.gather(*(engine.generate(p, s) for p, s in zip(prompts, sampling)))
    return [
        Sample(
            input_ids=p + g.token_ids,
            loss_mask=[0] * len(p) + [1] * len(g.token_ids),
            old_logprobs=[0.0] * len(p) + g.logprobs,
            advantage=a,
        )
        for p, g, a in zip(prompts, generations, advantages)
    ]


async def test_engine_and_trainer_logprobs_agree_before_and_after_updates(engine):
    trainer = PolicyTrainer(
        engine.model,
        TrainerConfig(lr=1e-3, micro_batch_tokens=128),
        temperature=TEMPERATURE,
        exclusive=engine.paused,
    )
    advantages = [1.0, -1.0, 0.5, -0.5, 1.0, -1.0]
    for step in range(3):
        samples = await rollout(engine, advantages, seed=100 * step)
        assert len({len(s) for s in samples}) > 1  # ragged lengths: padding on both sides
        before = {n: p.detach().clone() for n, p in trainer.trainable_parameters()}
        metrics = await asyncio.to_thread(trainer.train_step, samples)
        assert metrics[m.LOGPROB_GAP] < 1e-5, (step, metrics)
        assert metrics["train/logprob_gap_max"] < 1e-4, (step, metrics)
        assert metrics["train/micro_batches"] > 1
        moved = max(
            float((p.detach() - before[n]).abs().max()) for n, p in trainer.trainable_parameters()
        )
        assert moved > 0
    assert trainer.step == 3 and not engine.model.training


async def test_lora_adapters_are_served_by_the_engine(engine):
    trainer = PolicyTrainer(
        engine.model,
        TrainerConfig(lr=1e-2, lora={"rank": 4, "alpha": 16}),
        temperature=TEMPERATURE,
        exclusive=engine.paused,
    )
    samples = await rollout(engine, [1.0, -1.0, 1.0, -1.0], seed=7)
    trainer.train_step(samples)
    trainer.train_step(samples)
    assert any(
        float(p.detach().abs().max()) > 0
        for n, p in trainer.trainable_parameters()
        if "lora_B" in n
    )
    # The engine's next samples carry the adapted policy's logprobs.
    fresh = await rollout(engine, [1.0, -1.0, 1.0, -1.0], seed=8)
    assert trainer.train_step(fresh)[m.LOGPROB_GAP] < 1e-5
    with trainer.peft_model.disable_adapter():
        base = trainer.sample_logprobs(fresh)
    engine_lps = [[lp for lp, k in zip(s.old_logprobs, s.loss_mask) if k] for s in fresh]
    base_gap = max(abs(a - b) for xs, ys in zip(base, engine_lps) for a, b in zip(xs, ys))
    assert base_gap > 1e-3  # without the adapters the logprobs differ: the engine served them
