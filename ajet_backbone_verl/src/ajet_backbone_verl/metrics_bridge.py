"""While verl trains, turn the episodes its workers finished into our metrics and records.

verl's agent-loop workers spool each finished episode (:mod:`ajet_core.training.episode_spool`,
under ``verl/episodes/`` in the run folder). This bridge runs in the ``ajet train`` process: a
step is over once a later training step has begun (or the run has ended); it is then logged
under the names of ``docs/metrics.md`` and written as token-level ``records/`` for ``ajet view``,
as on the debug backbone. verl logs its own trainer metrics (loss, gradient norm, ...) under its
own names through its own loggers.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

from ajet_backbone_verl.runtime import spool_folder
from ajet_core.config.models import AjetConfig
from ajet_core.training.episode_spool import EpisodeSpool, run_folder_loggers

log = logging.getLogger("ajet.verl")


class MetricsBridge:
    def __init__(self, spool: EpisodeSpool, *, poll_seconds: float = 5.0) -> None:
        self.spool = spool
        self.poll_seconds = poll_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def for_run(cls, run_dir: Path, config: AjetConfig, plugins: Any) -> MetricsBridge:
        loggers = run_folder_loggers(config, plugins, run_dir)
        return cls(EpisodeSpool(spool_folder(run_dir), run_dir, config, loggers))

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="ajet-verl-metrics", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.spool.close()

    def flush_finished_steps(self) -> None:
        """Log every step before the newest training step (those are over)."""
        newest = self.spool.newest_train_step()
        if newest is not None:
            self.spool.flush(up_to=newest - 1)

    def _run(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            try:
                self.flush_finished_steps()
            except Exception:
                log.exception("could not log the finished verl steps; training goes on")
