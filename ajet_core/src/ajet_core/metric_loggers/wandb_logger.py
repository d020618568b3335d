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

    def __init__(
        self, run_dir: Path, config: Any = None, options: WandbOptions | None = None
    ) -> None:
        super().__init__(run_dir, config, options or WandbOptions())
        import wandb

        self._run = self.start_run(
            wandb.init,
            "run `wandb login` or set WANDB_API_KEY, or set logging.logger_options.wandb.mode: "
            "offline to keep the run in the run folder",
            entity=self.options.entity,
            dir=str(run_dir),
            reinit="create_new",
        )
