"""One compact line per step on the console (the progress bar lives in the training loop)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ajet_core.loggers import MetricLogger
from ajet_core.metrics import CONSOLE_METRICS


class ConsoleLogger(MetricLogger):
    def __init__(self, run_dir: Path, config: Any = None) -> None:
        super().__init__(run_dir, config)
        from rich.console import Console

        self._console = Console(stderr=True)

    def log(self, step: int, metrics: dict[str, Any]) -> None:
        shown = [
            f"{name.split('/', 1)[-1]}={metrics[name]:.4g}"
            for name in CONSOLE_METRICS
            if isinstance(metrics.get(name), (int, float))
        ]
        self._console.print(f"[bold]step {step}[/bold] " + " ".join(shown), highlight=False)
