"""The off-policy objective of asynchronous training, on the real tiny model.

Tokens sampled by an older policy version (``Sample.versions`` behind the trainer's step) are
trained with decoupled PPO: the clip is taken around the proximal policy (the weights at the start
of the step, recomputed) and each token's loss is weighted by the truncated behaviour importance
weight ``min(pi_proximal / pi_behaviour, cap)``. Tokens the current weights sampled are trained
exactly as in synchronous training.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch
from ajet_backbone_debug.training.trainer import PolicyTrainer

from ajet_core import metrics as m
from ajet_core.config.models import TrainerConfig

from .trainer_support import (
    TEMPERATURE,
    chat_prompt,
    gradients,
    load_tiny,
    one_torch_thread,  # noqa: F401 - autouse fixture
    sampled_sample,
)


@pytest.fixture
def tiny(tiny_model_dir):
    torch.manual_seed(0)
    return load_tiny(tiny_model_dir)


def batch(model, tokenizer, advantages, seed=0):
    generator = torch.Generator().manual_seed(seed)
    questions = ["What is 2+3?", "Name a colour.", "Say hi.", "Count to three please."]
    return [
        sampled_sample(model, chat_prompt(tokenizer, questions[i % 4]), 10, adv, generator)
        for i, adv in enumerate(advantages)
    ]


def with_versions(samples, version_of_token):
    """Copies of ``samples`` whose trained tokens carry ``version_of_token(i)`` (-1 elsewhere)."""
    out = []
    for sample in samples:
        trained = [i for i, k in enumerate(sample.loss_mask) if k]
        versions = [-1] * len(sample)
        for rank, i in enumerate(trained):
            versions[i] = version_of_token(rank)
        out.append(dataclasses.replace(sample, versions=versions))
    return out


def trainer_for(model, **overrides) -> PolicyTrainer:
    return PolicyTrainer(model, TrainerConfig(**{"lr": 1e-3, **overrides}), temperature=TEMPERATURE)


def test_samples_of_the_current_version_train_exactly_as_synchronous_ones(tiny):
    """max_staleness=0 trains only current-version tokens: bit for bit the sync loss and grads."""
    model, tokenizer = tiny
    samples = batch(model, tokenizer, [1.0, -1.0, 0.5, -0.5])
    trainer = trainer_for(model)
    sync = trainer.compute_gradients(samples)
    sync_grads = gradients(trainer)
    current = trainer.compute_gradients(with_versions(samples, lambda _: trainer.step))
    current_grads = gradients(trainer)
    assert any(g.abs().max() > 0 for g in sync_grads.values())
    assert current[m.LOSS] == sync[m.LOSS]
    assert current[m.STALE_TOKEN_FRACTION] == 0.0
    for name, grad in sync_grads.items():
        assert torch.equal(grad, current_grads[name]), name


def test_stale_tokens_get_the_decoupled_objective_computed_by_hand(tiny):
    """Version 0 samples trained at version 1: the loss, its gradient and the behaviour weights
    equal a hand computation (plain forward per sample, no packing)."""
    model, tokenizer = tiny
    old_samples = batch(model, tokenizer, [1.0, -1.0, 0.7], seed=1)  # behaviour: version 0
    # Below 1, so that several tokens are truncated (one step at lr 1e-3 moves them little).
    cap = 0.999
    trainer = trainer_for(model, behaviour_weight_cap=cap, lr=1e-3)
    trainer.train_step(batch(model, tokenizer, [1.0, -1.0, 1.0, -1.0], seed=2))
    assert trainer.step == 1  # the weights moved: version 0 tokens are one version stale
    # Half of each sample's tokens stale (version 0), half sampled by version 1 (a reply that
    # spans an in-flight update; their recorded logprobs are then not version 1's, which is
    # what makes the on-policy branch visible: it keeps the recorded logprob as the anchor).
    samples = with_versions(old_samples, lambda rank: 0 if rank % 2 == 0 else 1)

    stats = trainer.compute_gradients(samples)
    trainer_grads = gradients(trainer)

    trainer.optimizer.zero_grad(set_to_none=True)
    tokens = sum(s.num_trained_tokens for s in samples)
    hand_loss = torch.zeros(())
    weights_on_stale = []
    for sample in samples:
        ids = torch.tensor([sample.input_ids])
        logits = model(input_ids=ids).logits[0, :-1].float() / TEMPERATURE
        logp_all = torch.log_softmax(logits, dim=-1)
        positions = [i for i, k in enumerate(sample.loss_mask) if k]
        logp = torch.stack([logp_all[i - 1, sample.input_ids[i]] for i in positions])
        behaviour = torch.tensor([sample.old_logprobs[i] for i in positions])
        stale = torch.tensor([sample.versions[i] < 1 for i in positions])
        proximal = torch.where(stale, logp.detach(), behaviour)
        weight = torch.where(
            stale, torch.exp(proximal - behaviour).clamp(max=cap), torch.ones_like(behaviour)
        )
        weights_on_stale += weight[stale].tolist()
        ratio = torch.exp(logp - proximal)
        advantage = torch.full_like(ratio, sample.advantage)
        per_token = torch.maximum(-advantage * ratio, -advantage * ratio.clamp(0.8, 1.2))
        hand_loss = hand_loss + (weight * per_token).sum() / tokens
    hand_loss.backward()
    hand_grads = gradients(trainer)

    truncated = sum(1 for w in weights_on_stale if w >= cap - 1e-6)
    assert 0 < truncated < len(weights_on_stale)
    assert stats[m.STALE_TOKEN_FRACTION] == pytest.approx(len(weights_on_stale) / tokens)
    assert stats[m.BEHAVIOUR_WEIGHT_MEAN] == pytest.approx(
        sum(weights_on_stale) / len(weights_on_stale), abs=1e-6
    )
    assert stats[m.LOSS] == pytest.approx(float(hand_loss.detach()), abs=1e-6)
    for name, grad in hand_grads.items():
        diff = float((grad - trainer_grads[name]).abs().max())
        assert diff < 1e-5, f"gradient of {name} differs from the hand computation by {diff}"
    assert any(g.abs().max() > 0 for g in hand_grads.values())


def test_the_logprob_gap_alarm_ignores_stale_tokens(tiny):
    """A stale token's logprob moved because the policy did; that is not a mismatch."""
    model, tokenizer = tiny
    old_samples = batch(model, tokenizer, [1.0, -1.0], seed=3)
    trainer = trainer_for(model, lr=1e-2)
    trainer.train_step(batch(model, tokenizer, [1.0, -1.0], seed=4))
    stale = trainer.compute_gradients(with_versions(old_samples, lambda _: 0))
    assert stale[m.STALE_TOKEN_FRACTION] == 1.0
    assert stale[m.LOGPROB_GAP] == 0.0
    # The same tokens claimed as sampled by these weights: the gap shows the moved policy.
    claimed = trainer.compute_gradients(with_versions(old_samples, lambda _: 1))
    assert claimed[m.LOGPROB_GAP] > 1e-3


def test_a_sample_whose_versions_do_not_line_up_is_a_clear_error(tiny):
    model, tokenizer = tiny
    (sample,) = batch(model, tokenizer, [1.0])
    bad = dataclasses.replace(sample, versions=[0] * (len(sample) - 1))
    with pytest.raises(ValueError, match="versions has .* entries for .* tokens"):
        trainer_for(model).train_step([bad])
