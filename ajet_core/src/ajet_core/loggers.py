"""The metric-logger interface (console, metrics.jsonl, TensorBoard, W&B, SwanLab).

A logger is chosen by name in ``logging.loggers``; one that takes options declares a pydantic
``options_model`` and gets ``logging.logger_options.<name>`` validated by it.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel

from ajet_core.plugin_options import PluginWithOptions

log = logging.getLogger("ajet.loggers")


class MetricLogger(PluginWithOptions):
    # The logger's options (``logging.logger_options.<name>``); None: it takes none.
    options_model: ClassVar[type[BaseModel] | None] = None

    def __init__(self, run_dir: Path, config: Any = None, options: BaseModel | None = None) -> None:
        self.run_dir = run_dir
        self.config = config
        self.options = options

    def log(self, step: int, metrics: dict[str, Any]) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Flush and close files or connections."""


class LoggerSet:
    """The run's loggers. One that fails is reported by name and the run goes on: metrics.jsonl
    still holds every step, and a hosted service that is down must not cost a training run."""

    def __init__(self, loggers: dict[str, MetricLogger]) -> None:
        self.loggers = loggers
        self.failures: dict[str, int] = {}

    def log(self, step: int, metrics: dict[str, Any]) -> None:
        for name, logger in self.loggers.items():
            self._isolated(name, f"step {step}", logger.log, step, metrics)

    def close(self) -> None:
        for name, logger in self.loggers.items():
            self._isolated(name, "closing", logger.close)

    def _isolated(self, name: str, what: str, function: Any, *args: Any) -> None:
        try:
            function(*args)
        except Exception as exc:  # noqa: BLE001 - a logger plugin must not stop training
            self.failures[name] = self.failures.get(name, 0) + 1
            log.warning(
                "logger %r failed at %s: %s: %s (training goes on; metrics.jsonl has every step)",
                name,
                what,
                type(exc).__name__,
                exc,
            )
