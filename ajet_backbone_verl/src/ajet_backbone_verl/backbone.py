"""``ajet train --backbone verl``: prepare a run folder verl can train from, then hand over to
verl's own trainer on Ray.

The run folder holds, next to the usual ``config.yaml``: ``verl/train.parquet`` and
``verl/validation.parquet`` (the tasks, from any ajet task reader), ``verl/agent_loops.yaml``
(registers the ``ajet`` agent loop with this run's config), ``verl/verl_config.yaml`` (verl's
full config after translation), ``verl/trainer_metrics/`` (verl's own metrics, per launch) and
``checkpoints/`` (verl's). ``--resume RUN_DIR`` reuses the folder and verl resumes from its latest
checkpoint there; ``--resume RUN_DIR/checkpoints/global_step_N`` from that one (the steps after it
run again, so what the run logged for them is dropped first).
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ajet_backbone_verl.cpu import settings as cpu_settings
from ajet_backbone_verl.environment import check
from ajet_backbone_verl.launch import VERL_FOLDER
from ajet_backbone_verl.options import VerlBackboneConfig
from ajet_backbone_verl.runtime import spool_folder
from ajet_backbone_verl.worker_config import write_worker_config
from ajet_core.backbone import Backbone, TrainedRun
from ajet_core.config.plugin_sections import RunPlan
from ajet_core.errors import AjetError, ConfigError
from ajet_core.readers import TRAIN_SPLIT
from ajet_core.training import components
from ajet_core.training.run_dir import create_run_dir

VERL_CONFIG_FILE = "verl_config.yaml"
CHECKPOINT_FOLDER = re.compile(r"^global_step_(\d+)$")


@dataclass
class PreparedRun(TrainedRun):
    verl_config: Any  # omegaconf DictConfig
    task_counts: dict[str, int]
    warnings: list[str]


class VerlBackbone(Backbone):
    name = "verl"
    options_model = VerlBackboneConfig

    def prepare(self, resolved: RunPlan, *, run_dir: Path | None = None) -> PreparedRun:
        """Write the run folder and build verl's config; nothing is launched."""
        from omegaconf import OmegaConf

        from ajet_backbone_verl.data import write_task_files
        from ajet_backbone_verl.translation import compose, translate

        # Absolute: verl's Ray actors read these paths from their own working directory.
        run_dir = (run_dir or create_run_dir(self.config)).resolve()
        write_worker_config(run_dir, self.config)
        files = run_dir / VERL_FOLDER
        reader = components.instantiate(resolved.task_reader)
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
        translation = translate(
            self.config, self.options, run_files=files, train_tasks=counts[TRAIN_SPLIT]
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

    def train(self, *, resolved: RunPlan, resume: str | None = None, **_: Any) -> PreparedRun:
        require_training_environment(self.options.rollout_engine)
        prepared = self._resume(Path(resume)) if resume else self.prepare(resolved)
        for warning in prepared.warnings:
            print(f"ajet: warning: {warning}")
        print(f"run folder: {prepared.run_dir}", flush=True)
        self._launch_with_metrics(prepared)
        return prepared

    def evaluate(
        self, *, resolved: RunPlan, checkpoint: str | None = None, **_: Any
    ) -> PreparedRun:
        """verl's validation-only run (``trainer.val_only``) on the validation tasks."""
        require_training_environment(self.options.rollout_engine)
        prepared = self.prepare(resolved)
        prepared.verl_config.trainer.val_only = True
        prepared.verl_config.trainer.val_before_train = True
        if checkpoint:
            prepared.verl_config.trainer.resume_mode = "resume_path"
            prepared.verl_config.trainer.resume_from_path = str(Path(checkpoint).resolve())
        self._launch_with_metrics(prepared)
        return prepared

    def _launch_with_metrics(self, prepared: PreparedRun) -> None:
        from ajet_backbone_verl.launch import launch
        from ajet_backbone_verl.metrics_bridge import MetricsBridge
        from ajet_core.plugins.manager import get_plugin_manager

        bridge = MetricsBridge.for_run(prepared.run_dir, self.config, get_plugin_manager())
        bridge.start()
        try:
            launch(
                prepared.verl_config, run_dir=prepared.run_dir, ray_address=self.options.ray_address
            )
        finally:
            bridge.stop()

    def _resume(self, target: Path) -> PreparedRun:
        """A run folder (verl's latest checkpoint there) or one of its ``global_step_N`` folders."""
        from omegaconf import OmegaConf

        target = target.resolve()
        step_folder = CHECKPOINT_FOLDER.match(target.name)
        run_dir = target.parent.parent if step_folder else target
        saved = run_dir / VERL_FOLDER / VERL_CONFIG_FILE
        if not saved.is_file():
            raise ConfigError(
                f"--resume {str(target)!r} is neither a verl run folder nor a checkpoint of one "
                f"(no {VERL_FOLDER}/{VERL_CONFIG_FILE} in {str(run_dir)!r}); pass the folder "
                "`ajet train --backbone verl` printed, or its checkpoints/global_step_N"
            )
        verl_config = OmegaConf.load(saved)
        if step_folder is None:
            verl_config.trainer.resume_mode = "auto"  # verl's latest checkpoint in the run
        else:
            if not (target / "actor").is_dir():
                raise ConfigError(
                    f"--resume {str(target)!r}: no verl actor checkpoint there (no actor/ folder)"
                )
            verl_config.trainer.resume_mode = "resume_path"
            verl_config.trainer.resume_from_path = str(target)
            rewind_run_folder(run_dir, int(step_folder.group(1)))
        return PreparedRun(run_dir, verl_config, {}, [])


def rewind_run_folder(run_dir: Path, step: int) -> None:
    """Forget what the run logged after ``step``: those steps run again from its checkpoint, so
    their ``metrics.jsonl`` lines would be duplicates and their spooled episodes stale."""
    metrics = run_dir / "metrics.jsonl"
    if metrics.exists():
        rows = [line for line in metrics.read_text().splitlines() if line.strip()]
        kept = [line for line in rows if json.loads(line).get("step", 0) <= step]
        metrics.write_text("".join(line + "\n" for line in kept))
    spool = spool_folder(run_dir)
    for folder in sorted(spool.glob("*_step_*")) if spool.is_dir() else []:
        if int(folder.name.rsplit("_", 1)[1]) > step:
            shutil.rmtree(folder)


def require_training_environment(rollout_engine: str) -> None:
    cpu = rollout_engine == cpu_settings.ENGINE_NAME
    report = check(gpu=not cpu)
    if report.problems:
        raise AjetError("the verl backbone cannot run here: " + "; ".join(report.problems))
    if cpu:
        return  # verl's trainer on the CPU, the policy served by the debug backbone's engine
    missing = [w for w in report.warnings if "GPU" in w or "rollout engine" in w or "vLLM" in w]
    if missing:
        raise AjetError(
            "verl trains on GPUs with a rollout engine (vLLM or SGLang): "
            + "; ".join(missing)
            + ". Use `--backbone debug` on this machine, or backbone.rollout_engine=cpu for verl's "
            "own trainer on the CPU (for tests: slow); `scripts/gpu/verl_smoke.sh --dry-run` "
            "checks a GPU machine"
        )
