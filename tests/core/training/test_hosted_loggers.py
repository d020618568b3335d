"""The W&B and SwanLab logger plugins: switched on by the config only, their runs hold what the
loop logged (read back from their offline run files), a resumed run appends to the same hosted
run, bad options are clear errors, and a logger that fails never stops training."""

from __future__ import annotations

import logging
import math
import subprocess
import sys
from pathlib import Path

import pytest

from ajet_core import metrics as m
from ajet_core.config.loader import load_config
from ajet_core.errors import ConfigError
from ajet_core.loggers import LoggerSet, MetricLogger
from ajet_core.training import components

from .hosted_runs import swanlab_history, wandb_history

OFFLINE = {"wandb": {"mode": "offline"}, "swanlab": {"mode": "offline"}}


def _config(tmp_path: Path, *overrides: str):
    return load_config(
        None, [f"experiment.output_dir={tmp_path}", "experiment.name=hosted", *overrides]
    ).config


def _offline_config(tmp_path: Path, *overrides: str):
    config = _config(tmp_path, "logging.loggers=[jsonl,wandb,swanlab]", *overrides)
    config.logging.logger_options = {name: dict(options) for name, options in OFFLINE.items()}
    return config


def _log_steps(config, ajet_plugins, run_dir: Path, steps: list[int]) -> LoggerSet:
    loggers = components.build_loggers(config, ajet_plugins, run_dir)
    for step in steps:
        loggers.log(
            step, {m.REWARD_MEAN: step / 10, m.LOSS: float("nan"), "note": "text is skipped"}
        )
    loggers.close()
    return loggers


def test_offline_runs_hold_every_logged_step_and_resume_the_same_run(tmp_path, ajet_plugins):
    run_dir = tmp_path / "20261124-000000"
    run_dir.mkdir()
    config = _offline_config(tmp_path)
    loggers = _log_steps(config, ajet_plugins, run_dir, [1, 2])
    assert not loggers.failures
    wandb_id = (run_dir / "wandb_run_id").read_text().strip()
    swanlab_id = (run_dir / "swanlab_run_id").read_text().strip()

    # `ajet train --resume` reopens the run folder: the same hosted runs continue.
    _log_steps(config, ajet_plugins, run_dir, [3])
    assert (run_dir / "wandb_run_id").read_text().strip() == wandb_id
    assert (run_dir / "swanlab_run_id").read_text().strip() == swanlab_id

    for history in (wandb_history(run_dir), swanlab_history(run_dir)):
        assert sorted(history) == [1, 2, 3]
        assert [history[s][m.REWARD_MEAN] for s in (1, 2, 3)] == pytest.approx([0.1, 0.2, 0.3])
        assert math.isnan(history[1][m.LOSS]) and "note" not in history[1]


def test_installed_services_stay_off_unless_the_config_names_them(tmp_path):
    # wandb and swanlab are installed here (as in the verl and trinity environments).
    script = (
        "import sys; from pathlib import Path\nfrom ajet_core.config.loader import "
        "load_config\nfrom ajet_core.plugins.manager import get_plugin_manager\nfrom "
        "ajet_core.training import components\nconfig = load_config(None, "
        f"['experiment.output_dir={tmp_path}']).config\nloggers = components.build_loggers(config, "
        f"get_plugin_manager(), Path({str(tmp_path)!r}))\nloggers.log(1, {{'reward/mean': 1.0}}); "
        "loggers.close()\nprint(sorted(loggers.loggers), 'wandb' in sys.modules, 'swanlab' in "
        "sys.modules)\n"
    )
    shown = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert shown.stdout.split("\n")[-2] == "['console', 'jsonl', 'tensorboard'] False False"
    assert not list(tmp_path.glob("wandb*")) and not list(tmp_path.glob("swanlog*"))


def test_bad_logger_options_are_clear_errors(tmp_path, ajet_plugins):
    from ajet_core.config.plugin_sections import resolve_loggers

    config = _offline_config(tmp_path)
    config.logging.logger_options["wandb"]["mode"] = "cloud"
    with pytest.raises(ConfigError, match=r"logging\.logger_options\.wandb\.mode.*offline"):
        resolve_loggers(config, ajet_plugins)

    config = _config(tmp_path, "logging.loggers=[jsonl]")
    config.logging.logger_options = {"wandb": {"project": "x"}}
    with pytest.raises(ConfigError, match="does not switch on"):
        resolve_loggers(config, ajet_plugins)

    config = _config(tmp_path, "logging.loggers=[jsonl]")
    config.logging.logger_options = {"jsonl": {"path": "x"}}
    with pytest.raises(ConfigError, match="takes no options"):
        resolve_loggers(config, ajet_plugins)


def test_a_failing_logger_is_reported_and_training_goes_on(tmp_path, caplog):
    class Broken(MetricLogger):
        def log(self, step, metrics):
            raise ConnectionError("service unreachable")

    written = []

    class Kept(MetricLogger):
        def log(self, step, metrics):
            written.append(step)

    loggers = LoggerSet({"broken": Broken(tmp_path), "kept": Kept(tmp_path)})
    with caplog.at_level(logging.WARNING, logger="ajet.loggers"):
        loggers.log(1, {})
        loggers.log(2, {})
        loggers.close()
    assert written == [1, 2] and loggers.failures == {"broken": 2}
    assert "logger 'broken' failed at step 1: ConnectionError: service unreachable" in caplog.text
