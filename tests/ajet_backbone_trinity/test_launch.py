"""The launch: what it would run (CPU), the smoke script's dry run, the refusal without vLLM/GPU."""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from ajet_backbone_trinity.launch import (
    LaunchError,
    TrinityBackboneConfig,
    ensure_ray,
    plan_launch,
)
from ajet_backbone_trinity.monitor import AjetRunMonitor
from trinity.common.config import load_config

from ajet_core.config.loader import validate_config
from ajet_core.config.plugin_sections import validate_plugin_sections
from ajet_core.errors import ConfigError, RunFolderBusy
from ajet_core.plugins.manager import get_plugin_manager

from .helpers import REPO, quickstart_config

SMOKE = REPO / "scripts" / "gpu" / "trinity_smoke.sh"
HAS_VLLM = importlib.util.find_spec("vllm") is not None


def has_gpu() -> bool:
    import torch

    return torch.cuda.is_available()


def resolved_config(tmp_path: Path, ajet: dict):
    ajet = {**ajet, "experiment": {**ajet["experiment"], "output_dir": str(tmp_path / "runs")}}
    config = validate_config(ajet, base_dir=REPO)
    return config, validate_plugin_sections(config, get_plugin_manager())


def test_the_launch_plan_is_what_trinity_would_run(tmp_path, tiny_model_dir, quickstart_data):
    config, resolved = resolved_config(
        tmp_path, quickstart_config(tiny_model_dir, quickstart_data, eval={"before_train": True})
    )
    plan = plan_launch(config, resolved)
    assert plan.run_dir.parent == tmp_path / "runs" / config.experiment.name
    # Tasks materialised from our reader, one row per task, both splits (eval is on).
    assert len((plan.tasks_dir / "train.jsonl").read_text().splitlines()) == 3
    assert len((plan.tasks_dir / "validation.jsonl").read_text().splitlines()) == 1
    # The trinity config, as trinity reads it, points at them and at this run folder.
    trinity = load_config(str(plan.config_path))
    assert trinity.buffer.explorer_input.taskset.path == str(plan.tasks_dir.resolve())
    assert trinity.checkpoint_root_dir == str((plan.run_dir / "trinity").resolve())
    assert trinity.continue_from_checkpoint is False
    assert plan.command[1:] == [
        "-m",
        "ajet_backbone_trinity.run_trinity",
        str(plan.config_path.resolve()),
    ]
    assert plan.env["RAY_AUTH_MODE"] == os.environ.get("RAY_AUTH_MODE", "disabled")
    # The resolved AgentJet config sits in the run folder like every backbone's.
    assert (
        yaml.safe_load((plan.run_dir / "config.yaml").read_text())["backbone"]["name"] == "trinity"
    )


def test_resume_points_trinity_back_at_its_checkpoints(tmp_path, tiny_model_dir, quickstart_data):
    config, resolved = resolved_config(tmp_path, quickstart_config(tiny_model_dir, quickstart_data))
    with pytest.raises(ConfigError, match="no trinity run under"):
        plan_launch(config, resolved, resume="latest")
    first = plan_launch(config, resolved, lock=True)
    # While the first launch holds its run folder, a resume of it stops before rewriting
    # trinity.yaml; once it is released, the resume goes ahead.
    written = first.config_path.read_bytes()
    with pytest.raises(RunFolderBusy, match="is being written by ajet pid"):
        plan_launch(config, resolved, resume="latest", lock=True)
    assert first.config_path.read_bytes() == written
    first.lock.release()
    resumed = plan_launch(config, resolved, resume="latest", lock=True)
    resumed.lock.release()
    assert resumed.run_dir == first.run_dir
    assert load_config(str(resumed.config_path)).continue_from_checkpoint is True


def test_the_trainer_monitor_appends_trinitys_metrics_to_the_run_folder(
    tmp_path, tiny_model_dir, quickstart_data
):
    config, resolved = resolved_config(tmp_path, quickstart_config(tiny_model_dir, quickstart_data))
    plan = plan_launch(config, resolved)
    trinity = load_config(str(plan.config_path))
    trinity.check_and_update()
    monitor = AjetRunMonitor(trinity.project, trinity.group, trinity.name, "trainer", trinity)
    assert monitor.bridge is None  # our metrics come from the explorer's side
    monitor.log({"actor/pg_loss": 0.25, "time/step": 3.5}, step=1)
    monitor.close()
    (line,) = (plan.run_dir / "trinity_metrics.jsonl").read_text().splitlines()
    assert json.loads(line) == {
        "step": 1,
        "role": "trainer",
        "actor/pg_loss": 0.25,
        "time/step": 3.5,
    }
    assert list(
        (Path(trinity.monitor.cache_dir) / "tensorboard" / "trainer").iterdir()
    )  # trinity's own


def test_smoke_script_dry_run(tmp_path, tiny_model_dir):
    result = subprocess.run(
        [
            "bash",
            str(SMOKE),
            "--dry-run",
            "--model",
            str(tiny_model_dir),
            "--work",
            str(tmp_path),
            "--python",
            sys.executable,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    assert "trinity mode:   colocate" in out
    assert "trinity's validation (load_config + check_and_update): ok" in out
    assert "trinity backbone environment: ok" in out
    (config_path,) = (tmp_path / "runs" / "trinity_smoke").glob("*/trinity.yaml")
    assert load_config(str(config_path)).buffer.total_steps == 3
    if not HAS_VLLM:
        assert "a real run here would stop" in out and "vLLM is not installed" in out


def test_smoke_script_without_a_model_folder_fails(tmp_path):
    result = subprocess.run(
        ["bash", str(SMOKE), "--dry-run", "--model", str(tmp_path / "absent")],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        check=False,
    )
    assert result.returncode == 2
    assert "does not exist; pass --model DIR" in result.stderr


@pytest.mark.skipif(HAS_VLLM and has_gpu(), reason="this machine could really train")
def test_ajet_train_refuses_without_vllm_or_gpu_and_says_why(
    tmp_path, tiny_model_dir, quickstart_data
):
    ajet = quickstart_config(tiny_model_dir, quickstart_data)
    ajet["experiment"]["output_dir"] = str(tmp_path / "runs")
    conf = tmp_path / "run.yaml"
    conf.write_text(yaml.safe_dump(ajet))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "ajet_core.cli.main",
            "train",
            "--conf",
            str(conf),
            "--backbone",
            "trinity",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
        check=False,
    )
    assert result.returncode == 2, result.stderr[-3000:]
    assert "the trinity backbone cannot train here" in result.stderr
    if not HAS_VLLM:
        assert "vLLM is not installed" in result.stderr
    if not has_gpu():
        assert "no CUDA GPU is visible" in result.stderr
    assert not (tmp_path / "runs").exists()  # refused before creating anything


def test_an_unreachable_cluster_and_no_permission_to_start_one_is_a_clear_error():
    # `ray status` finds any Ray cluster running on the machine by its processes (verl's tests run
    # theirs beside these), so the cluster that cannot be reached is named: an address where no
    # Ray listens (bound here and never listening, so no other test can take it), given up on
    # after 3 s instead of Ray's 30.
    with socket.socket() as reserved:
        reserved.bind(("127.0.0.1", 0))
        env = {
            "RAY_AUTH_MODE": "disabled",
            "RAY_ADDRESS": f"127.0.0.1:{reserved.getsockname()[1]}",
            "RAY_py_gcs_connect_timeout_s": "3",
        }
        with pytest.raises(LaunchError, match="no Ray cluster is reachable"):
            ensure_ray(TrinityBackboneConfig(start_ray=False), env)


def test_a_failed_trinity_stage_is_a_failed_run(
    tmp_path, tiny_model_dir, quickstart_data, monkeypatch, capsys
):
    """trinity's own CLI exits 0 when a stage fails; ours exits 1 with trinity's error. The stage
    itself (a Ray cluster with vLLM on GPUs) is the boundary replaced here by its outcome."""
    from trinity.cli import launcher

    from ajet_backbone_trinity import run_trinity

    config, resolved = resolved_config(tmp_path, quickstart_config(tiny_model_dir, quickstart_data))
    plan = plan_launch(config, resolved)
    monkeypatch.setattr("trinity.utils.dlc_utils.is_running", lambda: True)
    seen = []

    def failed_stage(trinity_config):
        seen.append(trinity_config)
        error = launcher.StageError("TimeoutError", "trainer read no experiences", "Traceback ...")
        return launcher.StageStatus(stage="both", success=False, error=error)

    monkeypatch.setattr(launcher, "run_stage", failed_stage)
    assert run_trinity.main([str(plan.config_path)]) == 1
    assert "both stage failed: TimeoutError: trainer read no experiences" in capsys.readouterr().err
    assert seen and seen[0].mode == "both"  # the config trinity would have run, checked and updated

    monkeypatch.setattr(
        launcher, "run_stage", lambda cfg: launcher.StageStatus(stage="both", success=True)
    )
    assert run_trinity.main([str(plan.config_path)]) == 0


LOOP_DIES = """
import os, sys, traceback
os.environ["TRINITY_LOG_DIR"] = sys.argv[1]
from trinity.utils.log import get_logger
logger = get_logger(sys.argv[2], in_ray_actor=True)  # as trinity's explorer/trainer actors log
try:
    raise ValueError(sys.argv[3])
except Exception:
    logger.error(f"{sys.argv[4]} {traceback.format_exc()}")  # explorer.py:308 / trainer.py:156
"""


def test_a_stage_whose_loop_died_is_a_failed_run(
    tmp_path, tiny_model_dir, quickstart_data, monkeypatch, capsys
):
    """Trinity's explorer and trainer loops log their own exception and return as if finished, so
    the stage reports success. The actor is a separate process writing trinity's real actor log
    (trinity's logger, the message explorer.py:308 and trainer.py:156 write); the stage around it
    (Ray, vLLM on GPUs) is replaced by its outcome."""
    from trinity.cli import launcher

    from ajet_backbone_trinity import run_trinity

    config, resolved = resolved_config(tmp_path, quickstart_config(tiny_model_dir, quickstart_data))
    monkeypatch.setattr("trinity.utils.dlc_utils.is_running", lambda: True)
    runs = []

    def stage(trinity_config, loop_dies: tuple[str, str, str] | None):
        runs.append(trinity_config)
        if loop_dies:
            subprocess.run(
                [sys.executable, "-c", LOOP_DIES, trinity_config.log.save_dir, *loop_dies],
                check=True,
                timeout=300,
                capture_output=True,
            )
        return launcher.StageStatus(stage="both", success=True)

    def run(plan, loop_dies=None) -> tuple[int, str]:
        monkeypatch.setattr(launcher, "run_stage", lambda c: stage(c, loop_dies))
        code = run_trinity.main([str(plan.config_path)])
        return code, capsys.readouterr().err

    plan = plan_launch(config, resolved)
    code, err = run(plan, ("explorer", "the pipeline rejected a batch", "Error in Explorer:"))
    assert code == 1 and "stage ended, but its loop died" in err
    assert "explorer.log: Error in Explorer: Traceback" in err
    assert "ValueError: the pipeline rejected a batch" in err  # trinity's logged traceback

    # --resume appends to the same logs: the earlier attempt's failure is not this run's.
    resumed = plan_launch(config, resolved, resume="latest")
    assert run(resumed) == (0, "")
    assert runs[1].log.save_dir == runs[0].log.save_dir
    code, err = run(resumed, ("trainer", "Read incomplete batch (6/8)", "Error in Trainer:\n"))
    assert code == 1 and "trainer.log: Error in Trainer:" in err
    assert "ValueError: Read incomplete batch (6/8)" in err
    assert "the pipeline rejected a batch" not in err
