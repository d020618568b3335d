"""``ajet train --backbone trinity``: write the trinity config and run trinity on Ray.

Stages (each one a function below, so the dry run and the tests stop where they need to):

1. the run folder (``runs/<experiment>/<time>/``, or the resumed one), as every backbone has;
2. the tasks, materialised from our task reader into ``<run>/tasks/`` (:mod:`.tasks`);
3. the trinity config, translated (:mod:`.translation`), written to ``<run>/trinity.yaml`` and
   read back with trinity's own ``load_config`` — a config trinity rejects fails here, not on the
   cluster;
4. the environment: vLLM and a GPU are required for a real run (trinity's explorer serves
   rollouts with vLLM); without them training stops with what is missing. With
   ``backbone.rollout_engine: cpu`` (:mod:`.cpu`) neither is needed;
5. Ray: a running cluster (``cluster.ray_address``), or a local head started here with
   ``RAY_AUTH_MODE=disabled`` (Ray >= 2.60 enables token auth by default). A CPU-engine run
   starts a private head (``ajet_core.cluster.ray_head``: own temp dir and ports, the logical
   GPUs trinity's placement groups ask for) unless ``backbone.ray_address`` names a cluster, and
   stops exactly that head when the run ends;
6. trinity itself: ``python -m ajet_backbone_trinity.run_trinity <run>/trinity.yaml`` (trinity's
   ``run`` command, exiting non-zero when the stage failed).

Checkpoints and resume are trinity's: its checkpoints live under ``<run>/trinity/``, and
``--resume`` points trinity back at that folder (``continue_from_checkpoint``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from ajet_backbone_trinity import environment
from ajet_backbone_trinity.cpu import settings as cpu_settings
from ajet_backbone_trinity.tasks import write_taskset
from ajet_backbone_trinity.translation import (
    TrinityBackboneConfig,
    TrinityTranslation,
    to_yaml,
    translate,
)
from ajet_core.cluster.ray_head import LocalRayHead
from ajet_core.config.models import AjetConfig
from ajet_core.config.plugin_sections import RunPlan
from ajet_core.errors import AjetError, ConfigError
from ajet_core.readers import VALIDATION_SPLIT
from ajet_core.training import components
from ajet_core.training.run_dir import RunLock, create_run_dir, latest_run_dir

TRINITY_CONFIG_FILE = "trinity.yaml"
TASKS_DIR = "tasks"
# A CPU-engine run's engine events: weight versions loaded, and the version of each generation.
CPU_ENGINE_LOG = "trinity_cpu_engine.jsonl"


class LaunchError(AjetError):
    """Trinity cannot run here or failed; the message says what is missing (CLI exit 2)."""


@dataclass
class LaunchPlan:
    run_dir: Path
    tasks_dir: Path
    config_path: Path
    translation: TrinityTranslation
    command: list[str]
    env: dict[str, str] = field(default_factory=dict)
    # Held while the run trains (one writer per run folder; see ajet_core.training.run_dir).
    lock: RunLock | None = None

    def describe(self) -> str:
        lines = [
            f"run folder:     {self.run_dir}",
            f"tasks:          {self.tasks_dir}",
            f"trinity config: {self.config_path}",
            (
                f"trinity mode:   {self.translation.data['mode']} "
                f"(sync_style {self.translation.data['synchronizer']['sync_style']}, "
                f"sync_offset {self.translation.data['synchronizer']['sync_offset']})"
            ),
            f"command:        {' '.join(self.command)}",
        ]
        lines += [f"note: {note}" for note in self.translation.notes]
        return "\n".join(lines)


def resolve_run_dir(config: AjetConfig, resume: str | None) -> tuple[Path, bool]:
    """Stage 1: a new run folder, or the one ``--resume`` names ('latest' or a folder)."""
    if resume is None:
        return create_run_dir(config), False
    run_dir = latest_run_dir(config) if resume == "latest" else Path(resume)
    if run_dir is None or not (run_dir / TRINITY_CONFIG_FILE).exists():
        where = (
            f"{config.experiment.output_dir}/{config.experiment.name}"
            if resume == "latest"
            else resume
        )
        raise ConfigError(
            f"--resume {resume!r}: no trinity run under {where!r} (it has no "
            f"{TRINITY_CONFIG_FILE}); start a new run or pass the run folder of an earlier `ajet "
            "train --backbone trinity`"
        )
    return run_dir, True


def materialise_tasks(config: AjetConfig, resolved: RunPlan, tasks_dir: Path) -> None:
    """Stage 2: the train split, and the validation split when evaluation is configured."""
    reader = components.instantiate(resolved.task_reader)
    try:
        write_taskset(reader, "train", tasks_dir)
        if config.eval.every_n_steps or config.eval.before_train or config.eval.after_train:
            write_taskset(reader, VALIDATION_SPLIT, tasks_dir, limit=config.eval.max_tasks)
    finally:
        reader.close()


def write_trinity_config(translation: TrinityTranslation, path: Path) -> None:
    """Stage 3: the YAML trinity will read, checked by trinity's own loader now."""
    path.write_text(to_yaml(translation))
    from trinity.common.config import load_config

    try:
        load_config(str(path))
    except ValueError as exc:
        raise ConfigError(f"trinity rejects the translated config {path}: {exc}") from None


def validate_with_trinity(plan: LaunchPlan, options: TrinityBackboneConfig) -> str:
    """Trinity's own full validation (``Config.check_and_update``) of the config it would launch.

    It runs without Ray when the cluster shape is in the config (``backbone.nodes`` and
    ``gpus_per_node``); otherwise trinity asks Ray at launch, so it is left to the launch.
    """
    if not (options.nodes and options.gpus_per_node):
        return (
            "trinity's full validation runs at launch "
            "(set backbone.nodes and gpus_per_node to run it now)"
        )
    from trinity.common.config import load_config

    try:
        load_config(str(plan.config_path)).check_and_update()
    except (ValueError, RuntimeError, AssertionError) as exc:
        raise ConfigError(
            f"trinity rejects the translated config {plan.config_path}: {exc}"
        ) from None
    return "trinity's validation (load_config + check_and_update): ok"


def plan_launch(
    config: AjetConfig, resolved: RunPlan, *, resume: str | None = None, lock: bool = False
) -> LaunchPlan:
    """Stages 1-3: everything a launch needs, without touching Ray or a GPU. ``lock``: take the
    run folder's writer lock first (a real launch), before the trinity config is rewritten."""
    assert resolved.backbone is not None  # the launcher resolves every section
    options = resolved.backbone.options
    if not isinstance(options, TrinityBackboneConfig):
        options = TrinityBackboneConfig.model_validate(config.backbone.plugin_options())
    run_dir, resuming = resolve_run_dir(config, resume)
    run_lock = RunLock(run_dir) if lock else None
    tasks_dir = run_dir / TASKS_DIR
    if not resuming:
        materialise_tasks(config, resolved, tasks_dir)
    translation = translate(
        config, options, run_dir=run_dir.resolve(), tasks_dir=tasks_dir.resolve(), resume=resuming
    )
    config_path = run_dir / TRINITY_CONFIG_FILE
    write_trinity_config(translation, config_path)
    # Not trinity's own CLI, which exits 0 when a stage failed (see run_trinity).
    command = [
        sys.executable,
        "-m",
        "ajet_backbone_trinity.run_trinity",
        str(config_path.resolve()),
    ]
    env = {"RAY_AUTH_MODE": os.environ.get("RAY_AUTH_MODE", "disabled")}
    if options.rollout_engine == cpu_settings.ENGINE_TYPE:
        env[cpu_settings.ENGINE_LOG_VARIABLE] = str((run_dir / CPU_ENGINE_LOG).resolve())
    return LaunchPlan(run_dir, tasks_dir, config_path, translation, command, env, run_lock)


def check_runnable(
    report: environment.EnvironmentReport | None = None,
) -> environment.EnvironmentReport:
    """Stage 4: refuse to start trinity where it cannot train, naming what is missing."""
    report = report or environment.check(gpu=True)
    missing = list(report.problems)
    if report.versions.get("vllm") is None:
        missing.append(
            "vLLM is not installed (trinity's explorer serves rollouts with it; "
            "pip install 'trinity-rft[vllm]>=0.6,<0.7' on a CUDA machine: it picks a vLLM "
            "release trinity supports)"
        )
    if report.gpu is False:
        missing.append(
            "no CUDA GPU is visible to torch (trinity's explorer and trainer need at least one)"
        )
    if missing:
        raise LaunchError(
            "the trinity backbone cannot train here: "
            + "; ".join(missing)
            + ". Use `--backbone debug` on this machine, or run on a GPU machine with vLLM "
            "(scripts/gpu/trinity_smoke.sh --dry-run checks one)"
        )
    return report


def ray_executable() -> str:
    """The ``ray`` command of this environment (next to the interpreter), else the one on PATH."""
    ray = shutil.which("ray", path=str(Path(sys.executable).parent)) or shutil.which("ray")
    if ray is None:
        raise LaunchError(
            "the `ray` command is not installed here; pip install 'ray[default]' (trinity-rft "
            "pulls it)"
        )
    return ray


def ensure_ray(options: TrinityBackboneConfig, env: dict[str, str]) -> None:
    """Stage 5: use the cluster at ``ray_address``; start a local head if allowed and none runs."""
    ray = ray_executable()
    run_env = {**os.environ, **env}
    status = subprocess.run(
        [ray, "status"], capture_output=True, text=True, env=run_env, check=False
    )
    if status.returncode == 0:
        return
    if not options.start_ray or options.ray_address not in ("auto", "local"):
        raise LaunchError(
            "no Ray cluster is reachable (ray status: "
            f"{status.stderr.strip()[-300:] or status.stdout.strip()[-300:]}); start one with "
            "`RAY_AUTH_MODE=disabled ray start --head` or set backbone.start_ray=true"
        )
    started = subprocess.run(
        [ray, "start", "--head"], capture_output=True, text=True, env=run_env, check=False
    )
    if started.returncode != 0:
        raise LaunchError(f"`ray start --head` failed: {started.stderr.strip()[-500:]}")


def private_cpu_head(options: TrinityBackboneConfig) -> LocalRayHead | None:
    """The private Ray head a CPU-engine run starts, unless ``ray_address`` names a cluster."""
    if options.rollout_engine != cpu_settings.ENGINE_TYPE:
        return None
    if options.ray_address not in ("auto", "local"):
        return None
    return LocalRayHead(
        num_cpus=cpu_settings.RAY_CPUS,
        num_gpus=cpu_settings.RAY_GPUS,
        environment=cpu_settings.PROCESS_ENVIRONMENT,
    )


def launch(plan: LaunchPlan, options: TrinityBackboneConfig) -> int:
    """Stages 5-6: Ray, then trinity; returns trinity's exit status."""
    env = dict(plan.env)
    head = private_cpu_head(options)
    try:
        if head is not None:
            # "auto" in trinity's config resolves through RAY_ADDRESS, for `ray status` too.
            env["RAY_ADDRESS"] = head.start()
        else:
            ensure_ray(options, env)
        print(plan.describe(), flush=True)
        return subprocess.run(plan.command, env={**os.environ, **env}, check=False).returncode
    finally:
        if head is not None:
            head.stop()


def train(config: AjetConfig, resolved: RunPlan, *, resume: str | None = None) -> Path:
    options = TrinityBackboneConfig.model_validate(config.backbone.plugin_options())
    if options.rollout_engine != cpu_settings.ENGINE_TYPE:
        check_runnable()
    plan = plan_launch(config, resolved, resume=resume, lock=True)
    try:
        code = launch(plan, options)
    finally:
        if plan.lock is not None:
            plan.lock.release()
    if code != 0:
        raise LaunchError(
            f"trinity exited with status {code}; its logs are under "
            f"{plan.translation.data['checkpoint_root_dir']} (log/ of the job folder)"
        )
    print(f"run folder: {plan.run_dir}")
    return plan.run_dir


def main(argv: list[str] | None = None) -> int:
    """``python -m ajet_backbone_trinity.launch --conf X [--dry-run] [KEY=VALUE ...]``."""
    import argparse

    from ajet_core.config.loader import load_config
    from ajet_core.config.plugin_sections import validate_plugin_sections
    from ajet_core.plugins.manager import get_plugin_manager

    parser = argparse.ArgumentParser(
        prog="python -m ajet_backbone_trinity.launch",
        description="run an AgentJet config on Trinity-RFT",
    )
    parser.add_argument("--conf", required=True, help="the run's YAML config")
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="resolve the config, write the trinity config, check the environment; run nothing",
    )
    parser.add_argument(
        "--resume", nargs="?", const="latest", help="continue a trinity run (its run folder)"
    )
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE")
    args = parser.parse_args(argv)
    try:
        loaded = load_config(args.conf, args.overrides, backbone="trinity")
        for warning in loaded.warnings:
            print(f"ajet: warning: {warning}", file=sys.stderr)
        resolved = validate_plugin_sections(loaded.config, get_plugin_manager())
        if args.dry_run:
            plan = plan_launch(loaded.config, resolved)
            options = TrinityBackboneConfig.model_validate(loaded.config.backbone.plugin_options())
            validated = validate_with_trinity(plan, options)
            report = environment.check(gpu=True)
            print(plan.describe())
            print(validated)
            print(report.format())
            if not report.ok:
                return 1
            if options.rollout_engine == cpu_settings.ENGINE_TYPE:
                print("dry run: ok (rollout_engine cpu: no vLLM or GPU needed)")
                return 0
            try:
                check_runnable(report)
                print("dry run: ok (this machine can run it)")
            except LaunchError as exc:
                print(f"dry run: config ok; a real run here would stop: {exc}")
            return 0
        train(loaded.config, resolved, resume=args.resume)
        return 0
    except (AjetError, NotImplementedError) as exc:
        print(f"ajet: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
