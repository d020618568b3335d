"""Our metrics and token-level records of a trinity run, per explorer step, in the run folder.

Trinity's workflow runners append every finished episode group to
``<run>/trinity_episodes/<mode>_step_N/<host>-<pid>.jsonl`` (:mod:`.runtime`). When trinity's
explorer logs step N (through :class:`ajet_backbone_trinity.monitor.AjetRunMonitor`), its tasks
are done; the bridge then reads every step up to N, logs the core's rollout, sample and
evaluation metrics under the names of ``docs/metrics.md`` to ``<run>/metrics.jsonl`` and
TensorBoard (as every backbone does), writes the step's token-level records where ``ajet view``
reads them, and removes the worker files. Episodes that finish after their step was logged
(trinity's over-rollout) are logged with the next step.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

from ajet_core.loggers import LoggerSet
from ajet_core.rollout.runner import EVAL_MODE, TRAIN_MODE
from ajet_core.rollout.summary import eval_metrics, rollout_metrics, sample_metrics
from ajet_core.schema import EpisodeRecord
from ajet_core.training.records import episode_from_json, write_step_records
from ajet_core.training.run_dir import CONFIG_FILE

from ajet_backbone_trinity.runtime import EPISODES_DIR

STEP_FOLDER = re.compile(r"^(train|eval)_step_(\d+)$")
# Our loggers that write into the run folder; hosted services log through trinity's monitor.
BRIDGED_LOGGERS = ("jsonl", "tensorboard")


def step_metrics(mode: str, episodes: list[EpisodeRecord]) -> dict[str, Any]:
    if mode == EVAL_MODE:
        return eval_metrics(episodes)
    seconds = max(e.finished_at or e.started_at for e in episodes) - min(e.started_at for e in episodes)
    trained = [e for e in episodes if e.metadata.get("ajet_trained")]
    metrics = rollout_metrics(episodes, seconds)
    metrics.update(sample_metrics([s for e in trained for s in e.samples], len(trained)))
    return metrics


class StepBridge:
    def __init__(self, run_dir: Path, loggers: LoggerSet, config: Any) -> None:
        self.run_dir = run_dir
        self.loggers = loggers
        self.config = config
        self.folder = run_dir / EPISODES_DIR
        self.logged: list[tuple[str, int, dict[str, Any]]] = []

    @classmethod
    def for_run(cls, run_dir: Path) -> StepBridge:
        """From the run folder's resolved AgentJet config (written at launch)."""
        from ajet_core.config.loader import load_config
        from ajet_core.plugins.manager import get_plugin_manager
        from ajet_core.training import components

        config = load_config(run_dir / CONFIG_FILE).config
        names = ["jsonl", *(n for n in config.logging.loggers if n in BRIDGED_LOGGERS and n != "jsonl")]
        bridged = config.model_copy(update={"logging": config.logging.model_copy(
            update={"loggers": names, "logger_options": {}})})
        return cls(run_dir, components.build_loggers(bridged, get_plugin_manager(), run_dir), config)

    def steps(self) -> list[tuple[int, str, Path]]:
        found = []
        for folder in self.folder.iterdir() if self.folder.is_dir() else []:
            match = STEP_FOLDER.match(folder.name)
            if match:
                found.append((int(match.group(2)), match.group(1), folder))
        # Training before evaluation at the same step, as the in-process loop logs them.
        return sorted(found, key=lambda item: (item[0], item[1] != TRAIN_MODE))

    def flush(self, up_to: int | None = None) -> None:
        """Log every step folder up to ``up_to`` (all of them when None)."""
        for step, mode, folder in self.steps():
            if up_to is not None and step > up_to:
                continue
            episodes = [
                episode_from_json(json.loads(line))
                for path in sorted(folder.glob("*.jsonl"))
                for line in path.read_text(encoding="utf-8").splitlines() if line.strip()
            ]
            shutil.rmtree(folder, ignore_errors=True)
            if not episodes:
                continue
            metrics = step_metrics(mode, episodes)
            self.loggers.log(step, metrics)
            self.logged.append((mode, step, metrics))
            write_step_records(self.run_dir, step, mode, episodes, self.config.logging)

    def close(self) -> None:
        self.flush()
        self.loggers.close()
