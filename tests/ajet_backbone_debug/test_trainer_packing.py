"""Prefix-tree packing on the real tiny model: the same loss and gradients, fewer tokens computed.

Every comparison trains one batch twice from the same weights, once unpacked (one padded row per
sample) and once packed as prefix trees, in float32, and checks the loss to 1e-5 and the gradient
norm to 1e-4 (each parameter's gradient to 1e-5 as well). The batches are a GRPO group (samples
sharing a prompt) and a branched episode (a retry, a fork, a rewritten memory, three agents
sharing a transcript), with off-policy old logprobs so that clipping takes part.
"""

from __future__ import annotations

import pytest
import torch
from ajet_backbone_debug.training.batching import pack_samples
from ajet_backbone_debug.training.prefix_tree import build_trees, pack_prefix_trees
from ajet_backbone_debug.training.trainer import PolicyTrainer

from ajet_core import metrics as m
from ajet_core.config.models import TrainerConfig
from ajet_core.schema import Sample

from .trainer_support import (
    TEMPERATURE,
    chat_prompt,
    gradients,
    load_tiny,
    one_torch_thread,  # noqa: F401 - autouse fixture
    sample_continuation,
)


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    torch.manual_seed(0)
    return load_tiny(tiny_model_dir)


def _stale(logprobs: list[float], offset: int) -> list[float]:
    """Off-policy old logprobs (a stale engine), so the ratio and clipping play a part."""
    return [min(lp + 0.3 * ((offset + i) % 3 - 1), 0.0) for i, lp in enumerate(logprobs)]


def _extend(model, sample: Sample | None, ids: list[int], new: int, gen, trained=True) -> Sample:
    """``sample`` (or nothing) + the context tokens ``ids`` + ``new`` tokens the model samples."""
    base_ids = (sample.input_ids if sample else []) + ids
    mask = (sample.loss_mask if sample else []) + [0] * len(ids)
    old = (sample.old_logprobs if sample else []) + [0.0] * len(ids)
    reply, logprobs = sample_continuation(model, base_ids, new, TEMPERATURE, gen)
    return Sample(
        input_ids=base_ids + reply,
        loss_mask=mask + [1 if trained else 0] * len(reply),
        old_logprobs=old + (_stale(logprobs, len(base_ids)) if trained else [0.0] * len(reply)),
        advantage=0.0,
    )


def _with_advantage(sample: Sample, advantage: float) -> Sample:
    return Sample(sample.input_ids, sample.loss_mask, sample.old_logprobs, advantage=advantage)


@pytest.fixture(scope="module")
def grpo_group(tiny) -> list[Sample]:
    """Six samples of one task: one prompt, six sampled replies, GRPO-like advantages."""
    model, tokenizer = tiny
    gen = torch.Generator().manual_seed(3)
    prompt = chat_prompt(tokenizer, "Move the piece from the top-left corner to the goal. " * 3)
    advantages = [1.2, -0.8, 0.4, -1.1, 0.9, -0.6]
    return [_with_advantage(_extend(model, None, prompt, 10, gen), a) for a in advantages]


@pytest.fixture(scope="module")
def branched_episode(tiny) -> list[Sample]:
    """The samples one branched episode gives after timeline merging.

    - the main timeline: prompt, reply 1, user turn, reply 2;
    - a retry of turn 2 (same history up to reply 1, which is trained in both samples);
    - a fork right after the prompt;
    - a rewritten memory: the system prompt kept, the history replaced by a summary;
    - three agents, each with its own instruction after a shared transcript.
    """
    model, tokenizer = tiny
    gen = torch.Generator().manual_seed(11)
    encode = tokenizer.encode
    prompt = chat_prompt(tokenizer, "Plan a route through the frozen lake and explain it.")
    turn = encode("<|im_end|>\n<|im_start|>user\nAnd then?<|im_end|>\n<|im_start|>assistant\n")
    first = _extend(model, None, prompt, 8, gen)
    main = _extend(model, first, turn, 8, gen)
    retry = _extend(model, first, turn, 8, gen)
    fork = _extend(model, None, prompt, 9, gen)
    memory = _extend(model, None, prompt[:24] + encode(" Summary: went right twice."), 7, gen)
    transcript = encode("<|im_start|>user\nShared transcript of the team so far.<|im_end|>\n")
    agents = [
        _extend(model, None, transcript + encode(f"<|im_start|>{who}\n"), 6, gen)
        for who in ("planner", "coder", "reviewer")
    ]
    advantages = [1.0, -0.5, 0.7, -1.2, 0.3, -0.9, 1.4]
    samples = [main, retry, fork, memory, *agents]
    return [_with_advantage(s, a) for s, a in zip(samples, advantages)]


def _trie_size(samples: list[Sample]) -> int:
    """Distinct token prefixes of the samples: the nodes a prefix tree of them must have."""
    return len({tuple(s.input_ids[: k + 1]) for s in samples for k in range(len(s))})


def _compare(model, samples, **config):
    """(unpacked stats, packed stats, unpacked grads, packed grads) from the same weights."""
    out = {}
    for packing in ("none", "prefix_tree"):
        trainer = PolicyTrainer(
            model, TrainerConfig(**{"lr": 1e-3, **config}), temperature=TEMPERATURE, packing=packing
        )
        stats = trainer.compute_gradients(samples)
        out[packing] = (stats, gradients(trainer))
        trainer.optimizer.zero_grad(set_to_none=True)
    (plain, plain_grads), (packed, packed_grads) = out["none"], out["prefix_tree"]
    return plain, packed, plain_grads, packed_grads


def _norm(grads: dict[str, torch.Tensor]) -> float:
    return float(torch.sqrt(sum((g.double() ** 2).sum() for g in grads.values())))


def _assert_same(plain, packed, plain_grads, packed_grads):
    assert packed[m.TRAIN_TOKENS] == plain[m.TRAIN_TOKENS]
    assert abs(packed[m.LOSS] - plain[m.LOSS]) <= 1e-5, (plain[m.LOSS], packed[m.LOSS])
    assert abs(packed[m.CLIP_FRACTION] - plain[m.CLIP_FRACTION]) <= 1e-6
    assert abs(packed[m.ENTROPY] - plain[m.ENTROPY]) <= 1e-5
    norm = _norm(plain_grads)
    assert norm > 1e-3, "no gradient at all: the comparison is vacuous"
    assert abs(_norm(packed_grads) - norm) <= 1e-4, (norm, _norm(packed_grads))
    for name, grad in plain_grads.items():
        diff = float((grad - packed_grads[name]).abs().max())
        assert diff <= 1e-5, f"gradient of {name} differs by {diff}"


@pytest.mark.parametrize("loss_agg", ["token_mean", "seq_mean"])
def test_grpo_group_packed_equals_unpacked(tiny, grpo_group, loss_agg):
    model, _ = tiny
    plain, packed, plain_grads, packed_grads = _compare(model, grpo_group, loss_agg=loss_agg)
    _assert_same(plain, packed, plain_grads, packed_grads)
    assert 0 < plain[m.CLIP_FRACTION] < 1  # the clipped branch is exercised too
    # The prompt is computed once: packed positions = nodes of the group's prefix tree.
    assert packed[m.COMPUTED_TOKENS] == _trie_size(grpo_group)
    assert plain[m.COMPUTED_TOKENS] == sum(len(s) for s in grpo_group)
    assert packed[m.COMPUTED_TOKENS] < 0.5 * plain[m.COMPUTED_TOKENS]


@pytest.mark.parametrize("micro_batch_tokens", [100_000, 120])
def test_branched_episode_packed_equals_unpacked(tiny, branched_episode, micro_batch_tokens):
    """Retry, fork, memory rewrite and three agents; a small budget splits the trees."""
    model, _ = tiny
    plain, packed, plain_grads, packed_grads = _compare(
        model, branched_episode, micro_batch_tokens=micro_batch_tokens
    )
    _assert_same(plain, packed, plain_grads, packed_grads)
    assert packed[m.COMPUTED_TOKENS] < plain[m.COMPUTED_TOKENS]
    if micro_batch_tokens == 120:
        assert packed[m.MICRO_BATCHES] > 1


def test_branched_episode_trees_share_exactly_the_common_prefixes(branched_episode):
    """The episode's samples form two trees (the timeline's and the agents'), whose sizes are
    those of their own tries; a trained token shared by two samples is trained twice."""
    order = list(range(len(branched_episode)))
    trees = build_trees(branched_episode, order, budget=100_000)
    assert len(trees) == 2
    for tree in trees:
        members = [branched_episode[i] for i in tree.sample_indices]
        assert len(tree) == _trie_size(members)
    packed = pack_prefix_trees(branched_episode, 100_000, "token_mean")
    # Reply 1 is trained in the main timeline and in the retry: its entries appear twice, at the
    # same packed positions.
    assert packed.num_tokens == sum(s.num_trained_tokens for s in branched_episode)
    (mb,) = packed.micro_batches
    assert mb.num_tokens == packed.num_tokens
    assert mb.attention_mask.dim() == 4
    assert len({(int(r), int(p)) for r, p in zip(mb.rows, mb.positions)}) < mb.num_tokens


def test_kl_and_recomputed_old_logprobs_packed_equal_unpacked(tiny_model_dir, branched_episode):
    """The reference and old-logprob passes run on the packed batch too."""
    model, _ = load_tiny(tiny_model_dir)
    with torch.no_grad():  # move away from the reference so that the KL term is non-zero
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.01)
    plain, packed, plain_grads, packed_grads = _compare(
        model, branched_episode, kl_coef=0.1, recompute_logprobs=True
    )
    # kl_coef > 0 deep-copies the model at construction: both trainers start from these weights.
    _assert_same(plain, packed, plain_grads, packed_grads)
    assert abs(packed[m.LOGPROB_GAP] - plain[m.LOGPROB_GAP]) <= 1e-5


def test_sample_logprobs_come_back_per_sample(tiny, branched_episode):
    model, _ = tiny
    results = [
        PolicyTrainer(
            model, TrainerConfig(), temperature=TEMPERATURE, packing=packing
        ).sample_logprobs(branched_episode)
        for packing in ("none", "prefix_tree")
    ]
    for plain, packed, sample in zip(*results, branched_episode):
        assert len(packed) == sample.num_trained_tokens
        assert packed == pytest.approx(plain, abs=1e-5)


def test_eager_attention_gets_an_additive_mask(tiny_model_dir, grpo_group):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(
        tiny_model_dir, dtype=torch.float32, attn_implementation="eager"
    )
    _assert_same(*_compare(model, grpo_group))


def test_samples_sharing_nothing_stay_plain_rows(tiny, grpo_group):
    """No sharing: the unpacked layout exactly (2D mask, no position ids), nothing computed
    twice and no wider attention matrix."""
    model, tokenizer = tiny
    gen = torch.Generator().manual_seed(5)
    lone = [
        _with_advantage(_extend(model, None, tokenizer.encode(text), 6, gen), 1.0)
        for text in ("apples and pears", "the quick brown fox")
    ]
    packed = pack_prefix_trees(lone, 100_000, "token_mean")
    plain = pack_samples(lone, 100_000, "token_mean")
    (mb,), (plain_mb,) = packed.micro_batches, plain.micro_batches
    assert mb.attention_mask.dim() == 2 and mb.position_ids is None
    assert mb.computed_tokens == plain_mb.computed_tokens == sum(len(s) for s in lone)


def test_trees_stay_within_the_token_budget(grpo_group):
    budget = _trie_size(grpo_group) - 1  # one node short of the whole group
    trees = build_trees(grpo_group, range(len(grpo_group)), budget=budget)
    assert len(trees) > 1
    assert all(len(t) <= budget for t in trees)
    assert sorted(i for t in trees for i in t.sample_indices) == list(range(len(grpo_group)))


def test_an_attention_without_custom_masks_is_a_clear_error(tiny_model_dir):
    model, _ = load_tiny(tiny_model_dir)
    model.config._attn_implementation_internal = "flash_attention_2"
    with pytest.raises(ValueError, match="backbone.packing=none"):
        PolicyTrainer(model, TrainerConfig(), temperature=TEMPERATURE)
    PolicyTrainer(model, TrainerConfig(), temperature=TEMPERATURE, packing="none")
