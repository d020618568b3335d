"""TensorBoard event files in the run directory, written with tensorboard's own event writer
(no torch needed)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from ajet_core.loggers import MetricLogger


class TensorBoardLogger(MetricLogger):
    def __init__(self, run_dir: Path, config: Any = None) -> None:
        super().__init__(run_dir, config)
        from tensorboard.summary.writer.event_file_writer import EventFileWriter

        self._writer = EventFileWriter(str(run_dir / "tensorboard"))

    def log(self, step: int, metrics: dict[str, Any]) -> None:
        from tensorboard.compat.proto.event_pb2 import Event
        from tensorboard.compat.proto.summary_pb2 import Summary

        values = [
            Summary.Value(tag=name, simple_value=float(value))
            for name, value in metrics.items()
            if isinstance(value, (int, float)) and not isinstance(value, bool)
        ]
        if values:
            self._writer.add_event(
                Event(wall_time=time.time(), step=step, summary=Summary(value=values))
            )
            self._writer.flush()

    def close(self) -> None:
        self._writer.close()
