"""``metrics.jsonl``: one JSON object per step, appended and flushed so a crash loses nothing."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

from ajet_core.loggers import MetricLogger

METRICS_FILE = "metrics.jsonl"


def _plain(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no NaN/inf; null marks "not measurable this step"
    return value


class JsonlLogger(MetricLogger):
    def __init__(self, run_dir: Path, config: Any = None) -> None:
        super().__init__(run_dir, config)
        self._file = (run_dir / METRICS_FILE).open("a", encoding="utf-8")

    def log(self, step: int, metrics: dict[str, Any]) -> None:
        record = {"step": step, "time": time.time(), **{k: _plain(v) for k, v in metrics.items()}}
        self._file.write(json.dumps(record, sort_keys=True) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()


def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    path = Path(run_dir) / METRICS_FILE
    if not path.exists():
        return []
    return [
        json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()
    ]
