"""SwanLab (``logging.loggers: [..., swanlab]``), switched on by the config only."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from ajet_core.metric_loggers.hosted import HostedRunLogger, HostedRunOptions

SWANLAB_FOLDER = "swanlog"


class SwanlabOptions(HostedRunOptions):
    workspace: str | None = None
    # None: SwanLab decides (SWANLAB_MODE, then `swanlab login`); local/offline write only to
    # <run folder>/swanlog.
    mode: Literal["online", "local", "offline", "disabled"] | None = None


class SwanlabLogger(HostedRunLogger):
    service = "SwanLab"
    id_file = "swanlab_run_id"
    options_model = SwanlabOptions

    def __init__(
        self, run_dir: Path, config: Any = None, options: SwanlabOptions | None = None
    ) -> None:
        super().__init__(run_dir, config, options or SwanlabOptions())
        import swanlab

        self._run = self.start_run(
            swanlab.init,
            "run `swanlab login` or set SWANLAB_API_KEY, or set "
            "logging.logger_options.swanlab.mode: offline to keep the run in the run folder",
            workspace=self.options.workspace,
            log_dir=str(Path(run_dir) / SWANLAB_FOLDER),
            reinit=True,
        )
