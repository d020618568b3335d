"""Weights & Biases (``logging.loggers: [..., wandb]``). Runs only when named in the config:
having ``wandb`` installed (the verl and trinity environments do) switches nothing on."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from ajet_core.metric_loggers.hosted import HostedRunLogger, HostedRunOptions


class WandbOptions(HostedRunOptions):
    entity: str | None = None
    # None: W&B decides (WANDB_MODE, then `wandb login`); offline writes only to the run folder.
    mode: Literal["online", "offline", "disabled"] | None = None


class WandbLogger(HostedRunLogger):
    service = "Weights & Biases"
    id_file = "wandb_run_id"
    options_model = WandbOptions

    def __init__(self, run_dir: Path, config: Any = None, options: WandbOptions | None = None) -> None:
        super().__init__(run_dir, config, options or WandbOptions())
        import wandb

        options = self.options
        previous = self.previous_run_id()
        try:
            self._run = wandb.init(
                project=self.project, entity=options.entity, name=self.run_name, group=options.group,
                tags=options.tags or None, mode=options.mode, dir=str(run_dir),
                config=self.uploaded_config(), id=previous, resume="allow" if previous else None,
                reinit="create_new",
            )
        except Exception as exc:  # wandb raises several types (UsageError, CommError, ...)
            raise self.start_failed(
                exc, "run `wandb login` or set WANDB_API_KEY, or set "
                "logging.logger_options.wandb.mode: offline to keep the run in the run folder"
            ) from exc
        self.remember_run_id(self._run.id)

    def log(self, step: int, metrics: dict[str, Any]) -> None:
        self._run.log(self.scalars(metrics), step=step)

    def close(self) -> None:
        self._run.finish()
