"""Samples -> right-padded micro-batches that fit a token budget, with per-token loss weights.

Only tokens with ``loss_mask == 1`` are trained. Token ``i`` is predicted by the logits at
position ``i - 1``, so each micro-batch lists, for every trained token, its row, the position whose
logits predict it, its id, its old logprob, its advantage and its aggregation weight.

The weights make gradient accumulation exact: the batch loss is ``sum(weight * token_loss)`` over
all trained tokens of all micro-batches, so summing the micro-batch losses gives the loss of one
big batch, however the samples are split.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import torch

from ajet_core.schema import Sample

LossAgg = Literal["token_mean", "seq_mean"]


@dataclass
class MicroBatch:
    input_ids: torch.Tensor  # (rows, width), right-padded
    # (rows, width), 1 on real tokens; or, for prefix trees (see `prefix_tree`), a bool
    # (rows, 1, width, width) mask, True where a query token may attend to a key token
    attention_mask: torch.Tensor
    rows: torch.Tensor  # (n,) row of each trained token
    positions: torch.Tensor  # (n,) position whose logits predict it (token index - 1)
    targets: torch.Tensor  # (n,) the trained token ids
    old_logprobs: torch.Tensor  # (n,) the engine's logprobs of those tokens
    advantages: torch.Tensor  # (n,) the advantage of the token's sample
    weights: torch.Tensor  # (n,) aggregation weight of each token's loss
    sample_indices: list[int]  # which of the batch's samples (indices into its input) are here
    # (n,) index into sample_indices of each trained token's sample; None: the same as rows
    owners: torch.Tensor | None = None
    # (rows, width) position of each token in its sample; None: 0, 1, 2, ... along the row
    position_ids: torch.Tensor | None = None
    # tokens the model computes, padding excluded (None: every entry of input_ids is real)
    real_tokens: int | None = None
    # (n,) the policy version that sampled each trained token, -1 where unknown (see
    # Sample.versions); None when no sample of the micro-batch carries versions
    versions: torch.Tensor | None = None

    @property
    def sample_of_token(self) -> torch.Tensor:
        return self.rows if self.owners is None else self.owners

    @property
    def computed_tokens(self) -> int:
        if self.real_tokens is not None:
            return self.real_tokens
        return int(self.attention_mask.sum())

    @property
    def num_tokens(self) -> int:
        return int(self.targets.numel())

    @property
    def padded_tokens(self) -> int:
        return int(self.input_ids.numel())


@dataclass
class PackedBatch:
    micro_batches: list[MicroBatch]
    num_samples: int  # samples with at least one trained token
    num_tokens: int  # trained tokens in the whole batch (the token_mean normaliser)
    dropped_samples: int  # samples with no trained token (nothing to learn from)


def validate_samples(samples: Sequence[Sample], vocab_size: int | None = None) -> None:
    """Reject malformed samples with an error that names the sample and the field."""
    for index, sample in enumerate(samples):
        where = f"sample {index} (episode {sample.episode_id!r}, calls {sample.call_ids})"
        n = len(sample.input_ids)
        if len(sample.loss_mask) != n or len(sample.old_logprobs) != n:
            raise ValueError(
                f"{where}: input_ids, loss_mask and old_logprobs must have the same length, got "
                f"{n}, {len(sample.loss_mask)} and {len(sample.old_logprobs)}; old_logprobs are "
                "aligned with input_ids (0.0 where loss_mask is 0)"
            )
        if n and sample.loss_mask[0]:
            raise ValueError(
                f"{where}: loss_mask[0] is 1, but the first token has no context to be predicted "
                "from; a trained token must follow at least one prompt token"
            )
        if any(m not in (0, 1) for m in sample.loss_mask):
            raise ValueError(f"{where}: loss_mask values must be 0 or 1")
        if sample.versions is not None and len(sample.versions) != n:
            raise ValueError(
                f"{where}: versions has {len(sample.versions)} entries for {n} tokens; it is "
                "aligned with input_ids (-1 where loss_mask is 0)"
            )
        if not math.isfinite(sample.advantage):
            raise ValueError(f"{where}: advantage is {sample.advantage}; it must be finite")
        for i, (m, lp) in enumerate(zip(sample.loss_mask, sample.old_logprobs)):
            if m and not (math.isfinite(lp) and lp <= 1e-4):
                raise ValueError(
                    f"{where}: old_logprobs[{i}] = {lp} on a trained token; a logprob must be "
                    "finite and <= 0"
                )
        if vocab_size is not None and n:
            low, high = min(sample.input_ids), max(sample.input_ids)
            if low < 0 or high >= vocab_size:
                raise ValueError(
                    f"{where}: token id {high if high >= vocab_size else low} is outside the "
                    f"model's vocabulary [0, {vocab_size}); were the samples made with another "
                    "model's tokenizer?"
                )


def plan_micro_batches(lengths: Sequence[int], budget: int) -> list[list[int]]:
    """Group sample indices so that rows x longest row <= ``budget`` padded tokens.

    Longest first, so each micro-batch's width is set by its first sample and padding stays
    small. A sample longer than the budget gets a micro-batch of its own (it cannot be split
    here; the tracker's ``max_sample_tokens`` bounds it).
    """
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    groups: list[list[int]] = []
    width = 0
    for index in order:
        if groups and (len(groups[-1]) + 1) * width <= budget:
            groups[-1].append(index)
        else:
            groups.append([index])
            width = lengths[index]
    return groups


def pack_samples(
    samples: Sequence[Sample],
    micro_batch_tokens: int,
    loss_agg: LossAgg,
    pad_token_id: int = 0,
    device: torch.device | str = "cpu",
) -> PackedBatch:
    trained = canonical_order(samples)
    num_tokens = sum(samples[i].num_trained_tokens for i in trained)
    micro_batches: list[MicroBatch] = []
    for group in plan_micro_batches([len(samples[i]) for i in trained], micro_batch_tokens):
        indices = [trained[k] for k in group]
        micro_batches.append(
            _build(samples, indices, loss_agg, num_tokens, len(trained), pad_token_id, device)
        )
    return PackedBatch(micro_batches, len(trained), num_tokens, len(samples) - len(trained))


def canonical_order(samples: Sequence[Sample]) -> list[int]:
    """Indices of the samples with a trained token, in an order set by content, not arrival.

    Episodes that finish in a different order in a resumed run must give bit-identical float
    sums, hence the same micro-batches in the same order.
    """
    return sorted(
        (i for i, s in enumerate(samples) if any(s.loss_mask)),
        key=lambda i: _canonical_key(samples[i]),
    )


def _canonical_key(sample: Sample) -> tuple:
    return (-len(sample), sample.input_ids, sample.loss_mask, sample.advantage, sample.old_logprobs)


def token_weight(sample: Sample, loss_agg: LossAgg, batch_tokens: int, batch_samples: int) -> float:
    """The aggregation weight of each trained token of ``sample``.

    token_mean: one normaliser for the whole batch (so merged, per-call and packed samples of
    the same episodes give the same loss); seq_mean: each sample's mean counts once.
    """
    if loss_agg == "token_mean":
        return 1.0 / batch_tokens
    return 1.0 / (batch_samples * sample.num_trained_tokens)


@dataclass
class TrainedTokens:
    """The per-token columns of a micro-batch (see `MicroBatch`), gathered sample by sample: the
    row and position of every trained token, its id, old logprob, advantage and weight."""

    rows: list[int] = field(default_factory=list)
    positions: list[int] = field(default_factory=list)
    targets: list[int] = field(default_factory=list)
    old_logprobs: list[float] = field(default_factory=list)
    advantages: list[float] = field(default_factory=list)
    weights: list[float] = field(default_factory=list)
    versions: list[int] = field(default_factory=list)
    versioned: bool = False

    def add(
        self, sample: Sample, row: int, weight: float, slot_of: Sequence[int] | None = None
    ) -> int:
        """Add the trained tokens of ``sample``, laid out in ``row``; token ``i`` is predicted by
        the logits at slot ``slot_of[i - 1]`` of the row (``i - 1`` when None). Returns how
        many tokens were added."""
        added = 0
        for i, trained in enumerate(sample.loss_mask):
            if trained:
                self.rows.append(row)
                self.positions.append(i - 1 if slot_of is None else slot_of[i - 1])
                self.targets.append(sample.input_ids[i])
                self.old_logprobs.append(sample.old_logprobs[i])
                self.advantages.append(sample.advantage)
                self.weights.append(weight)
                self.versions.append(sample.versions[i] if sample.versions is not None else -1)
                added += 1
        self.versioned = self.versioned or sample.versions is not None
        return added

    def tensors(self, device: torch.device | str) -> dict[str, torch.Tensor]:
        """The columns as `MicroBatch` keyword arguments."""
        long, f32 = torch.long, torch.float32
        return {
            "rows": torch.tensor(self.rows, dtype=long, device=device),
            "positions": torch.tensor(self.positions, dtype=long, device=device),
            "targets": torch.tensor(self.targets, dtype=long, device=device),
            "old_logprobs": torch.tensor(self.old_logprobs, dtype=f32, device=device),
            "advantages": torch.tensor(self.advantages, dtype=f32, device=device),
            "weights": torch.tensor(self.weights, dtype=f32, device=device),
            "versions": (
                torch.tensor(self.versions, dtype=long, device=device) if self.versioned else None
            ),
        }


def _build(
    samples: Sequence[Sample],
    group: list[int],
    loss_agg: LossAgg,
    batch_tokens: int,
    batch_samples: int,
    pad_token_id: int,
    device: torch.device | str,
) -> MicroBatch:
    width = max(len(samples[i]) for i in group)
    input_ids = torch.full((len(group), width), pad_token_id, dtype=torch.long)
    attention_mask = torch.zeros((len(group), width), dtype=torch.long)
    trained = TrainedTokens()
    for row, index in enumerate(group):
        sample = samples[index]
        input_ids[row, : len(sample)] = torch.tensor(sample.input_ids, dtype=torch.long)
        attention_mask[row, : len(sample)] = 1
        trained.add(sample, row, token_weight(sample, loss_agg, batch_tokens, batch_samples))
    return MicroBatch(
        input_ids=input_ids.to(device),
        attention_mask=attention_mask.to(device),
        **trained.tensors(device),
        sample_indices=list(group),
    )
