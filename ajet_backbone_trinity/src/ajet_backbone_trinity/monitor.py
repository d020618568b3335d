"""The monitor trinity logs through (``monitor.monitor_type``, imported by dotted path).

It does three things:

* hands trinity's metrics to trinity's own monitor for them (``tensorboard``, or ``wandb`` /
  ``swanlab`` when ``logging.loggers`` names one), under trinity's names;
* appends them to ``<run>/trinity_metrics.jsonl``, one line per (role, step) with ``"role":
  "explorer"`` or ``"trainer"``, for scripts (the GPU smoke test reads the trainer's step times);
* on the explorer, after each logged step, runs the :mod:`ajet_backbone_trinity.bridge` (the
  run's episode spool): our metrics under our names in ``<run>/metrics.jsonl`` and the
  token-level records for ``ajet view``, as every backbone writes them.
"""

from __future__ import annotations

import json
import logging
import math
import os
import threading
from pathlib import Path
from typing import Any

from trinity.utils.monitor import MONITOR, Monitor

from ajet_backbone_trinity.translation import (
    INNER_MONITOR_ARG,
    METRICS_FILE_ARG,
    RUN_DIR_MONITOR_ARG,
)

log = logging.getLogger("ajet.trinity")
_WRITE_LOCK = threading.Lock()
EXPLORER_ROLE = "explorer"


def _plain(value: Any) -> Any:
    value = value.item() if hasattr(value, "item") else value
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value if isinstance(value, (int, float, str, bool)) or value is None else str(value)


class AjetRunMonitor(Monitor):
    def __init__(self, project: str, group: str, name: str, role: str, config: Any = None) -> None:
        super().__init__(project, name, role, config)
        args = (config.monitor.monitor_args or {}) if config is not None else {}
        self.inner = MONITOR.get(args.get(INNER_MONITOR_ARG) or "tensorboard")(
            project, group, name, role, config
        )
        self.metrics_file = args.get(METRICS_FILE_ARG)
        if self.metrics_file:
            os.makedirs(os.path.dirname(os.path.abspath(self.metrics_file)), exist_ok=True)
        self.bridge = None
        run_dir = args.get(RUN_DIR_MONITOR_ARG)
        if run_dir and role == EXPLORER_ROLE:
            from ajet_backbone_trinity.bridge import spool_for_run

            self.bridge = spool_for_run(Path(run_dir))

    @classmethod
    def default_args(cls) -> dict:
        return {METRICS_FILE_ARG: None, RUN_DIR_MONITOR_ARG: None, INNER_MONITOR_ARG: "tensorboard"}

    def log(self, data: dict, step: int, commit: bool = False) -> None:
        if self.inner is not None:
            self.inner.log(data, step, commit)
        if self.metrics_file:
            line = {"step": int(step), "role": self.role, **{k: _plain(v) for k, v in data.items()}}
            with _WRITE_LOCK, open(self.metrics_file, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(line) + "\n")
        if self.bridge is not None:
            try:
                self.bridge.flush(up_to=int(step))
            except Exception:  # our metrics must never stop trinity's training
                log.exception("could not log AgentJet metrics for step %s; training goes on", step)

    def close(self) -> None:
        bridge, self.bridge = getattr(self, "bridge", None), None
        if bridge is not None:
            bridge.close()
        inner, self.inner = getattr(self, "inner", None), None
        if inner is not None:
            inner.close()
