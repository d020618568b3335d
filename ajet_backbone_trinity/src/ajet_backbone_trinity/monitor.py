"""Trinity's metrics into the AgentJet run folder: ``<run>/metrics.jsonl`` plus trinity's TensorBoard.

Trinity logs through one monitor class per run (``monitor.monitor_type``; its registry imports a
dotted path). This one keeps trinity's TensorBoard files and also appends every logged step to
the run folder's ``metrics.jsonl`` — one line per (role, step) with ``"role": "explorer"`` or
``"trainer"`` — so ``ajet view``, scripts and the GPU smoke test read a trinity run like any other.
The AgentJet names (``rollout/reward_mean``, ``rollout/success_rate``, ...) are those the workflow
puts on each experience (:mod:`.experiences`), aggregated by trinity under its own prefixes.
"""

from __future__ import annotations

import json
import math
import os
import threading
from typing import Any

from trinity.utils.monitor import Monitor, TensorboardMonitor

from ajet_backbone_trinity.translation import METRICS_FILE_ARG, MONITOR_PATH  # noqa: F401 - MONITOR_PATH names this module's class

_WRITE_LOCK = threading.Lock()


def _plain(value: Any) -> Any:
    value = value.item() if hasattr(value, "item") else value
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value if isinstance(value, (int, float, str, bool)) or value is None else str(value)


class AjetRunMonitor(Monitor):
    def __init__(self, project: str, group: str, name: str, role: str, config: Any = None) -> None:
        super().__init__(project, name, role, config)
        self.tensorboard = TensorboardMonitor(project, group, name, role, config)
        args = (config.monitor.monitor_args or {}) if config is not None else {}
        self.metrics_file = args.get(METRICS_FILE_ARG)
        if self.metrics_file:
            os.makedirs(os.path.dirname(os.path.abspath(self.metrics_file)), exist_ok=True)

    @classmethod
    def default_args(cls) -> dict:
        return {METRICS_FILE_ARG: None}

    def log(self, data: dict, step: int, commit: bool = False) -> None:
        self.tensorboard.log(data, step, commit)
        if not self.metrics_file:
            return
        line = {"step": int(step), "role": self.role, **{k: _plain(v) for k, v in data.items()}}
        with _WRITE_LOCK, open(self.metrics_file, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(line) + "\n")

    def close(self) -> None:
        if getattr(self, "tensorboard", None) is not None:
            self.tensorboard.close()
