"""AgentJet config -> Trinity-RFT config (plain data trinity's ``load_config`` reads).

Every value the translation sets is recorded with the AgentJet key it comes from
(:attr:`TrinityTranslation.sources`): that record is the mapping table of the package README,
and it is what names the right key when a pass-through value contradicts one.

The ``backbone`` section holds this backbone's own options (:class:`TrinityBackboneConfig`) and,
next to them, any top-level trinity section (``explorer:``, ``trainer:``, ``algorithm:``, ...),
deep-merged over the translation. A pass-through key may add what AgentJet has no word for
(``trainer.trainer_config`` for verl internals, ``explorer.over_rollout``, ...); it may not
silently change a value the translation derived from an AgentJet key.

Impossible combinations are rejected here, at load, with the reason and the way out.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import ConfigDict, Field, model_validator

from ajet_backbone_trinity.cpu import settings as cpu_settings
from ajet_core.backbone import BackboneConfig
from ajet_core.config.loader import config_to_dict
from ajet_core.config.models import AjetConfig
from ajet_core.errors import ConfigError
from ajet_core.importing import looks_like_object_path, split_object_path

# Dotted paths trinity's registries import on its workers (the modules themselves import trinity,
# so this one names them without importing them).
WORKFLOW_PATH = "ajet_backbone_trinity.workflow.AjetEpisodeWorkflow"
ADVANTAGE_FN_PATH = "ajet_backbone_trinity.advantage.AjetEpisodeAdvantage"
MONITOR_PATH = "ajet_backbone_trinity.monitor.AjetRunMonitor"
NO_REFERENCE_ALGORITHM_PATH = "ajet_backbone_trinity.sampling.AjetGRPONoReference"
SAMPLE_STRATEGY_PATH = "ajet_backbone_trinity.sampling.AjetSampleStrategy"
METRICS_FILE_ARG = "metrics_file"
RUN_DIR_MONITOR_ARG = "ajet_run_dir"
INNER_MONITOR_ARG = "trinity_monitor"
# Trinity's own metrics (its names, per role); ours go to <run>/metrics.jsonl like every backbone's.
TRINITY_METRICS_FILE = "trinity_metrics.jsonl"

# The taskset's workflow_args: what the workflow on trinity's workers rebuilds the run from.
CONFIG_ARG = "ajet_config"
BASE_DIR_ARG = "ajet_base_dir"
MODE_ARG = "ajet_mode"
RUN_DIR_ARG = "ajet_run_dir"

# The top-level fields of trinity's Config (trinity.common.config.Config); a test keeps this
# list equal to trinity's own, so checking pass-through keys never needs to import trinity.
TRINITY_SECTIONS = (
    "mode",
    "project",
    "group",
    "name",
    "checkpoint_root_dir",
    "checkpoint_job_dir",
    "ray_namespace",
    "continue_from_checkpoint",
    "ignore_validator_suggestions",
    "algorithm",
    "data_processor",
    "model",
    "cluster",
    "buffer",
    "explorer",
    "trainer",
    "monitor",
    "synchronizer",
    "service",
    "log",
    "stages",
)

# How explorer and trainer take turns, by name. One GPU can only take turns (colocate).
Mode = Literal["sync", "one_step_off", "fully_async", "colocate"]
MODES: dict[str, dict[str, Any]] = {
    # The explorer waits for the new weights after every step: on-policy, like the debug backbone.
    "sync": {"mode": "both", "sync_style": "fixed", "sync_offset": 0},
    # The explorer runs one step ahead of the trainer: rollout and training overlap.
    "one_step_off": {"mode": "both", "sync_style": "fixed", "sync_offset": 1},
    # Explorer and trainer never wait for each other; weights flow whenever the trainer has them.
    "fully_async": {"mode": "both", "sync_style": "fully_async", "sync_offset": 0},
    # One GPU: vLLM and the trainer share it and take turns (weights synced in memory).
    "colocate": {"mode": "colocate", "sync_style": "fixed", "sync_offset": 0},
}


RolloutEngine = Literal["vllm", "cpu"]


class TrinityBackboneConfig(BackboneConfig):
    """``backbone:`` for ``name: trinity``. Extra keys are trinity's own top-level sections."""

    model_config = ConfigDict(extra="allow")

    mode: Mode = "one_step_off"
    # What serves rollouts: vLLM on GPUs, or "cpu" (transformers on the CPU, trinity's explorer
    # and trainer otherwise unchanged: tests and debugging on a machine without a GPU).
    rollout_engine: RolloutEngine = "vllm"
    # Cluster shape; None lets trinity ask Ray at launch.
    nodes: int | None = Field(default=None, gt=0)
    gpus_per_node: int | None = Field(default=None, gt=0)
    # vLLM engines serving rollouts and the GPUs of each.
    rollout_engines: int = Field(default=1, gt=0)
    tensor_parallel_size: int = Field(default=1, gt=0)
    gpu_memory_utilization: float = Field(default=0.85, gt=0, le=1)
    # Trainer steps between weight syncs to the explorer.
    sync_interval: int = Field(default=1, gt=0)
    ray_address: str = "auto"
    # Start a local Ray head (RAY_AUTH_MODE=disabled) when none is running.
    start_ray: bool = True
    # Where trinity writes checkpoints, buffers and logs (default: <run folder>/trinity).
    checkpoint_root_dir: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _cpu_engine_shape(cls, data: Any) -> Any:
        """The CPU engine runs on one machine's logical resources (cpu.settings): its shape is
        fixed, and a different one is refused with the reason."""
        if not isinstance(data, dict) or data.get("rollout_engine") != cpu_settings.ENGINE_TYPE:
            return data
        data = dict(data)
        for key, value in cpu_settings.FIXED_OPTIONS.items():
            if data.get(key) not in (None, value):
                raise ValueError(
                    f"backbone.{key}={data[key]!r}: with rollout_engine 'cpu' it is {value} (one "
                    "CPU engine and one trainer worker on logical Ray GPUs); remove the key, or "
                    "use rollout_engine 'vllm' on GPUs"
                )
            data[key] = value
        if data.get("mode") == "colocate":
            raise ValueError(
                "backbone.mode 'colocate' shares one GPU between vLLM and the trainer; with "
                "rollout_engine 'cpu' use mode sync, one_step_off or fully_async"
            )
        return data

    @model_validator(mode="after")
    def _known_trinity_sections(self) -> TrinityBackboneConfig:
        unknown = sorted(set(self.model_extra or {}) - set(TRINITY_SECTIONS))
        if unknown:
            own = ", ".join(k for k in type(self).model_fields)
            raise ValueError(
                f"unknown key(s) {', '.join(unknown)}: the trinity backbone takes its own options "
                f"({own}) and trinity's top-level sections ({', '.join(TRINITY_SECTIONS)})"
            )
        return self

    def pass_through(self) -> dict[str, Any]:
        return copy.deepcopy(dict(self.model_extra or {}))


class TranslationError(ConfigError):
    """The AgentJet config asks for something this trinity setup cannot do (CLI exit 2)."""


def resolve_mode(config: AjetConfig, options: TrinityBackboneConfig) -> tuple[dict[str, Any], str]:
    """Trinity's mode, sync style and offset, and the keys they come from.

    The portable ``trainer.mode`` / ``trainer.max_staleness``, when set, map onto trinity's own
    settings: ``async`` lets the explorer run ``max_staleness - (sync_interval - 1)`` steps
    ahead (``sync_offset``), so that no experience is older than ``max_staleness`` versions,
    the bound trinity's read keeps; ``sync`` waits for every sync. ``backbone.mode`` names
    trinity's arrangements directly; setting both is refused, since they could disagree.
    """
    trainer = config.trainer
    backbone_set = "mode" in options.model_fields_set
    if "mode" not in trainer.model_fields_set and "max_staleness" not in trainer.model_fields_set:
        return MODES[options.mode], f"backbone.mode={options.mode}"
    if backbone_set:
        raise TranslationError(
            f"trainer.mode={trainer.mode!r} and backbone.mode={options.mode!r} are both set; "
            "keep one: trainer.mode/max_staleness (the same on every backbone) or backbone.mode "
            "(trinity's own arrangements: sync, one_step_off, fully_async, colocate)"
        )
    if trainer.mode == "sync":
        return MODES["sync"], "trainer.mode=sync"
    offset = trainer.max_staleness - (options.sync_interval - 1)
    if offset < 0:
        raise TranslationError(
            f"trainer.max_staleness={trainer.max_staleness} with backbone.sync_interval="
            f"{options.sync_interval}: trinity's explorer syncs every {options.sync_interval} "
            f"steps, so its experiences are up to {options.sync_interval - 1} versions old "
            "already; raise trainer.max_staleness or lower backbone.sync_interval"
        )
    source = f"trainer.mode=async, trainer.max_staleness={trainer.max_staleness}"
    return {"mode": "both", "sync_style": "fixed", "sync_offset": offset}, source


@dataclass
class TrinityTranslation:
    data: dict[str, Any]
    # dotted trinity key -> the AgentJet key (or reason) it comes from
    sources: dict[str, str] = field(default_factory=dict)
    # Adjustments made openly (e.g. batch-size rounding); printed at launch.
    notes: list[str] = field(default_factory=list)


class _Builder:
    def __init__(self) -> None:
        self.data: dict[str, Any] = {}
        self.sources: dict[str, str] = {}

    def put(self, dotted: str, value: Any, source: str) -> None:
        node = self.data
        *parents, leaf = dotted.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
        self.sources[dotted] = source


def _absolute(path: str, base_dir: Path) -> str:
    candidate = Path(path).expanduser()
    if candidate.is_absolute():
        return str(candidate)
    for root in (base_dir, Path.cwd()):
        if (root / candidate).exists():
            return str((root / candidate).resolve())
    return str((base_dir / candidate).resolve())


def _absolute_object_path(spec: str | None, base_dir: Path) -> str | None:
    """'file.py:Class' with the file made absolute: trinity's workers run in other folders."""
    if not spec or not looks_like_object_path(spec):
        return spec
    module, attr = split_object_path(spec)
    if module.endswith(".py"):
        return f"{_absolute(module, base_dir)}:{attr}"
    return spec


def _escape_interpolations(value: Any) -> Any:
    """Our config travels inside trinity's, which OmegaConf resolves: a literal ``${x}`` (a prompt
    template, say) would be read as an interpolation and fail; ``\\${`` keeps it literal."""
    if isinstance(value, str):
        return value.replace("${", "\\${")
    if isinstance(value, dict):
        return {k: _escape_interpolations(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_escape_interpolations(v) for v in value]
    return value


def worker_config(config: AjetConfig) -> dict[str, Any]:
    """The AgentJet config as the workflow on trinity's workers receives it."""
    data = _escape_interpolations(config_to_dict(config))
    base_dir = config.base_dir
    data["workflow"]["name"] = _absolute_object_path(data["workflow"].get("name"), base_dir)
    data["judger"]["type"] = _absolute_object_path(data["judger"].get("type"), base_dir)
    if data["model"].get("path"):
        data["model"]["path"] = _absolute(data["model"]["path"], base_dir)
    return data


def _check_combinations(config: AjetConfig, options: TrinityBackboneConfig) -> None:
    rollout, trainer = config.rollout, config.trainer
    if not config.model.path:
        raise TranslationError(
            "model.path is not set: the trinity backbone needs a local Hugging Face model directory"
        )
    if str(config.model.path).endswith(".gguf"):
        raise TranslationError(
            f"model.path {config.model.path!r} is a GGUF file; vLLM and trinity's trainer need a "
            "Hugging Face directory: save it once with `ajet model import` / save_pretrained and "
            "point model.path there"
        )
    wants_eval = config.eval.every_n_steps or config.eval.before_train or config.eval.after_train
    if options.mode == "fully_async" and wants_eval:
        raise TranslationError(
            "backbone.mode 'fully_async' cannot evaluate (trinity has no eval tasksets in fully "
            "asynchronous synchronisation); set eval.every_n_steps=0, eval.before_train=false and "
            "eval.after_train=false, or use backbone.mode one_step_off"
        )
    if rollout.num_repeat < rollout.min_valid_group_size:
        raise TranslationError(
            f"rollout.num_repeat={rollout.num_repeat} is below rollout.min_valid_group_size="
            f"{rollout.min_valid_group_size}: every GRPO group would be dropped; raise num_repeat"
        )
    rollout_gpus = options.rollout_engines * options.tensor_parallel_size
    if options.mode == "colocate":
        total = (options.nodes or 1) * (options.gpus_per_node or 1)
        if total != 1 or rollout_gpus != 1:
            raise TranslationError(
                "backbone.mode 'colocate' runs on exactly one GPU, but nodes x gpus_per_node = "
                f"{total} and rollout_engines x tensor_parallel_size = {rollout_gpus}; use "
                "backbone.mode one_step_off (or sync) on more GPUs"
            )
    elif (
        options.nodes
        and options.gpus_per_node
        and rollout_gpus >= options.nodes * options.gpus_per_node
    ):
        raise TranslationError(
            f"backbone.rollout_engines x tensor_parallel_size = {rollout_gpus} GPUs for vLLM "
            f"leaves none of the {options.nodes * options.gpus_per_node} GPUs for the trainer; "
            "lower them, add GPUs, or use backbone.mode colocate on a single GPU"
        )
    lora = trainer.lora
    if lora.rank and options.rollout_engine == cpu_settings.ENGINE_TYPE:
        raise TranslationError(
            f"trainer.lora.rank={lora.rank}: the CPU rollout engine loads full weights only; set "
            "trainer.lora.rank=0, or use rollout_engine 'vllm'"
        )
    if lora.rank and lora.dropout:
        raise TranslationError(
            f"trainer.lora.dropout={lora.dropout}: trinity's LoRA has no dropout; set it to 0"
        )
    if lora.rank and lora.target_modules != "all-linear":
        raise TranslationError(
            f"trainer.lora.target_modules={lora.target_modules!r}: trinity takes 'all-linear' "
            "here; pass other module lists through backbone.model.lora_configs"
        )
    if trainer.lr_scheduler == "linear":
        raise TranslationError(
            "trainer.lr_scheduler 'linear' has no counterpart in trinity's verl trainer (constant, "
            "cosine)"
        )
    if trainer.ppo_epochs != 1:
        raise TranslationError(
            f"trainer.ppo_epochs={trainer.ppo_epochs}: the trinity backbone trains each batch "
            "once; set trainer.ppo_epochs=1 (several updates per batch: raise "
            "backbone.sync_interval instead)"
        )


def _trainer_gpus(options: TrinityBackboneConfig) -> int | None:
    if options.mode == "colocate":
        return 1
    if options.nodes and options.gpus_per_node:
        return (
            options.nodes * options.gpus_per_node
            - options.rollout_engines * options.tensor_parallel_size
        )
    return None


def translate(
    config: AjetConfig,
    options: TrinityBackboneConfig,
    *,
    run_dir: Path,
    tasks_dir: Path,
    resume: bool = False,
) -> TrinityTranslation:
    """The trinity config for this run. ``tasks_dir`` holds the materialised taskset
    (:func:`ajet_backbone_trinity.tasks.write_taskset`)."""
    _check_combinations(config, options)
    b = _Builder()
    notes: list[str] = []
    rollout, trainer = config.rollout, config.trainer
    mode, mode_source = resolve_mode(config, options)
    worker = worker_config(config)
    base_dir = str(config.base_dir)

    # -- run identity and folders ------------------------------------------------------------
    b.put("mode", mode["mode"], mode_source)
    b.put("project", config.experiment.project, "experiment.project")
    b.put("name", config.experiment.name, "experiment.name")
    root = options.checkpoint_root_dir or str(run_dir / "trinity")
    b.put(
        "checkpoint_root_dir",
        _absolute(root, config.base_dir),
        "backbone.checkpoint_root_dir (default: <run folder>/trinity)",
    )
    b.put("continue_from_checkpoint", resume, "ajet train --resume")

    # -- model and sampling ------------------------------------------------------------------
    b.put("model.model_path", worker["model"]["path"], "model.path")
    b.put("model.trust_remote_code", config.model.trust_remote_code, "model.trust_remote_code")
    b.put("model.max_model_len", config.model.max_model_len, "model.max_model_len")
    b.put("model.max_response_tokens", rollout.max_tokens_per_call, "rollout.max_tokens_per_call")
    b.put("model.temperature", rollout.temperature, "rollout.temperature")
    b.put("model.top_p", rollout.top_p, "rollout.top_p")
    b.put("model.top_k", rollout.top_k, "rollout.top_k")
    b.put("model.logprobs", 0, "(fixed) the sampled token's logprob only")
    b.put(
        "model.enable_prompt_truncation",
        False,
        "(fixed) the gateway's prompts reach vLLM unchanged",
    )
    if trainer.lora.rank:
        b.put(
            "model.lora_configs",
            [
                {
                    "name": "ajet_lora",
                    "lora_rank": trainer.lora.rank,
                    "lora_alpha": trainer.lora.alpha,
                    "target_modules": "all-linear",
                }
            ],
            "trainer.lora",
        )

    # -- cluster and rollout engines ---------------------------------------------------------
    b.put("cluster.ray_address", options.ray_address, "backbone.ray_address")
    if options.nodes:
        b.put("cluster.node_num", options.nodes, "backbone.nodes")
    if options.gpus_per_node:
        b.put("cluster.gpu_per_node", options.gpus_per_node, "backbone.gpus_per_node")
    cpu_engine = options.rollout_engine == cpu_settings.ENGINE_TYPE
    b.put("explorer.rollout_model.engine_type", options.rollout_engine, "backbone.rollout_engine")
    b.put("explorer.rollout_model.engine_num", options.rollout_engines, "backbone.rollout_engines")
    b.put(
        "explorer.rollout_model.tensor_parallel_size",
        options.tensor_parallel_size,
        "backbone.tensor_parallel_size",
    )
    b.put(
        "explorer.rollout_model.gpu_memory_utilization",
        options.gpu_memory_utilization,
        "backbone.gpu_memory_utilization",
    )
    if not cpu_engine:
        b.put(
            "explorer.rollout_model.dtype",
            "bfloat16" if config.model.dtype == "auto" else config.model.dtype,
            "model.dtype",
        )
    b.put("explorer.rollout_model.seed", config.experiment.seed, "experiment.seed")
    for key, value in cpu_settings.TRINITY_SETTINGS.items() if cpu_engine else ():
        if key != "explorer.rollout_model.engine_type":
            b.put(
                key, value, "backbone.rollout_engine=cpu (see ajet_backbone_trinity.cpu.settings)"
            )
    # Structured output (engine.py): vLLM's guidance backend reads the gateway's Lark grammars;
    # a request cannot choose a backend. trinity passes extra_engine_args to vLLM's
    # AsyncEngineArgs, and vLLM's VllmConfig (a pydantic dataclass) validates this dict into its
    # StructuredOutputsConfig. (vLLM writes a reasoning_parser into that field before; trinity
    # passes explorer.rollout_model.reasoning_parser, which this translation leaves unset.)
    if not cpu_engine:
        b.put(
            "explorer.rollout_model.extra_engine_args",
            {"structured_outputs_config": {"backend": "guidance"}},
            "(fixed) structured output: vLLM's guidance backend",
        )
    # A runner runs one task (one GRPO group of num_repeat episodes) at a time.
    runners = max(1, math.ceil(rollout.max_concurrency / rollout.num_repeat))
    b.put(
        "explorer.runner_per_model", runners, "ceil(rollout.max_concurrency / rollout.num_repeat)"
    )
    b.put(
        "explorer.max_timeout",
        math.ceil(rollout.episode_timeout * (1 + rollout.engine_error_retries)) + 60,
        "rollout.episode_timeout x (1 + rollout.engine_error_retries) + 60 s",
    )
    b.put("explorer.max_retry_times", rollout.engine_error_retries, "rollout.engine_error_retries")
    b.put(
        "explorer.max_repeat_times_per_runner",
        None,
        "(fixed) one runner runs a whole GRPO group: the core's advantages need all its episodes",
    )

    # -- tasks --------------------------------------------------------------------------------
    b.put("buffer.batch_size", rollout.batch_size, "rollout.batch_size")
    b.put("buffer.total_epochs", trainer.total_epochs, "trainer.total_epochs")
    if trainer.total_steps:
        b.put("buffer.total_steps", trainer.total_steps, "trainer.total_steps")
    train_batch = rollout.batch_size * rollout.num_repeat
    trainer_gpus = _trainer_gpus(options)
    if trainer_gpus and train_batch % trainer_gpus:
        # Rounding up would make every step short of experiences: trinity's trainer reads exactly
        # train_batch_size of them, waits, and ends the run when they never come.
        raise TranslationError(
            f"rollout.batch_size x rollout.num_repeat = {train_batch} experiences per step is not "
            f"a multiple of the {trainer_gpus} trainer GPUs; trinity's trainer needs whole batches "
            "per GPU: pick a batch_size or num_repeat that makes it divide, or change "
            "backbone.gpus_per_node"
        )
    b.put("buffer.train_batch_size", train_batch, "rollout.batch_size x rollout.num_repeat")
    if trainer.total_steps:
        # verl (trinity's trainer) schedules the learning rate over trainer.total_steps; trinity
        # does not copy buffer.total_steps there, so a cosine schedule would never decay.
        b.put("trainer.total_steps", trainer.total_steps, "trainer.total_steps")
    workflow_args = {CONFIG_ARG: worker, BASE_DIR_ARG: base_dir, RUN_DIR_ARG: str(run_dir)}
    b.put(
        "buffer.explorer_input.taskset",
        {
            "name": "ajet_train",
            "storage_type": "file",
            "path": str(tasks_dir),
            "split": "train",
            "default_workflow_type": WORKFLOW_PATH,
            "workflow_args": {**workflow_args, MODE_ARG: "train"},
            "data_selector": {"selector_type": "shuffle", "seed": config.experiment.seed},
        },
        "task_reader (materialised train split), experiment.seed",
    )
    if config.eval.every_n_steps or config.eval.before_train or config.eval.after_train:
        b.put(
            "buffer.explorer_input.eval_tasksets",
            [
                {
                    "name": "ajet_validation",
                    "storage_type": "file",
                    "path": str(tasks_dir),
                    "split": "validation",
                    "default_workflow_type": WORKFLOW_PATH,
                    "repeat_times": config.eval.num_repeat,
                    "workflow_args": {**workflow_args, MODE_ARG: "eval"},
                }
            ],
            "task_reader (materialised validation split), eval.num_repeat",
        )
        interval = config.eval.every_n_steps or trainer.total_steps or 1_000_000
        b.put("explorer.eval_interval", interval, "eval.every_n_steps (0: only at the start/end)")
        b.put("explorer.eval_on_startup", config.eval.before_train, "eval.before_train")
    else:
        b.put("explorer.eval_on_startup", False, "eval.before_train")

    # -- algorithm: GRPO on the core's advantages --------------------------------------------
    b.put(
        "algorithm.algorithm_type",
        "grpo" if trainer.kl_coef > 0 else NO_REFERENCE_ALGORITHM_PATH,
        "trainer.kl_coef (0: trinity's GRPO without its reference model)",
    )
    b.put("algorithm.repeat_times", rollout.num_repeat, "rollout.num_repeat")
    b.put(
        "algorithm.advantage_fn",
        ADVANTAGE_FN_PATH,
        "(fixed) the core's per-episode GRPO advantages",
    )
    b.put("algorithm.advantage_fn_args", {}, "(fixed)")
    loss_agg = "token-mean" if trainer.loss_agg == "token_mean" else "seq-mean-token-mean"
    b.put("algorithm.loss_agg_mode", loss_agg, "trainer.loss_agg")
    b.put("algorithm.policy_loss_fn", "ppo", "(fixed) PPO-clip")
    b.put(
        "algorithm.policy_loss_fn_args",
        {
            "clip_range_low": trainer.clip_ratio_low,
            "clip_range_high": trainer.clip_ratio_high,
            "loss_agg_mode": loss_agg,
        },
        "trainer.clip_ratio_low, trainer.clip_ratio_high",
    )
    b.put("algorithm.kl_penalty_fn", "none", "(fixed) no KL in the reward")
    b.put(
        "algorithm.kl_loss_fn",
        "low_var_kl" if trainer.kl_coef > 0 else "none",
        "trainer.kl_coef (> 0: low-variance KL)",
    )
    b.put("algorithm.kl_loss_fn_args", {"kl_coef": trainer.kl_coef}, "trainer.kl_coef")
    b.put("algorithm.entropy_loss_fn", "none", "(fixed) no entropy bonus")
    b.put(
        "algorithm.bypass_old_logprobs",
        not trainer.recompute_logprobs,
        "not trainer.recompute_logprobs",
    )
    b.put("algorithm.optimizer.lr", trainer.lr, "trainer.lr")
    b.put("algorithm.optimizer.betas", list(trainer.betas), "trainer.betas")
    b.put("algorithm.optimizer.weight_decay", trainer.weight_decay, "trainer.weight_decay")
    b.put("algorithm.optimizer.lr_warmup_steps", trainer.warmup_steps, "trainer.warmup_steps")
    b.put("algorithm.optimizer.lr_scheduler_type", trainer.lr_scheduler, "trainer.lr_scheduler")
    b.put("algorithm.optimizer.clip_grad", trainer.grad_clip, "trainer.grad_clip")

    # -- trainer, checkpoints, synchronisation, monitoring -------------------------------------
    b.put("trainer.trainer_type", "verl", "(fixed) trinity's verl trainer")
    b.put("trainer.grad_clip", trainer.grad_clip, "trainer.grad_clip")
    b.put(
        "trainer.max_token_len_per_gpu",
        max(trainer.micro_batch_tokens, config.model.max_model_len),
        "max(trainer.micro_batch_tokens, model.max_model_len)",
    )
    b.put("trainer.save_interval", config.checkpoint.every_n_steps, "checkpoint.every_n_steps")
    b.put("trainer.max_checkpoints_to_keep", config.checkpoint.keep_last, "checkpoint.keep_last")
    if options.mode != "colocate" and not cpu_engine:
        b.put("synchronizer.sync_method", "nccl", mode_source)
    b.put("synchronizer.sync_style", mode["sync_style"], mode_source)
    b.put("synchronizer.sync_offset", mode["sync_offset"], mode_source)
    b.put("synchronizer.sync_interval", options.sync_interval, "backbone.sync_interval")
    b.put(
        "algorithm.sample_strategy",
        SAMPLE_STRATEGY_PATH,
        "(fixed) trinity's staleness-bounded read, measuring samples/staleness_*",
    )
    # A fresh experience is at most sync_offset + sync_interval - 1 weight versions old; older
    # ones are multi-sample surplus from earlier steps, dropped in sync / one_step_off / colocate.
    max_staleness = (
        None
        if mode["sync_style"] == "fully_async"
        else mode["sync_offset"] + options.sync_interval - 1
    )
    b.put(
        "algorithm.sample_strategy_args",
        {"max_staleness": max_staleness},
        f"{mode_source}, backbone.sync_interval (fully_async: unbounded)",
    )
    hosted = [name for name in config.logging.loggers if name in ("wandb", "swanlab")]
    b.put(
        "monitor.monitor_type",
        MONITOR_PATH,
        "(fixed) our metrics and records in the run folder, and trinity's",
    )
    b.put(
        "monitor.monitor_args",
        {
            METRICS_FILE_ARG: str(run_dir / TRINITY_METRICS_FILE),
            RUN_DIR_MONITOR_ARG: str(run_dir),
            INNER_MONITOR_ARG: hosted[0] if hosted else "tensorboard",
        },
        "the run folder; logging.loggers (wandb/swanlab: trinity's own monitor for them, else "
        "tensorboard)",
    )
    b.put("log.level", config.logging.level, "logging.level")
    if config.rollout.equal_reward_groups == "refill":
        notes.append(
            "rollout.equal_reward_groups 'refill' behaves as 'drop' under trinity (a task cannot "
            "ask for more tasks; the trainer fills its batch from later explorer steps)"
        )

    data = _merge_pass_through(b, options.pass_through())
    return TrinityTranslation(data=data, sources=b.sources, notes=notes)


def _merge_pass_through(b: _Builder, extra: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge ``backbone.<trinity section>`` over the translation, refusing contradictions."""
    data = copy.deepcopy(b.data)

    def merge(into: dict[str, Any], value: dict[str, Any], prefix: str) -> None:
        for key, new in value.items():
            dotted = f"{prefix}{key}"
            if (
                isinstance(new, dict)
                and isinstance(into.get(key), dict)
                and dotted not in b.sources
            ):
                merge(into[key], new, dotted + ".")
                continue
            if dotted in b.sources and into.get(key) != new:
                raise TranslationError(
                    f"backbone.{dotted}={new!r} contradicts {into.get(key)!r}, which comes from "
                    f"{b.sources[dotted]}; change that AgentJet key instead"
                )
            into[key] = new

    merge(data, extra, "")
    return data


def to_yaml(translation: TrinityTranslation) -> str:
    import yaml

    return yaml.safe_dump(translation.data, sort_keys=False, allow_unicode=True)
