"""GRPO advantages, computed once in the core so every backbone trains the same numbers.

An episode's advantage is its reward normalised within its group — the draws of one task at one
step — and is copied onto every sample the episode produced (DESIGN section 6).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, fields

from ajet_core.schema import EpisodeRecord

EPSILON = 1e-6


@dataclass
class GroupStats:
    """What happened to the groups of one batch (reported as metrics)."""

    groups: int = 0
    kept: int = 0
    dropped_equal_reward: int = 0
    dropped_too_small: int = 0
    kept_keys: list[str] = field(default_factory=list)

    @classmethod
    def combined(cls, parts: Iterable[GroupStats]) -> GroupStats:
        """The stats of several batches judged apart (async mode judges each group alone)."""
        total = cls()
        for part in parts:
            for name in (f.name for f in fields(cls)):
                setattr(total, name, getattr(total, name) + getattr(part, name))
        return total


def group_episodes(episodes: list[EpisodeRecord]) -> dict[str, list[EpisodeRecord]]:
    groups: dict[str, list[EpisodeRecord]] = defaultdict(list)
    for episode in episodes:
        groups[episode.group_key].append(episode)
    return dict(groups)


def assign_grpo_advantages(
    episodes: list[EpisodeRecord],
    *,
    equal_reward_groups: str = "drop",
    min_valid_group_size: int = 2,
    normalise_std: bool = True,
) -> tuple[list[EpisodeRecord], GroupStats]:
    """Set ``advantage`` on each valid episode and its samples; return the episodes to train on.

    Failed episodes (``error`` set) never enter a group. A group with fewer than
    ``min_valid_group_size`` valid members is dropped (its mean would be the member itself). A group
    whose rewards are all equal has zero advantage everywhere: ``drop`` leaves it out of the batch,
    ``keep`` trains it (only a KL term would act), ``refill`` is handled by the runner (it asks for
    more tasks) and behaves like ``drop`` here.
    """
    stats = GroupStats()
    kept: list[EpisodeRecord] = []
    # A non-finite reward (the runner fails those; records from elsewhere may carry one) would
    # make the whole group's advantages NaN: such an episode is treated as failed.
    valid = [e for e in episodes if e.ok and math.isfinite(float(e.reward or 0.0))]
    for key, members in group_episodes(valid).items():
        stats.groups += 1
        if len(members) < min_valid_group_size:
            stats.dropped_too_small += 1
            continue
        rewards = [float(e.reward if e.reward is not None else 0.0) for e in members]
        mean = sum(rewards) / len(rewards)
        spread = max(rewards) - min(rewards)
        if spread <= EPSILON and equal_reward_groups != "keep":
            stats.dropped_equal_reward += 1
            continue
        std = (
            math.sqrt(sum((r - mean) ** 2 for r in rewards) / (len(rewards) - 1))
            if len(rewards) > 1
            else 0.0
        )
        for episode, reward in zip(members, rewards):
            advantage = reward - mean
            if normalise_std:
                advantage /= std + EPSILON
            episode.advantage = advantage
            for sample in episode.samples:
                sample.advantage = advantage
                sample.reward = reward
                sample.group_key = key
        stats.kept += 1
        stats.kept_keys.append(key)
        kept.extend(members)
    return kept, stats
