"""The metric-logger interface (console, metrics.jsonl, TensorBoard, W&B, SwanLab)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


class MetricLogger:
    def __init__(self, run_dir: Path, config: Any = None) -> None:
        self.run_dir = run_dir
        self.config = config

    def log(self, step: int, metrics: dict[str, Any]) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Flush and close files or connections."""
