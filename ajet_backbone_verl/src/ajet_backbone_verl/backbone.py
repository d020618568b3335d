"""``ajet train --backbone verl``: prepare a run folder verl can train from, then hand over to
verl's own trainer on Ray.

The run folder holds, next to the usual ``config.yaml``: ``verl/train.parquet`` and
``verl/validation.parquet`` (the tasks, from any ajet task reader), ``verl/agent_loops.yaml``
(registers the ``ajet`` agent loop with this run's config), ``verl/verl_config.yaml`` (verl's
full config after translation) and ``checkpoints/`` (verl's). ``--resume RUN_DIR`` reuses the
folder and verl resumes from its latest checkpoint there.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ajet_backbone_verl.environment import check
from ajet_backbone_verl.options import VerlBackboneConfig
from ajet_core.backbone import Backbone
from ajet_core.errors import AjetError, ConfigError
from ajet_core.readers import TRAIN_SPLIT
from ajet_core.training import components
from ajet_core.training.run_dir import create_run_dir

VERL_FOLDER = "verl"
VERL_CONFIG_FILE = "verl_config.yaml"


@dataclass
class PreparedRun:
    run_dir: Path
    verl_config: Any  # omegaconf DictConfig
    task_counts: dict[str, int]
    warnings: list[str]


class VerlBackbone(Backbone):
    name = "verl"
    config_model = VerlBackboneConfig

    def prepare(self, resolved: dict[str, Any], *, run_dir: Path | None = None) -> PreparedRun:
        """Write the run folder and build verl's config; nothing is launched."""
        from omegaconf import OmegaConf

        from ajet_backbone_verl.data import write_task_files
        from ajet_backbone_verl.translation import compose, translate

        # Absolute: verl's Ray actors read these paths from their own working directory.
        run_dir = (run_dir or create_run_dir(self.config)).resolve()
        files = run_dir / VERL_FOLDER
        translation = translate(self.config, self.options, run_files=files)
        reader = components.instantiate(resolved["task_reader"])
        try:
            counts = write_task_files(reader, files)
        finally:
            reader.close()
        if counts[TRAIN_SPLIT] < self.config.rollout.batch_size:
            raise ConfigError(
                f"the task reader gives {counts[TRAIN_SPLIT]} training tasks, fewer than "
                f"rollout.batch_size={self.config.rollout.batch_size}: verl's dataloader drops "
                "incomplete batches, so no step would run; lower rollout.batch_size or add tasks"
            )
        loops = [
            {
                "name": "ajet",
                "_target_": "ajet_backbone_verl.agent_loop.AjetAgentLoop",
                "ajet_config_path": str(run_dir / "config.yaml"),
                "ajet_working_dir": str(Path.cwd()),
            }
        ]
        (files / "agent_loops.yaml").write_text(yaml.safe_dump(loops, sort_keys=False))
        verl_config = compose(translation)
        (files / VERL_CONFIG_FILE).write_text(OmegaConf.to_yaml(verl_config))
        return PreparedRun(run_dir, verl_config, counts, translation.warnings)

    def train(
        self, *, resume: str | None = None, resolved: dict[str, Any], **_: Any
    ) -> PreparedRun:
        _require_training_environment()
        prepared = self._resume(Path(resume)) if resume else self.prepare(resolved)
        for warning in prepared.warnings:
            print(f"ajet: warning: {warning}")
        print(f"run folder: {prepared.run_dir}")
        self._launch_with_metrics(prepared)
        return prepared

    def evaluate(
        self, *, resolved: dict[str, Any], checkpoint: str | None = None, **_: Any
    ) -> PreparedRun:
        """verl's validation-only run (``trainer.val_only``) on the validation tasks."""
        _require_training_environment()
        prepared = self.prepare(resolved)
        prepared.verl_config.trainer.val_only = True
        prepared.verl_config.trainer.val_before_train = True
        if checkpoint:
            prepared.verl_config.trainer.resume_mode = "resume_path"
            prepared.verl_config.trainer.resume_from_path = str(Path(checkpoint).resolve())
        self._launch_with_metrics(prepared)
        return prepared

    def _launch_with_metrics(self, prepared: PreparedRun) -> None:
        from ajet_backbone_verl.metrics_bridge import MetricsBridge
        from ajet_core.plugins.manager import get_plugin_manager

        bridge = MetricsBridge.for_run(prepared.run_dir, self.config, get_plugin_manager())
        bridge.start()
        try:
            launch(prepared.verl_config, ray_address=self.options.ray_address)
        finally:
            bridge.stop()

    def _resume(self, run_dir: Path) -> PreparedRun:
        from omegaconf import OmegaConf

        run_dir = run_dir.resolve()
        saved = run_dir / VERL_FOLDER / VERL_CONFIG_FILE
        if not saved.is_file():
            raise ConfigError(
                f"--resume {str(run_dir)!r} is not a verl run folder (no "
                f"{VERL_FOLDER}/{VERL_CONFIG_FILE}); pass the folder `ajet train --backbone verl` "
                "printed"
            )
        verl_config = OmegaConf.load(saved)
        verl_config.trainer.resume_mode = (
            "auto"  # verl picks its latest checkpoint in default_local_dir
        )
        return PreparedRun(run_dir, verl_config, {}, [])


def _require_training_environment() -> None:
    report = check(gpu=True)
    if report.problems:
        raise AjetError("the verl backbone cannot run here: " + "; ".join(report.problems))
    missing = [w for w in report.warnings if "GPU" in w or "rollout engine" in w or "vLLM" in w]
    if missing:
        raise AjetError(
            "verl trains on GPUs with a rollout engine (vLLM or SGLang): "
            + "; ".join(missing)
            + ". Use `--backbone debug` on this machine; "
            "`scripts/gpu/verl_smoke.sh --dry-run` checks a GPU machine"
        )


def launch(verl_config: Any, *, ray_address: str | None) -> None:
    """Run verl's trainer as its own ``main_ppo`` entry point does (config check, Ray, runner)."""
    from verl.trainer.main_ppo import TaskRunnerV1, run_ppo
    from verl.trainer.ppo.utils import need_critic, need_reference_policy
    from verl.utils.config import validate_config

    if not ray_address:
        # Ray >= 2.60 turns token auth on by default; a local head started here needs none.
        os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    validate_config(
        config=verl_config,
        use_reference_policy=need_reference_policy(verl_config),
        use_critic=need_critic(verl_config),
    )
    if verl_config.trainer.use_v1:
        run_ppo(verl_config, task_runner_class=TaskRunnerV1)
    else:
        from verl.trainer.main_ppo_v0 import TaskRunner

        run_ppo(verl_config, task_runner_class=TaskRunner)
