"""What the W&B and SwanLab loggers share: run naming, the uploaded config, resuming the same
hosted run after ``ajet train --resume``, and which values are plotted."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from ajet_core.errors import AjetError
from ajet_core.loggers import MetricLogger


class HostedRunOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Default: experiment.project.
    project: str | None = None
    # Default: "<experiment.name>/<run folder>", e.g. quickstart/20261124-211531.
    name: str | None = None
    group: str | None = None
    tags: list[str] = []


class HostedRunLogger(MetricLogger):
    service: ClassVar[str]
    # A file in the run folder holding the hosted run's id, so a resumed run appends to it.
    id_file: ClassVar[str]

    @property
    def project(self) -> str:
        options: Any = self.options
        if options is not None and options.project:
            return options.project
        return self.config.experiment.project if self.config is not None else "ajet"

    @property
    def run_name(self) -> str:
        options: Any = self.options
        if options is not None and options.name:
            return options.name
        experiment = self.config.experiment.name if self.config is not None else "ajet"
        return f"{experiment}/{self.run_dir.name}"

    def uploaded_config(self) -> dict[str, Any]:
        if self.config is None:
            return {}
        from ajet_core.config.loader import config_to_dict

        return config_to_dict(self.config)

    def previous_run_id(self) -> str | None:
        path = Path(self.run_dir) / self.id_file
        return path.read_text().strip() or None if path.exists() else None

    def remember_run_id(self, run_id: str) -> None:
        (Path(self.run_dir) / self.id_file).write_text(run_id + "\n")

    def start_run(self, init: Callable[..., Any], way_out: str, **service_options: Any) -> Any:
        """Start (or, after ``--resume``, continue) the hosted run with ``init`` (``wandb.init``,
        ``swanlab.init``); a failure names the service, the project and ``way_out``."""
        options: Any = self.options
        previous = self.previous_run_id()
        try:
            run = init(
                project=self.project,
                name=self.run_name,
                group=options.group,
                tags=options.tags or None,
                mode=options.mode,
                config=self.uploaded_config(),
                id=previous,
                resume="allow" if previous else None,
                **service_options,
            )
        except Exception as exc:  # both services raise several types (usage, network, auth)
            raise AjetError(
                f"{self.service} could not start a run in project {self.project!r}: "
                f"{type(exc).__name__}: {exc}; {way_out}"
            ) from exc
        self.remember_run_id(run.id)
        return run

    def log(self, step: int, metrics: dict[str, Any]) -> None:
        self._run.log(self.scalars(metrics), step=step)

    def close(self) -> None:
        self._run.finish()

    @staticmethod
    def scalars(metrics: dict[str, Any]) -> dict[str, float]:
        """Numbers only: both services plot numbers, and strings would become tables."""
        return {
            name: float(value)
            for name, value in metrics.items()
            if isinstance(value, (int, float)) and not isinstance(value, bool)
        }
