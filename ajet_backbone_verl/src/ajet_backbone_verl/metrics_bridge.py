"""While verl trains, turn the episodes its workers finished into our metrics and records.

verl's agent-loop workers append each finished episode's record to
``verl/episodes/<mode>_step_N/<host>-<pid>.jsonl`` (:mod:`.runtime`). This bridge runs in the
``ajet train`` process: once a step is over (a later training step has begun, or the run ended)
it reads that step's episodes, logs the core's rollout, sample and evaluation metrics under the
names of ``docs/metrics.md`` (``metrics.jsonl``, TensorBoard), writes the step's token-level
records where ``ajet view`` reads them, and removes the step's worker files. verl logs its own
trainer metrics (loss, gradient norm, ...) under its own names through its own loggers.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import threading
from pathlib import Path
from typing import Any

from ajet_core.config.models import AjetConfig
from ajet_core.loggers import LoggerSet
from ajet_core.rollout.runner import EVAL_MODE, TRAIN_MODE
from ajet_core.rollout.summary import eval_metrics, rollout_metrics, sample_metrics
from ajet_core.schema import EpisodeRecord
from ajet_core.training.records import episode_from_json, write_step_records

from ajet_backbone_verl.runtime import EPISODES_FOLDER

log = logging.getLogger("ajet.verl")
STEP_FOLDER = re.compile(r"^(train|eval)_step_(\d+)$")
# Our loggers that write into the run folder; the hosted ones and the console are verl's.
BRIDGED_LOGGERS = ("jsonl", "tensorboard")


class MetricsBridge:
    def __init__(self, run_dir: Path, config: AjetConfig, loggers: LoggerSet, *, poll_seconds: float = 5.0) -> None:
        self.run_dir = run_dir
        self.config = config
        self.loggers = loggers
        self.poll_seconds = poll_seconds
        self.folder = run_dir / "verl" / EPISODES_FOLDER
        self.logged: list[tuple[str, int, dict[str, Any]]] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def for_run(cls, run_dir: Path, config: AjetConfig, plugins: Any) -> MetricsBridge:
        from ajet_core.training import components

        names = ["jsonl", *(n for n in config.logging.loggers if n in BRIDGED_LOGGERS and n != "jsonl")]
        bridged = config.model_copy(update={"logging": config.logging.model_copy(
            update={"loggers": names, "logger_options": {}})})
        return cls(run_dir, config, components.build_loggers(bridged, plugins, run_dir))

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="ajet-verl-metrics", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Finish: every remaining step is logged (the run is over, so every step is complete)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.flush(final=True)
        self.loggers.close()

    def _run(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            try:
                self.flush(final=False)
            except Exception:  # noqa: BLE001 - metrics must never stop training
                log.exception("could not log the finished verl steps; training goes on")

    def flush(self, *, final: bool) -> None:
        """Log every complete step: all of them when ``final``, else those before the newest."""
        steps = self._step_folders()
        newest_train = max((step for (mode, step) in steps if mode == TRAIN_MODE), default=None)
        for (mode, step), folder in sorted(steps.items(), key=lambda item: (item[0][1], item[0][0])):
            if final or (newest_train is not None and step < newest_train):
                self._log_step(mode, step, folder)

    def _step_folders(self) -> dict[tuple[str, int], Path]:
        found: dict[tuple[str, int], Path] = {}
        for folder in self.folder.iterdir() if self.folder.is_dir() else []:
            match = STEP_FOLDER.match(folder.name)
            if match:
                found[(match.group(1), int(match.group(2)))] = folder
        return found

    def _log_step(self, mode: str, step: int, folder: Path) -> None:
        episodes = [episode_from_json(json.loads(line)) for path in sorted(folder.glob("*.jsonl"))
                    for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        if episodes:
            metrics = self.metrics(mode, episodes)
            self.loggers.log(step, metrics)
            self.logged.append((mode, step, metrics))
            write_step_records(self.run_dir, step, mode, episodes, self.config.logging)
        shutil.rmtree(folder, ignore_errors=True)

    @staticmethod
    def metrics(mode: str, episodes: list[EpisodeRecord]) -> dict[str, Any]:
        if mode == EVAL_MODE:
            return eval_metrics(episodes)
        seconds = max(e.finished_at or e.started_at for e in episodes) - min(e.started_at for e in episodes)
        trained = [e for e in episodes if e.metadata.get("ajet_trained")]
        metrics = rollout_metrics(episodes, seconds)
        metrics.update(sample_metrics([s for e in trained for s in e.samples], len(trained)))
        return metrics

