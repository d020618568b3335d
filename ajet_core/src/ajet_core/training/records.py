"""Token-level rollout records: one gzip-compressed JSON-lines file per step and mode.

``<run_dir>/records/train_step_000003.jsonl.gz`` holds one JSON object per episode: the task,
reward, judger metrics, error, every LLM call (messages, tools, token ids, logprobs, finish
reason, latency, drift fallback) and every sample (token ids, loss mask, old logprobs,
advantage, merged call ids). Files are written once per step and never rewritten.
``logging.records`` bounds their size: ``all``, ``sample`` (``records_sample_size`` episodes),
``failures_and_extremes`` (failed episodes plus each group's best and worst), or ``none``.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ajet_core.config.models import LoggingConfig
from ajet_core.rollout.advantages import group_episodes
from ajet_core.schema import EpisodeRecord, LlmCall, Sample, Task

RECORDS_DIR = "records"


def record_path(run_dir: Path, step: int, mode: str) -> Path:
    return run_dir / RECORDS_DIR / f"{mode}_step_{step:06d}.jsonl.gz"


def select_episodes(
    episodes: list[EpisodeRecord], policy: LoggingConfig, step: int
) -> list[EpisodeRecord]:
    if policy.records == "none":
        return []
    if policy.records == "sample":
        if len(episodes) <= policy.records_sample_size:
            return list(episodes)
        chosen = random.Random(f"records|{step}").sample(
            range(len(episodes)), policy.records_sample_size
        )
        return [episodes[i] for i in sorted(chosen)]
    if policy.records == "failures_and_extremes":
        chosen_ids = {e.episode_id for e in episodes if not e.ok}
        for members in group_episodes([e for e in episodes if e.ok]).values():
            ranked = sorted(members, key=lambda e: e.reward or 0.0)
            chosen_ids.update({ranked[0].episode_id, ranked[-1].episode_id})
        return [e for e in episodes if e.episode_id in chosen_ids]
    return list(episodes)


def episode_to_json(episode: EpisodeRecord) -> dict[str, Any]:
    data = dataclasses.asdict(episode)
    data["task"] = episode.task.model_dump()
    return data


def episode_from_json(data: dict[str, Any]) -> EpisodeRecord:
    """The inverse of :func:`episode_to_json` (records written by this or another process)."""
    fields = dict(data)
    fields["task"] = Task.model_validate(fields["task"])
    fields["calls"] = [LlmCall(**call) for call in fields.get("calls", [])]
    fields["samples"] = [Sample(**sample) for sample in fields.get("samples", [])]
    return EpisodeRecord(**fields)


def write_step_records(
    run_dir: Path, step: int, mode: str, episodes: list[EpisodeRecord], policy: LoggingConfig
) -> Path | None:
    selected = select_episodes(episodes, policy, step)
    if not selected:
        return None
    path = record_path(run_dir, step, mode)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    with gzip.open(partial, "wt", encoding="utf-8") as handle:
        for episode in selected:
            handle.write(json.dumps(episode_to_json(episode), default=str) + "\n")
    partial.rename(path)  # readers (the viewer) never see a half-written file
    return path


def read_records(path: Path) -> Iterator[dict[str, Any]]:
    """Load one records file (the documented loader)."""
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)
