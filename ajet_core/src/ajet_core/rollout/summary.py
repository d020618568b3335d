"""Turn a step's episode records into the metrics named in :mod:`ajet_core.metrics`."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from typing import Any

from ajet_core import metrics as m
from ajet_core.rollout.advantages import GroupStats, group_episodes
from ajet_core.rollout.runner import EVAL_MODE, failure_reason
from ajet_core.rollout.turn_metrics import turn_metrics
from ajet_core.schema import EpisodeRecord, Sample


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def _pstdev(values: list[float]) -> float:
    if len(values) < 2:
        return 0.0
    mean = _mean(values)
    return math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))


def _valid(episodes: list[EpisodeRecord]) -> list[EpisodeRecord]:
    # The runner fails non-finite rewards; this guard keeps records from elsewhere (the episode
    # spool, older runs) from turning a step's statistics into NaN.
    return [e for e in episodes if e.ok and math.isfinite(float(e.reward or 0.0))]


def failure_metrics(episodes: list[EpisodeRecord]) -> dict[str, int]:
    """``rollout/episodes_failed/<reason>`` for every reason (zeros included, so each series is
    continuous in the loggers)."""
    counts = Counter(failure_reason(e) for e in episodes if not e.ok)
    return {m.failed_metric(reason): counts.get(reason, 0) for reason in m.FAILURE_REASONS}


def _gateway(episode: EpisodeRecord) -> dict[str, Any]:
    """What the gateway recorded about the episode's calls (see Gateway.close_episode)."""
    return episode.metadata.get("gateway") or {}


def staleness_summary(ages: list[int]) -> dict[str, float]:
    """``samples/staleness_mean|max`` of samples ``ages`` policy versions old (zeros if none)."""
    if not ages:
        return {m.STALENESS_MEAN: 0.0, m.STALENESS_MAX: 0.0}
    return {m.STALENESS_MEAN: sum(ages) / len(ages), m.STALENESS_MAX: float(max(ages))}


def rollout_metrics(episodes: list[EpisodeRecord], seconds: float) -> dict[str, Any]:
    valid = _valid(episodes)
    rewards = [float(e.reward or 0.0) for e in valid]
    response_tokens = sum(len(c.response_ids) for e in episodes for c in e.calls)
    result: dict[str, Any] = {
        m.EPISODES: len(episodes),
        m.EPISODES_FAILED: len(episodes) - len(valid),
        m.EPISODES_TIMED_OUT: sum(1 for e in episodes if e.metadata.get("timed_out")),
        m.EPISODES_EXPIRED: sum(e.metadata.get("leases_expired", 0) for e in episodes),
        m.ENGINE_RETRIES: sum(e.metadata.get("attempts", 1) - 1 for e in episodes),
        m.REWARD_MEAN: _mean(rewards),
        m.REWARD_STD: _pstdev(rewards),
        m.SUCCESS_RATE: _mean([1.0 if e.is_success else 0.0 for e in valid]),
        m.LLM_CALLS: sum(len(e.calls) for e in episodes),
        m.RESPONSE_TOKENS: response_tokens,
        m.TOKENS_PER_SECOND: response_tokens / seconds if seconds > 0 else 0.0,
        m.DRIFT_FALLBACKS: sum(e.drift_fallbacks for e in episodes),
        m.MALFORMED_TOOL_CALLS: sum(_gateway(e).get("malformed_tool_calls", 0) for e in episodes),
        m.GATEWAY_ERRORS: sum(len(_gateway(e).get("errors", [])) for e in episodes),
        m.ROLLOUT_SECONDS: seconds,
    }
    result.update(failure_metrics(episodes))
    result.update(agent_metrics(valid))
    result.update(turn_metrics(valid))
    return result


def agent_metrics(episodes: list[EpisodeRecord]) -> dict[str, Any]:
    """Per target tag: the agent's name unless the workflow gave a ``target_tag``. Keyed by tag so
    that roles played by differently named agents (a werewolf called Bob in one game and Carol in
    the next) add up, and the set of metric names stays bounded."""
    rewards: dict[str, list[float]] = defaultdict(list)
    calls: dict[str, int] = defaultdict(int)
    tokens: dict[str, int] = defaultdict(int)
    samples: dict[str, int] = defaultdict(int)
    for episode in episodes:
        for tag in {c.target_tag for c in episode.calls}:
            rewards[tag].append(float(episode.reward or 0.0))
        for call in episode.calls:
            calls[call.target_tag] += 1
            tokens[call.target_tag] += len(call.response_ids)
        for sample in episode.samples:
            samples[sample.target_tag] += 1
    result: dict[str, Any] = {}
    for agent in sorted(calls):
        result[m.agent_metric(agent, "reward_mean")] = _mean(rewards[agent])
        result[m.agent_metric(agent, "calls")] = calls[agent]
        result[m.agent_metric(agent, "response_tokens")] = tokens[agent]
        result[m.agent_metric(agent, "samples")] = samples[agent]
    return result


def group_metrics(stats: GroupStats) -> dict[str, Any]:
    return {
        m.GROUPS: stats.groups,
        m.GROUPS_KEPT: stats.kept,
        m.GROUPS_DROPPED_EQUAL_REWARD: stats.dropped_equal_reward,
        m.GROUPS_DROPPED_TOO_SMALL: stats.dropped_too_small,
    }


def sample_metrics(samples: list[Sample], kept_episodes: int) -> dict[str, Any]:
    return {
        m.SAMPLES: len(samples),
        m.SAMPLE_TOKENS: sum(len(s) for s in samples),
        m.TRAINED_TOKENS: sum(s.num_trained_tokens for s in samples),
        m.SAMPLES_PER_EPISODE: len(samples) / kept_episodes if kept_episodes else 0.0,
    }


def eval_metrics(episodes: list[EpisodeRecord]) -> dict[str, Any]:
    """pass@1, pass@k and AgentJet's TGC@1 / TGC@n over groups of draws of each task.

    A failed episode counts as unsuccessful: evaluation must not look better because episodes
    crashed.
    """
    groups = group_episodes(episodes)
    per_task = [[bool(e.ok and e.is_success) for e in members] for members in groups.values()]
    valid_rewards = [float(e.reward or 0.0) for e in _valid(episodes)]
    return {
        m.EVAL_PASS_AT_1: _mean([_mean([float(s) for s in draws]) for draws in per_task]),
        m.EVAL_PASS_AT_K: _mean([1.0 if any(draws) else 0.0 for draws in per_task]),
        m.EVAL_TGC_AT_1: _mean([1.0 if draws[0] else 0.0 for draws in per_task if draws]),
        m.EVAL_TGC_AT_N: _mean([1.0 if all(draws) else 0.0 for draws in per_task if draws]),
        m.EVAL_REWARD_MEAN: _mean(valid_rewards),
        m.EVAL_EPISODES_FAILED: sum(1 for e in episodes if not e.ok),
    }


def step_metrics(mode: str, episodes: list[EpisodeRecord]) -> dict[str, Any]:
    """A step's metrics from its episodes alone (their advantages and ``ajet_trained`` marks set):
    evaluation metrics for an eval step, rollout and sample metrics for a training step."""
    if mode == EVAL_MODE:
        return eval_metrics(episodes)
    seconds = max(e.finished_at or e.started_at for e in episodes) - min(
        e.started_at for e in episodes
    )
    trained = [e for e in episodes if e.metadata.get("ajet_trained")]
    metrics = rollout_metrics(episodes, seconds)
    metrics.update(sample_metrics([s for e in trained for s in e.samples], len(trained)))
    return metrics
