"""The ``ajet`` advantage estimator, registered in verl's estimator registry.

The core computes one advantage per episode (GRPO over the episode's group, with our handling of
equal-reward and small groups) and copies it to every sample the episode produced. verl's GRPO
would regroup rows by ``uid``, so an episode with three samples would count three times in its
group's mean. Instead each row carries its advantage as its reward score (on the last response
token, where verl puts scores); this estimator spreads it over the row's trained tokens.
Select it with ``algorithm.adv_estimator=ajet`` (the backbone's translation does).
"""

from __future__ import annotations

from typing import Any

import torch
from verl.trainer.ppo.core_algos import register_adv_est

ESTIMATOR_NAME = "ajet"


@register_adv_est(ESTIMATOR_NAME)
def precomputed_episode_advantage(
    token_level_rewards: torch.Tensor, response_mask: torch.Tensor, config: Any = None, **_: Any
) -> tuple[torch.Tensor, torch.Tensor]:
    """(advantages, returns): each row's score, on every token its mask trains."""
    per_row = token_level_rewards.sum(dim=-1, keepdim=True)
    advantages = per_row * response_mask
    return advantages, advantages
