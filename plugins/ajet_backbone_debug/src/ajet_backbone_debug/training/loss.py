"""Per-token PPO-clip policy loss and the low-variance KL estimator.

Both return per-token values; the caller weights and sums them (see ``batching``), so the same
functions serve token-mean and sequence-mean aggregation.
"""

from __future__ import annotations

import torch

# exp(20) is far beyond any clip range; the bound only keeps a wild old logprob from making inf.
_MAX_LOG_RATIO = 20.0


def ppo_clip_loss(
    logprobs: torch.Tensor,
    old_logprobs: torch.Tensor,
    advantages: torch.Tensor,
    clip_low: float,
    clip_high: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(loss per token, 1.0 where the clipped branch was taken).

    loss = max(-A * r, -A * clip(r, 1 - low, 1 + high)) with r = exp(logp - old_logp): the
    pessimistic bound of PPO, so a token whose ratio already moved past the trust region in the
    advantage's direction contributes no gradient.
    """
    log_ratio = (logprobs - old_logprobs).clamp(-_MAX_LOG_RATIO, _MAX_LOG_RATIO)
    ratio = torch.exp(log_ratio)
    unclipped = -advantages * ratio
    clipped = -advantages * ratio.clamp(1.0 - clip_low, 1.0 + clip_high)
    loss = torch.maximum(unclipped, clipped)
    return loss, (clipped > unclipped).float()


def kl_low_variance(logprobs: torch.Tensor, ref_logprobs: torch.Tensor) -> torch.Tensor:
    """KL(policy || reference) per token, estimated from the sampled token (Schulman's k3).

    k3 = exp(ref - logp) - (ref - logp) - 1 is unbiased for tokens sampled from the policy,
    never negative, and has lower variance than ``logp - ref``.
    """
    delta = (ref_logprobs - logprobs).clamp(-_MAX_LOG_RATIO, _MAX_LOG_RATIO)
    return torch.exp(delta) - delta - 1.0
