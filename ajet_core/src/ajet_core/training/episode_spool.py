"""Episodes finished in other processes, turned into a run's metrics and records step by step.

Backbones that run episodes in their own worker processes (verl's agent-loop workers, trinity's
workflow runners) cannot hand episodes to the training loop in memory. Each worker appends the
full records of its finished episodes to ``<spool>/<mode>_step_N/<host>-<pid>.jsonl`` (one file
per process and step, so no two processes write the same file); the process that owns the run
folder reads a step once it is over, logs the core's metrics under the names of
``docs/metrics.md`` (``metrics.jsonl``, TensorBoard), writes the step's token-level records where
``ajet view`` reads them, and removes the step's files.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ajet_core.config.models import AjetConfig
from ajet_core.loggers import LoggerSet
from ajet_core.rollout.runner import TRAIN_MODE
from ajet_core.rollout.summary import step_metrics
from ajet_core.schema import EpisodeRecord
from ajet_core.training.records import episode_from_json, episode_to_json, write_step_records

STEP_FOLDER = re.compile(r"^(train|eval)_step_(\d+)$")
# Our loggers that write into the run folder; hosted services and consoles are the backbone's.
SPOOLED_LOGGERS = ("jsonl", "tensorboard")


def append_episodes(spool: Path, mode: str, step: int, episodes: list[EpisodeRecord]) -> Path:
    """Append finished episodes (from any process) to the spool; returns the file written."""
    path = spool / f"{mode}_step_{step:06d}" / f"{socket.gethostname()}-{os.getpid()}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as handle:
        handle.write("".join(json.dumps(episode_to_json(e), default=str) + "\n" for e in episodes))
    return path


def run_folder_loggers(config: AjetConfig, plugins: Any, run_dir: Path) -> LoggerSet:
    """metrics.jsonl always, plus TensorBoard files when the config asks for them."""
    from ajet_core.training import components

    names = ["jsonl", *(n for n in config.logging.loggers if n in SPOOLED_LOGGERS and n != "jsonl")]
    spooled = config.model_copy(
        update={
            "logging": config.logging.model_copy(update={"loggers": names, "logger_options": {}})
        }
    )
    return components.build_loggers(spooled, plugins, run_dir)


# A backbone's own metrics of a step, from its episodes (mode, episodes) -> name: value.
ExtraMetrics = Callable[[str, list[EpisodeRecord]], dict[str, Any]]


class EpisodeSpool:
    def __init__(
        self,
        spool: Path,
        run_dir: Path,
        config: AjetConfig,
        loggers: LoggerSet,
        extra_metrics: ExtraMetrics | None = None,
    ) -> None:
        self.spool = spool
        self.run_dir = run_dir
        self.config = config
        self.loggers = loggers
        self.extra_metrics = extra_metrics
        self.logged: list[tuple[str, int, dict[str, Any]]] = []

    def steps(self) -> list[tuple[int, str, Path]]:
        """(step, mode, folder) of every step waiting, training before evaluation at one step."""
        found = []
        for folder in self.spool.iterdir() if self.spool.is_dir() else []:
            match = STEP_FOLDER.match(folder.name)
            if match:
                found.append((int(match.group(2)), match.group(1), folder))
        return sorted(found, key=lambda item: (item[0], item[1] != TRAIN_MODE))

    def newest_train_step(self) -> int | None:
        return max((step for step, mode, _ in self.steps() if mode == TRAIN_MODE), default=None)

    def flush(self, up_to: int | None = None) -> None:
        """Log every waiting step up to ``up_to`` (all of them when None)."""
        for step, mode, folder in self.steps():
            if up_to is not None and step > up_to:
                continue
            episodes = [
                episode_from_json(json.loads(line))
                for path in sorted(folder.glob("*.jsonl"))
                for line in path.read_text(encoding="utf-8").splitlines()
                if line.strip()
            ]
            shutil.rmtree(folder, ignore_errors=True)
            if not episodes:
                continue
            metrics = step_metrics(mode, episodes)
            if self.extra_metrics is not None:
                metrics.update(self.extra_metrics(mode, episodes))
            self.loggers.log(step, metrics)
            self.logged.append((mode, step, metrics))
            write_step_records(self.run_dir, step, mode, episodes, self.config.logging)

    def close(self) -> None:
        """The run is over: every step waiting is complete."""
        self.flush()
        self.loggers.close()
