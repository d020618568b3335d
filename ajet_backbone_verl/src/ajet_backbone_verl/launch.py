"""Hand a prepared run to verl's trainer the way verl's ``main_ppo`` does, on a Ray we connect.

verl's ``run_ppo`` starts Ray itself unless one is connected; we connect first so that the Ray
head is one that survives a loaded machine (:mod:`ajet_core.cluster.ray_head`) and every worker gets
the environment this run needs: verl's own defaults (``get_ppo_ray_runtime_env``), the Transfer
Queue switch ``run_ppo`` would add, the CPU mode's variables (:mod:`.cpu.settings`), and where
verl's file logger and the CPU engine write in the run folder.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ajet_backbone_verl.cpu import settings as cpu_settings
from ajet_backbone_verl.cpu.server import ENGINE_LOG_VARIABLE
from ajet_core.cluster.ray_head import LocalRayHead

VERL_FOLDER = "verl"
# verl's own trainer metrics, one file per launch (verl's file logger truncates its file).
TRAINER_METRICS_FOLDER = "trainer_metrics"
CPU_ENGINE_LOG = "cpu_engine.jsonl"


def trainer_metrics_file(run_dir: Path) -> Path:
    """A fresh file for this launch's verl metrics: ``launch-01.jsonl``, ``launch-02.jsonl``..."""
    folder = run_dir / VERL_FOLDER / TRAINER_METRICS_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"launch-{len(list(folder.glob('launch-*.jsonl'))) + 1:02d}.jsonl"


def is_cpu_engine(verl_config: Any) -> bool:
    return verl_config.actor_rollout_ref.rollout.name == cpu_settings.ROLLOUT_NAME


def worker_environment(verl_config: Any, run_dir: Path) -> dict[str, str]:
    env = {"VERL_FILE_LOGGER_PATH": str(trainer_metrics_file(run_dir))}
    if verl_config.transfer_queue.enable:
        env["TRANSFER_QUEUE_ENABLE"] = "1"
    if is_cpu_engine(verl_config):
        env.update(cpu_settings.WORKER_ENVIRONMENT)
        env[ENGINE_LOG_VARIABLE] = str(run_dir / VERL_FOLDER / CPU_ENGINE_LOG)
    return env


def runtime_env(verl_config: Any, env: dict[str, str]) -> dict[str, Any]:
    from omegaconf import OmegaConf
    from verl.trainer.constants_ppo import get_ppo_ray_runtime_env

    merged = OmegaConf.merge(
        get_ppo_ray_runtime_env(verl_config),
        verl_config.ray_kwargs.get("ray_init", {}).get("runtime_env", {}),
        {"env_vars": env},
    )
    return OmegaConf.to_container(merged, resolve=True)


def launch(verl_config: Any, *, run_dir: Path, ray_address: str | None) -> None:
    """Check verl's config, connect Ray (starting a private head unless given an address), train."""
    import ray
    from verl.trainer.main_ppo import TaskRunnerV1, run_ppo
    from verl.trainer.ppo.utils import need_critic, need_reference_policy
    from verl.utils.config import validate_config

    validate_config(
        config=verl_config,
        use_reference_policy=need_reference_policy(verl_config),
        use_critic=need_critic(verl_config),
    )
    if verl_config.trainer.use_v1:
        runner = TaskRunnerV1
    else:
        from verl.trainer.main_ppo_v0 import TaskRunner as runner
    env = worker_environment(verl_config, run_dir)
    head = None
    if not ray_address:
        cpu = is_cpu_engine(verl_config)
        ray_init = verl_config.ray_kwargs.get("ray_init", {})
        head = LocalRayHead(
            num_cpus=cpu_settings.RAY_CPUS if cpu else ray_init.get("num_cpus"),
            num_gpus=cpu_settings.RAY_GPUS if cpu else None,
            environment=env,
        )
        # The driver talks to a head without token auth (Ray >= 2.60 turns it on by default).
        os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    try:
        address = head.start() if head else ray_address
        ray.init(address=address, runtime_env=runtime_env(verl_config, env), log_to_driver=True)
        run_ppo(verl_config, task_runner_class=runner)
    finally:
        if ray.is_initialized():
            ray.shutdown()
        if head is not None:
            head.stop()
