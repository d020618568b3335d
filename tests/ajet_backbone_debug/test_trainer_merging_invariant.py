"""The merging invariant at the loss/gradient level (DESIGN section 6).

A multi-turn episode can be trained as one sample per LLM call (``per_call``) or as one merged
sample whose last prompt contains the earlier calls' prompts and replies (``timeline_merge``),
with the same tokens marked trained. Causal attention makes the logits of every trained token
identical in both forms; with token-mean loss and one normaliser per batch the loss and the
gradients must then be identical too. ``assert_same_loss_and_gradients`` takes any two lists of
Samples, so the core trackers' output can be checked with it as well.
"""

from __future__ import annotations

import pytest
import torch
from ajet_backbone_debug.training.trainer import PolicyTrainer

from ajet_core import metrics as m
from ajet_core.config.models import TrainerConfig
from ajet_core.schema import EpisodeRecord, LlmCall, Sample, Task
from ajet_core.tracking.per_call import PerCallTracker
from ajet_core.tracking.timeline_merge import TimelineMergeTracker

from .trainer_support import (
    TEMPERATURE,
    assert_same_loss_and_gradients,
    chat_prompt,
    load_tiny,
    one_torch_thread,  # noqa: F401 - autouse fixture
    sample_continuation,
)


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    torch.manual_seed(0)
    return load_tiny(tiny_model_dir)


def _turn_delta(tokenizer, text: str) -> list[int]:
    """Tokens a chat template adds after a reply: end of turn, a user turn, the next prompt."""
    rendered = f"<|im_end|>\n<|im_start|>user\n{text}<|im_end|>\n<|im_start|>assistant\n"
    return tokenizer.encode(rendered, add_special_tokens=False)


def build_episode(model, tokenizer, turns: list[str], advantage: float, seed: int, episode: str):
    """Sample a multi-turn episode; return (per-call samples, merged sample, calls)."""
    generator = torch.Generator().manual_seed(seed)
    prompt = chat_prompt(tokenizer, turns[0])
    per_call: list[Sample] = []
    calls: list[LlmCall] = []
    ids, mask, old = list(prompt), [0] * len(prompt), [0.0] * len(prompt)
    for index in range(len(turns)):
        response, logprobs = sample_continuation(model, ids, 6, TEMPERATURE, generator)
        # Off-policy old logprobs (a stale engine), so the ratio and clipping play a part.
        logprobs = [min(lp + 0.25 * ((len(ids) + i) % 3 - 1), 0.0) for i, lp in enumerate(logprobs)]
        per_call.append(
            Sample(
                input_ids=ids + response,
                loss_mask=[0] * len(ids) + [1] * len(response),
                old_logprobs=[0.0] * len(ids) + logprobs,
                advantage=advantage,
                episode_id=episode,
                call_ids=[f"{episode}-call{index}"],
            )
        )
        calls.append(
            LlmCall(
                call_id=f"{episode}-call{index}",
                agent="agent",
                target_tag="agent",
                trainable=True,
                prompt_ids=list(ids),
                response_ids=response,
                response_logprobs=logprobs,
                temperature=TEMPERATURE,
                finish_reason="length",
                messages=[],
            )
        )
        ids, mask, old = ids + response, mask + [1] * len(response), old + logprobs
        if index + 1 < len(turns):
            delta = _turn_delta(tokenizer, turns[index + 1])
            ids, mask, old = ids + delta, mask + [0] * len(delta), old + [0.0] * len(delta)
    merged = Sample(
        ids,
        mask,
        old,
        advantage=advantage,
        episode_id=episode,
        call_ids=[c for s in per_call for c in s.call_ids],
    )
    return per_call, merged, calls


@pytest.fixture(scope="module")
def episodes(tiny):
    model, tokenizer = tiny
    one = build_episode(
        model, tokenizer, ["Hi.", "And then?", "Thanks."], 1.0, seed=1, episode="e1"
    )
    two = build_episode(model, tokenizer, ["What is 3+4?", "Sure?"], -0.5, seed=2, episode="e2")
    per_call = one[0] + two[0]
    merged = [one[1], two[1]]
    records = [
        EpisodeRecord(episode_id=e, task=Task(), calls=calls, advantage=adv)
        for e, calls, adv in (("e1", one[2], 1.0), ("e2", two[2], -0.5))
    ]
    return per_call, merged, records


def test_episode_is_built_as_claimed(episodes):
    per_call, merged, _ = episodes
    assert len(per_call) == 5 and len(merged) == 2
    # Each earlier call's prompt + reply is a prefix of the merged sample, trained on the
    # same tokens.
    for sample in per_call:
        target = merged[0] if sample.episode_id == "e1" else merged[1]
        assert target.input_ids[: len(sample)] == sample.input_ids
    assert sum(s.num_trained_tokens for s in per_call) == sum(s.num_trained_tokens for s in merged)


@pytest.mark.parametrize("micro_batch_tokens", [100_000, 48])
def test_per_call_and_merged_give_the_same_loss_and_gradients(tiny, episodes, micro_batch_tokens):
    model, _ = tiny
    per_call, merged, _ = episodes
    trainer = PolicyTrainer(
        model,
        TrainerConfig(loss_agg="token_mean", micro_batch_tokens=micro_batch_tokens),
        temperature=TEMPERATURE,
    )
    stats, _ = assert_same_loss_and_gradients(trainer, per_call, merged)
    assert 0 < stats[m.CLIP_FRACTION] < 1  # the clipped branch is exercised too


def test_invariant_holds_with_kl_and_lora(tiny_model_dir):
    # A fresh model: LoRA injects its adapters into the model object in place.
    model, tokenizer = load_tiny(tiny_model_dir)
    per_call, merged, _ = build_episode(
        model, tokenizer, ["Hello!", "More."], 0.7, seed=4, episode="e3"
    )
    trainer = PolicyTrainer(
        model, TrainerConfig(kl_coef=0.1, lora={"rank": 4, "alpha": 8}), temperature=TEMPERATURE
    )
    # Move the adapters away from zero so the KL term and the LoRA-A gradients are non-trivial.
    with torch.no_grad():
        for _name, p in trainer.trainable_parameters():
            p.add_(torch.randn_like(p) * 0.02)
    stats, _ = assert_same_loss_and_gradients(trainer, per_call, [merged])
    assert stats[m.KL] > 0


def test_seq_mean_breaks_the_invariant(tiny, episodes):
    """Why the invariant needs token-mean: sequence-mean weighs the samples, not the tokens."""
    model, _ = tiny
    per_call, merged, _ = episodes
    trainer = PolicyTrainer(model, TrainerConfig(loss_agg="seq_mean"), temperature=TEMPERATURE)
    with pytest.raises(AssertionError):
        assert_same_loss_and_gradients(trainer, per_call, merged)


def test_core_trackers_samples_satisfy_the_invariant(tiny, episodes):
    """The same episodes through the core's per_call and timeline_merge trackers."""
    model, _ = tiny
    hand_per_call, hand_merged, records = episodes
    per_call = [s for r in records for s in PerCallTracker().build_samples(r)]
    merged = [s for r in records for s in TimelineMergeTracker().build_samples(r)]
    # The trackers build exactly the samples described above.
    assert [(s.input_ids, s.loss_mask, s.old_logprobs, s.advantage) for s in per_call] == [
        (s.input_ids, s.loss_mask, s.old_logprobs, s.advantage) for s in hand_per_call
    ]
    assert [(s.input_ids, s.loss_mask, s.old_logprobs) for s in merged] == [
        (s.input_ids, s.loss_mask, s.old_logprobs) for s in hand_merged
    ]
    trainer = PolicyTrainer(model, TrainerConfig(loss_agg="token_mean"), temperature=TEMPERATURE)
    assert_same_loss_and_gradients(trainer, per_call, merged)
