"""Per-turn diagnostics of multi-turn episodes: how many LLM calls an episode made, how often
episodes of each length succeeded, how often each turn's answer was right (as the workflow
reports it), and how many replies could not be parsed.

Kept apart from :mod:`ajet_core.rollout.summary` (the step's reliability and reward metrics) so
that a multi-turn researcher's view can grow without touching those.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from ajet_core import metrics as m
from ajet_core.schema import EpisodeRecord


def turn_metrics(valid: list[EpisodeRecord]) -> dict[str, Any]:
    """``turns/*`` for a step's valid episodes (failed episodes have no meaningful turn count).

    ``turns/success_by_calls/<n>`` is logged only for lengths that occurred in the step, and
    ``turns/success_at_turn/<k>`` only for turns some episode reported: a rate over no episodes
    would be a made-up number.
    """
    if not valid:
        return {}
    by_calls: dict[str, list[bool]] = defaultdict(list)
    for episode in valid:
        by_calls[m.calls_bucket(len(episode.calls))].append(bool(episode.is_success))
    malformed = sum((e.metadata.get("gateway") or {}).get("malformed_tool_calls", 0) for e in valid)
    # Workflows that parse the reply text themselves report unreadable replies under the
    # documented log_metrics key; tool calls the gateway could not parse count as well.
    reported = sum(float(e.log_metrics.get(m.PARSE_FAILURES_KEY, 0.0)) for e in valid)
    result: dict[str, Any] = {
        m.CALLS_PER_EPISODE: sum(len(e.calls) for e in valid) / len(valid),
        m.PARSE_FAILURES: malformed + reported,
        m.PARSE_FAILURES_PER_EPISODE: (malformed + reported) / len(valid),
    }
    for bucket, successes in sorted(by_calls.items()):
        result[m.success_by_calls_metric(bucket)] = sum(successes) / len(successes)
    by_turn: dict[str, list[float]] = defaultdict(list)
    for episode in valid:
        for turn, right in enumerate(turn_success(episode), start=1):
            by_turn[m.turn_bucket(turn)].append(right)
    for bucket, rights in sorted(by_turn.items()):
        result[m.success_at_turn_metric(bucket)] = sum(rights) / len(rights)
    return result


def turn_success(episode: EpisodeRecord) -> list[float]:
    """The episode's ``log_metrics["turn_success"]`` as a list (empty when the workflow reports
    none; a single number is one turn). WorkflowOutput already checked it holds numbers."""
    value = episode.log_metrics.get(m.TURN_SUCCESS_KEY)
    if value is None:
        return []
    return [float(v) for v in (value if isinstance(value, list) else [value])]
