"""The ajet run config in verl's terms: Hydra overrides of verl's ``ppo_trainer`` config.

:data:`MAPPING` is the table in this package's README (a test keeps them in step). Keys of the
backbone section that are not our own options pass through to verl unchanged; combinations
that cannot work are refused here, at load time, with the reason.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ajet_backbone_verl.advantage import ESTIMATOR_NAME
from ajet_backbone_verl.agent_loop import AGENT_LOOP_NAME
from ajet_backbone_verl.cpu import settings as cpu_settings
from ajet_backbone_verl.options import VerlBackboneConfig
from ajet_core.config.models import AjetConfig
from ajet_core.errors import ConfigError

# ajet key -> the verl keys it sets (documentation; the values are computed in `overrides`).
MAPPING: dict[str, tuple[str, ...]] = {
    "experiment.project": ("trainer.project_name",),
    "experiment.name": ("trainer.experiment_name",),
    "experiment.seed": ("data.seed", "actor_rollout_ref.rollout.seed"),
    "model.path": ("actor_rollout_ref.model.path",),
    "model.trust_remote_code": (
        "actor_rollout_ref.model.trust_remote_code",
        "data.trust_remote_code",
    ),
    "model.dtype": ("actor_rollout_ref.rollout.dtype",),
    "model.max_model_len": (
        "actor_rollout_ref.rollout.max_model_len",
        "data.max_prompt_length",
        "data.max_response_length",
    ),
    "rollout.batch_size": ("data.train_batch_size", "actor_rollout_ref.actor.ppo_mini_batch_size"),
    "rollout.num_repeat": ("actor_rollout_ref.rollout.n",),
    "rollout.temperature": ("actor_rollout_ref.rollout.temperature",),
    "rollout.top_p": ("actor_rollout_ref.rollout.top_p",),
    "rollout.top_k": ("actor_rollout_ref.rollout.top_k",),
    "eval.temperature": (
        "actor_rollout_ref.rollout.val_kwargs.temperature",
        "actor_rollout_ref.rollout.val_kwargs.do_sample",
    ),
    "eval.num_repeat": ("actor_rollout_ref.rollout.val_kwargs.n",),
    "eval.every_n_steps": ("trainer.test_freq",),
    "eval.before_train": ("trainer.val_before_train",),
    "eval.max_tasks": ("data.val_max_samples",),
    "trainer.total_steps": ("trainer.total_training_steps",),
    "trainer.total_epochs": ("trainer.total_epochs",),
    "trainer.lr": ("actor_rollout_ref.actor.optim.lr",),
    "trainer.weight_decay": ("actor_rollout_ref.actor.optim.weight_decay",),
    "trainer.betas": ("actor_rollout_ref.actor.optim.betas",),
    "trainer.grad_clip": ("actor_rollout_ref.actor.optim.clip_grad",),
    "trainer.warmup_steps": ("actor_rollout_ref.actor.optim.lr_warmup_steps",),
    "trainer.lr_scheduler": ("actor_rollout_ref.actor.optim.lr_scheduler_type",),
    "trainer.ppo_epochs": ("actor_rollout_ref.actor.ppo_epochs",),
    "trainer.clip_ratio_low": ("actor_rollout_ref.actor.clip_ratio_low",),
    "trainer.clip_ratio_high": ("actor_rollout_ref.actor.clip_ratio_high",),
    "trainer.loss_agg": ("actor_rollout_ref.actor.loss_agg_mode",),
    "trainer.kl_coef": (
        "actor_rollout_ref.actor.use_kl_loss",
        "actor_rollout_ref.actor.kl_loss_coef",
    ),
    "trainer.recompute_logprobs": ("algorithm.rollout_correction.bypass_mode",),
    "trainer.micro_batch_tokens": (
        "actor_rollout_ref.actor.use_dynamic_bsz",
        "actor_rollout_ref.actor.ppo_max_token_len_per_gpu",
    ),
    "trainer.lora.rank": ("actor_rollout_ref.model.lora_rank",),
    "trainer.lora.alpha": ("actor_rollout_ref.model.lora_alpha",),
    "checkpoint.every_n_steps": ("trainer.save_freq",),
    "checkpoint.keep_last": ("trainer.max_actor_ckpt_to_keep",),
    "logging.loggers": ("trainer.logger",),
}
# verl keys the backbone owns: the seam between ajet and verl (the README lists them too).
OWNED = {
    "algorithm.adv_estimator": ESTIMATOR_NAME,
    "algorithm.use_kl_in_reward": False,
    "actor_rollout_ref.rollout.agent.default_agent_loop": AGENT_LOOP_NAME,
    "actor_rollout_ref.rollout.calculate_log_probs": True,
    "data.return_raw_chat": True,
}
# The server settings under which an OutputConstraint is enforced as engine.py maps it, per
# backbone.rollout_engine (backbone.* keys still override them). vLLM: the guidance backend for
# every request (a request cannot choose one; verl passes engine_kwargs.vllm to `vllm serve`,
# a JSON string as is). SGLang: the llguidance grammar backend, and its tokenizer, without which
# SGLang aborts every grammar request (verl skips it by default).
GUIDED_DECODING: dict[str, dict[str, Any]] = {
    "vllm": {
        "++actor_rollout_ref.rollout.engine_kwargs.vllm.structured_outputs_config": (
            '{"backend": "guidance"}'
        )
    },
    "sglang": {
        "++actor_rollout_ref.rollout.engine_kwargs.sglang.grammar_backend": "llguidance",
        "actor_rollout_ref.rollout.skip_tokenizer_init": False,
    },
}
LOSS_AGG = {"token_mean": "token-mean", "seq_mean": "seq-mean-token-mean"}
# Loggers verl runs itself. metrics.jsonl (and our TensorBoard files) are written by the
# metrics bridge in the ajet process; any other ajet logger has no place under verl.
VERL_LOGGERS = {"console", "wandb", "swanlab", "tensorboard", "mlflow", "clearml"}
BRIDGED_LOGGERS = {"jsonl", "tensorboard"}
# Checkpoint "only at the end" in verl: a period longer than any run (verl also saves at the
# last step).
ONLY_AT_THE_END = 10**9


@dataclass
class Translation:
    overrides: dict[str, Any]
    warnings: list[str] = field(default_factory=list)

    def hydra_overrides(self) -> list[str]:
        return [f"{key}={_hydra_value(value)}" for key, value in self.overrides.items()]


def _hydra_value(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_hydra_value(v) for v in value) + "]"
    if isinstance(value, str):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return repr(value)


def translate(
    config: AjetConfig,
    options: VerlBackboneConfig,
    *,
    run_files: Path,
    train_tasks: int | None = None,
) -> Translation:
    """verl overrides for ``config``. ``run_files`` is the folder holding the task parquet files
    and the agent-loop config this run writes; ``train_tasks`` how many training tasks it holds."""
    _refuse_impossible(config, options)
    t = Translation({})
    o = t.overrides
    experiment, model, rollout, trainer = (
        config.experiment,
        config.model,
        config.rollout,
        config.trainer,
    )
    if not model.path:
        raise ConfigError(
            "model.path is not set: the verl backbone trains a local Hugging Face model directory"
        )
    o["trainer.project_name"] = experiment.project
    o["trainer.experiment_name"] = experiment.name
    o["data.seed"] = experiment.seed
    o["actor_rollout_ref.rollout.seed"] = experiment.seed
    o["actor_rollout_ref.model.path"] = str(Path(model.path).expanduser().resolve())
    o["actor_rollout_ref.model.trust_remote_code"] = model.trust_remote_code
    # The rollout engine's weights; verl's FSDP trains in its mixed precision whatever this says
    # (float32 master weights, bfloat16 compute). "auto": verl's default (bfloat16).
    if model.dtype != "auto":
        o["actor_rollout_ref.rollout.dtype"] = model.dtype
    o["data.trust_remote_code"] = model.trust_remote_code
    # A merged sample is cut at its first trained token; either side may be almost the whole
    # context, so both limits are the model's (verl's v1 trainer stores rows unpadded).
    o["actor_rollout_ref.rollout.max_model_len"] = model.max_model_len
    o["data.max_prompt_length"] = model.max_model_len
    o["data.max_response_length"] = model.max_model_len
    o["data.train_batch_size"] = rollout.batch_size
    o["actor_rollout_ref.actor.ppo_mini_batch_size"] = rollout.batch_size  # one update per step
    o["actor_rollout_ref.rollout.n"] = rollout.num_repeat
    o["actor_rollout_ref.rollout.temperature"] = rollout.temperature
    o["actor_rollout_ref.rollout.top_p"] = rollout.top_p
    o["actor_rollout_ref.rollout.top_k"] = rollout.top_k
    o["actor_rollout_ref.rollout.val_kwargs.temperature"] = config.eval.temperature
    o["actor_rollout_ref.rollout.val_kwargs.do_sample"] = config.eval.temperature > 0
    o["actor_rollout_ref.rollout.val_kwargs.n"] = config.eval.num_repeat
    # verl validates when test_freq > 0 at multiples of it and at the last step: a period longer
    # than any run gives our "after training only".
    o["trainer.test_freq"] = config.eval.every_n_steps or (
        ONLY_AT_THE_END if config.eval.after_train else -1
    )
    o["trainer.val_before_train"] = config.eval.before_train
    o["data.val_max_samples"] = config.eval.max_tasks or -1
    o["trainer.total_training_steps"] = _last_step(config, train_tasks, t.warnings)
    o["trainer.total_epochs"] = trainer.total_epochs
    o["actor_rollout_ref.actor.optim.lr"] = trainer.lr
    o["actor_rollout_ref.actor.optim.weight_decay"] = trainer.weight_decay
    o["actor_rollout_ref.actor.optim.betas"] = list(trainer.betas)
    # verl's engines clip with the optimizer's clip_grad (actor.grad_clip is read by nothing).
    o["actor_rollout_ref.actor.optim.clip_grad"] = trainer.grad_clip
    o["actor_rollout_ref.actor.optim.lr_warmup_steps"] = trainer.warmup_steps or -1
    o["actor_rollout_ref.actor.optim.lr_scheduler_type"] = trainer.lr_scheduler
    o["actor_rollout_ref.actor.ppo_epochs"] = trainer.ppo_epochs
    o["actor_rollout_ref.actor.clip_ratio_low"] = trainer.clip_ratio_low
    o["actor_rollout_ref.actor.clip_ratio_high"] = trainer.clip_ratio_high
    o["actor_rollout_ref.actor.loss_agg_mode"] = LOSS_AGG[trainer.loss_agg]
    o["actor_rollout_ref.actor.use_kl_loss"] = trainer.kl_coef > 0
    o["actor_rollout_ref.actor.kl_loss_coef"] = trainer.kl_coef
    # Our default: the engine's logprobs are the old logprobs (verl's bypass mode).
    o["algorithm.rollout_correction.bypass_mode"] = not trainer.recompute_logprobs
    o["actor_rollout_ref.actor.use_dynamic_bsz"] = True
    o["actor_rollout_ref.actor.ppo_max_token_len_per_gpu"] = max(
        trainer.micro_batch_tokens, 2 * model.max_model_len
    )
    o["actor_rollout_ref.model.lora_rank"] = trainer.lora.rank
    o["actor_rollout_ref.model.lora_alpha"] = trainer.lora.alpha
    o["trainer.save_freq"] = config.checkpoint.every_n_steps or ONLY_AT_THE_END
    o["trainer.max_actor_ckpt_to_keep"] = config.checkpoint.keep_last
    loggers = [name for name in config.logging.loggers if name in VERL_LOGGERS]
    for name in config.logging.loggers:
        if name not in VERL_LOGGERS | BRIDGED_LOGGERS:
            t.warnings.append(
                f"logging.loggers: {name!r} has no verl counterpart and is not used under verl"
            )
    # verl's own trainer metrics (loss, grad norm, ...) also land in the run folder: its "file"
    # logger writes JSON lines where the launch points VERL_FILE_LOGGER_PATH.
    o["trainer.logger"] = [*(loggers or ["console"]), "file"]
    # The seam (see OWNED).
    o.update(OWNED)
    o["actor_rollout_ref.rollout.agent.agent_loop_config_path"] = str(
        run_files / "agent_loops.yaml"
    )
    o["actor_rollout_ref.rollout.agent.num_workers"] = options.agent_workers
    o["data.train_files"] = str(run_files / "train.parquet")
    o["data.val_files"] = str(run_files / "validation.parquet")
    o["trainer.default_local_dir"] = str(run_files.parent / "checkpoints")
    # The cluster.
    o["actor_rollout_ref.rollout.name"] = options.rollout_engine
    # Structured output (engine.py): the grammar backends that read llguidance's Lark dialect.
    o.update(GUIDED_DECODING.get(options.rollout_engine, {}))
    o["actor_rollout_ref.rollout.tensor_model_parallel_size"] = options.tensor_parallel_size
    o["actor_rollout_ref.rollout.gpu_memory_utilization"] = options.gpu_memory_utilization
    o["actor_rollout_ref.actor.strategy"] = options.strategy
    o["trainer.n_gpus_per_node"] = options.n_gpus_per_node
    o["trainer.nnodes"] = options.nnodes
    if options.ray_address:
        o["+ray_kwargs.ray_init.address"] = options.ray_address
    if options.rollout_engine == cpu_settings.ENGINE_NAME:
        o.update(cpu_settings.OVERRIDES)
        if "agent_workers" not in options.model_fields_set:
            o["actor_rollout_ref.rollout.agent.num_workers"] = cpu_settings.AGENT_WORKERS
    for key, value in options.verl_keys().items():
        if key in OWNED and value != OWNED[key]:
            raise ConfigError(
                f"backbone.{key}={value!r}: the verl backbone sets {key}={OWNED[key]!r} itself "
                "(the core computes advantages and rewards; see ajet_backbone_verl/README.md), so "
                "it cannot be changed"
            )
        o[key] = value
    return t


def _last_step(config: AjetConfig, train_tasks: int | None, warnings: list[str]) -> int | None:
    """verl's ``total_training_steps``: ``trainer.total_steps``, or fewer when the epochs end first.

    verl saves its final checkpoint and runs its closing validation only on the step it counts as
    the last (verl/trainer/ppo/v1/trainer_base.py:467,482); when the epochs run out before
    ``total_training_steps`` its loop leaves by the epoch condition and does neither. The debug
    backbone always ends with both, so the last step is the one the data allows."""
    steps = config.trainer.total_steps
    if steps is None or train_tasks is None:
        return steps
    available = (train_tasks // config.rollout.batch_size) * config.trainer.total_epochs
    if 0 < available < steps:
        warnings.append(
            f"trainer.total_steps={steps}, but {train_tasks} training tasks in batches of "
            f"{config.rollout.batch_size} for {config.trainer.total_epochs} epoch(s) make "
            f"{available} steps: training ends after step {available}"
        )
        return available
    return steps


def _refuse_impossible(config: AjetConfig, options: VerlBackboneConfig) -> None:
    rollout = config.rollout
    if config.trainer.lora.dropout:
        raise ConfigError(
            f"trainer.lora.dropout={config.trainer.lora.dropout}: verl's FSDP LoRA has no dropout "
            "(only its Megatron LoRA reads one); set it to 0"
        )
    if options.rollout_engine == cpu_settings.ENGINE_NAME:
        _refuse_for_cpu_engine(config, options)
    if config.trainer.mode == "async":
        # verl's own asynchronous trainers (experimental/one_step_off_policy,
        # fully_async_policy) are not mapped yet: say so rather than train synchronously.
        raise ConfigError(
            "trainer.mode='async' is not available under the verl backbone yet (its synchronous "
            "trainer runs); use trainer.mode=sync, or the debug or trinity backbone for "
            "asynchronous training"
        )
    if rollout.equal_reward_groups == "refill":
        raise ConfigError(
            "rollout.equal_reward_groups='refill' is not available under verl: verl's dataloader "
            "decides which prompts run; use 'drop' (those groups train nothing) or 'keep'"
        )
    if rollout.num_repeat < rollout.min_valid_group_size:
        raise ConfigError(
            f"rollout.num_repeat={rollout.num_repeat} is below rollout.min_valid_group_size="
            f"{rollout.min_valid_group_size}: every group would be dropped; raise num_repeat"
        )
    if config.trainer.lr_scheduler == "linear":
        raise ConfigError(
            "trainer.lr_scheduler='linear' has no verl counterpart; use 'constant' or 'cosine'"
        )
    if config.trainer.lora.rank and config.trainer.lora.target_modules != "all-linear":
        raise ConfigError(
            "trainer.lora.target_modules: under verl use 'all-linear' or pass "
            "backbone.actor_rollout_ref.model.target_modules"
        )
    if (
        options.verl_keys().get("trainer.use_v1") is False
        and rollout.batch_size % options.agent_workers
    ):
        raise ConfigError(
            "verl's legacy trainer splits the batch into "
            f"backbone.agent_workers={options.agent_workers} contiguous chunks, which with "
            f"rollout.batch_size={rollout.batch_size} would cut a task's group in two; make "
            "batch_size a multiple of agent_workers (or use the v1 trainer)"
        )
    world = options.n_gpus_per_node * options.nnodes
    if options.tensor_parallel_size > world:
        raise ConfigError(
            f"backbone.tensor_parallel_size={options.tensor_parallel_size} exceeds the "
            f"{world} GPUs of backbone.n_gpus_per_node x backbone.nnodes"
        )


def _refuse_for_cpu_engine(config: AjetConfig, options: VerlBackboneConfig) -> None:
    for name, value in cpu_settings.FIXED_OPTIONS.items():
        if name in options.model_fields_set and getattr(options, name) != value:
            raise ConfigError(
                f"backbone.{name}={getattr(options, name)!r}: with backbone.rollout_engine=cpu "
                f"it is {value!r} (one process trains, one logical GPU); drop the setting"
            )
    if config.trainer.lora.rank:
        raise ConfigError(
            "trainer.lora.rank: the CPU rollout engine serves full weights and takes no LoRA "
            "adapters; train without LoRA on CPU (set trainer.lora.rank=0)"
        )
    if options.ray_address:
        raise ConfigError(
            "backbone.ray_address with backbone.rollout_engine=cpu: the CPU mode declares logical "
            "GPUs to a Ray head it starts itself; drop ray_address"
        )


def verl_config_dir() -> str:
    import verl

    return os.path.join(os.path.dirname(verl.__file__), "trainer", "config")


def compose(translation: Translation) -> Any:
    """verl's own ``ppo_trainer`` config with the overrides applied (hydra.compose)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    try:
        with initialize_config_dir(config_dir=verl_config_dir(), version_base=None):
            return hydra_compose(config_name="ppo_trainer", overrides=translation.hydra_overrides())
    except (HydraException, OmegaConfBaseException) as exc:
        raise ConfigError(
            f"verl refused the translated config: {exc}; check the verl keys passed through the "
            "backbone section"
        ) from None
