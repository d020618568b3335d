"""GRPO advantages: per-group normalisation copied onto samples; filtering of useless groups."""

from __future__ import annotations

import math

import pytest

from ajet_core.rollout.advantages import assign_grpo_advantages
from ajet_core.schema import EpisodeRecord, Sample, Task


def episode(
    group: str, reward: float | None, *, samples: int = 1, error: str | None = None
) -> EpisodeRecord:
    record = EpisodeRecord(
        episode_id=f"{group}-{reward}-{id(object())}", task=Task(task_id=group), group_key=group
    )
    record.reward = reward
    record.error = error
    record.samples = [
        Sample(input_ids=[1, 2], loss_mask=[0, 1], old_logprobs=[0.0, -1.0]) for _ in range(samples)
    ]
    return record


def test_advantages_are_normalised_within_each_group_and_copied_to_every_sample():
    a = [episode("a", r, samples=2) for r in (1.0, 0.0, 0.0, 1.0)]
    b = [episode("b", r) for r in (0.2, 0.4)]
    kept, stats = assign_grpo_advantages(a + b)
    assert stats.kept == 2 and len(kept) == 6
    std_a = math.sqrt(sum((r - 0.5) ** 2 for r in (1, 0, 0, 1)) / 3)
    assert a[0].advantage == pytest.approx(0.5 / std_a, rel=1e-5)
    assert a[1].advantage == pytest.approx(-0.5 / std_a, rel=1e-5)
    for record in a + b:
        assert all(
            s.advantage == record.advantage and s.group_key == record.group_key
            for s in record.samples
        )
    assert sum(e.advantage for e in b) == pytest.approx(0.0, abs=1e-9)


def test_equal_reward_groups_are_dropped_or_kept_as_configured():
    same = [episode("s", 1.0) for _ in range(3)]
    kept, stats = assign_grpo_advantages(same, equal_reward_groups="drop")
    assert kept == [] and stats.dropped_equal_reward == 1
    kept, stats = assign_grpo_advantages(same, equal_reward_groups="keep")
    assert len(kept) == 3 and all(e.advantage == 0.0 for e in kept)


def test_failed_episodes_never_enter_a_group_and_small_groups_are_dropped():
    group = [episode("g", 1.0), episode("g", 0.0, error="workflow raised ValueError")]
    kept, stats = assign_grpo_advantages(group, min_valid_group_size=2)
    assert kept == [] and stats.dropped_too_small == 1
    kept, _ = assign_grpo_advantages(group + [episode("g", 0.5)], min_valid_group_size=2)
    assert {e.reward for e in kept} == {1.0, 0.5}
