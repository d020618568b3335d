"""``runs/<experiment>/<time>/``: one folder per run, never overwritten."""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from pathlib import Path

import yaml

from ajet_core.config.loader import config_to_dict
from ajet_core.config.models import AjetConfig
from ajet_core.errors import ConfigError, RunFolderBusy

CONFIG_FILE = "config.yaml"
RUN_INFO_FILE = "run.json"
LOCK_FILE = ".ajet-run.lock"


class RunLock:
    """One writer per run folder: an exclusive ``flock`` on ``<run>/.ajet-run.lock`` held while
    a run trains. The kernel releases it when the holder exits, however it exits, so a crashed
    run never leaves the folder stuck; a second writer gets :class:`RunFolderBusy` at once,
    before it reads a checkpoint or touches ``metrics.jsonl``."""

    def __init__(self, run_dir: Path) -> None:
        import fcntl

        self.path = run_dir / LOCK_FILE
        self._handle = self.path.open("a+", encoding="utf-8")
        try:
            fcntl.flock(self._handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._handle.seek(0)
            holder = self._handle.read().strip() or "another process"
            self._handle.close()
            raise RunFolderBusy(
                f"run folder {str(run_dir)!r} is being written by {holder}; two runs writing one "
                "folder would interleave their steps in metrics.jsonl and checkpoints. Wait for "
                "it to finish (or stop it), then --resume"
            ) from None
        self._handle.seek(0)
        self._handle.truncate()
        self._handle.write(
            f"ajet pid {os.getpid()} on {platform.node()} since {time.strftime('%H:%M:%S')}"
        )
        self._handle.flush()

    def release(self) -> None:
        if not self._handle.closed:
            self._handle.close()  # closing the descriptor drops the flock


def create_run_dir(config: AjetConfig, *, now: float | None = None) -> Path:
    """Make a fresh run folder. Two runs started in the same second get distinct folders; an
    existing folder is never reused (``mkdir(exist_ok=False)``)."""
    base = Path(config.experiment.output_dir) / config.experiment.name
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    for suffix in ("", *(f"-{i}" for i in range(2, 1000))):
        candidate = base / f"{stamp}{suffix}"
        try:
            candidate.mkdir(parents=True, exist_ok=False)
        except FileExistsError:
            if not base.is_dir():  # experiment.output_dir (or its experiment folder) is a file
                raise _not_a_folder(config, base) from None
            continue
        except NotADirectoryError:
            raise _not_a_folder(config, base) from None
        write_run_files(candidate, config)
        return candidate
    raise ConfigError(f"could not create a new run folder under {str(base)!r}; clean it up")


def _not_a_folder(config: AjetConfig, base: Path) -> ConfigError:
    return ConfigError(
        f"cannot create run folders under {str(base)!r}: experiment.output_dir="
        f"{config.experiment.output_dir!r} (or a folder in it) is a file; point "
        "experiment.output_dir at a folder"
    )


def write_run_files(run_dir: Path, config: AjetConfig) -> None:
    (run_dir / CONFIG_FILE).write_text(yaml.safe_dump(config_to_dict(config), sort_keys=False))
    info = {
        "started": time.time(),
        "argv": sys.argv,
        "python": sys.version.split()[0],
        "host": platform.node(),
        "pid": os.getpid(),
        "plugins": installed_plugins(),
    }
    (run_dir / RUN_INFO_FILE).write_text(json.dumps(info, indent=2))


def installed_plugins() -> dict[str, dict[str, str | None]]:
    """Every plugin this run could see, with its distribution and version: what reproducing the
    run needs installed (a blocked or failed plugin is listed with its status too)."""
    from ajet_core.plugins.manager import get_plugin_manager

    return {
        name: {"distribution": info.distribution, "version": info.version, "status": info.status}
        for name, info in sorted(get_plugin_manager().plugins.items())
    }


def latest_run_dir(config: AjetConfig) -> Path | None:
    base = Path(config.experiment.output_dir) / config.experiment.name
    runs = sorted((p for p in base.glob("*") if (p / CONFIG_FILE).exists()), key=lambda p: p.name)
    return runs[-1] if runs else None
