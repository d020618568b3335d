"""The run config: pydantic models with every default in code.

Unknown keys are errors (``extra="forbid"``). Sections that select a plugin (``task_reader``,
``judger``, ``tracker``, ``backbone``) accept the plugin's own keys next to ``type``/``name``; the
selected plugin's ``config_model`` validates them (see :mod:`ajet_core.config.plugin_sections`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    @field_validator("*", mode="before")
    @classmethod
    def _no_yes_no_for_numbers(cls, value: Any, info: Any) -> Any:
        # pydantic reads `true` as 1 for an int field: `batch_size: true` is a typo, not a size.
        if isinstance(value, bool) and info.field_name in cls.model_fields:
            annotation = cls.model_fields[info.field_name].annotation
            if annotation in NUMBER_TYPES:
                raise ValueError(f"{value!r} is a yes/no value; {info.field_name} takes a number")
        return value


# Annotations of number fields (a bool there is refused, see Section).
NUMBER_TYPES = (int, float, int | None, float | None)


class PluginSection(BaseModel):
    """A section whose extra keys belong to the selected plugin."""

    model_config = ConfigDict(extra="allow", validate_assignment=True)

    def plugin_options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


# Upper bounds on counts: far above any real run, low enough that a typo (an extra few zeros)
# is an error at load instead of an out-of-memory crash minutes later.
MAX_GROUP_SIZE = 4096
MAX_BATCH = 1_000_000
# Seeds reach torch's and the task stream's generators, which take 64-bit signed values.
MAX_SEED = 2**63 - 1


def _no_nul(value: str | None, field: str) -> str | None:
    if value is not None and "\x00" in value:
        raise ValueError(f"{field} holds a NUL byte (\\x00), which no file path can contain")
    return value


class ExperimentConfig(Section):
    name: str = "ajet_experiment"
    project: str = "ajet"
    # Every run writes runs/<name>/<time>/ under this folder.
    output_dir: str = "runs"
    seed: int = Field(default=42, ge=0, le=MAX_SEED)

    @field_validator("name")
    @classmethod
    def _one_folder_name(cls, value: str) -> str:
        # The run folder is <output_dir>/<name>/<time>: a name must stay inside output_dir.
        _no_nul(value, "experiment.name")
        if not value.strip() or value in (".", "..") or "/" in value or "\\" in value:
            raise ValueError(
                f"experiment.name {value!r} must be one non-empty folder name (no '/', '\\', "
                "'.' or '..'): runs are written to <output_dir>/<name>/<time>/"
            )
        return value

    @field_validator("output_dir")
    @classmethod
    def _output_dir_path(cls, value: str) -> str:
        return _no_nul(value, "experiment.output_dir")  # type: ignore[return-value]


class ModelConfig(Section):
    # Any local Hugging Face model directory or GGUF file.
    path: str | None = None
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    # Device for the debug backbone: "auto" uses a GPU when one is present.
    device: str = "auto"
    tool_parser: str = "hermes"
    # Prompt + reply; below 64 tokens no chat-templated prompt leaves room for a reply.
    max_model_len: int = Field(default=4096, ge=64)
    trust_remote_code: bool = False

    @field_validator("path")
    @classmethod
    def _model_path(cls, value: str | None) -> str | None:
        return _no_nul(value, "model.path")


class WorkflowConfig(Section):
    # A registered workflow name, or 'package.module:Class' / 'path/to/file.py:Class'.
    name: str | None = None
    # Target tags whose calls are trained; None or [] trains every agent.
    trainable_targets: list[str] | None = None
    # Keyword arguments passed to the workflow's constructor.
    options: dict[str, Any] = Field(default_factory=dict)
    # The AgentJet YAML this config was translated from (set by the loader): AgentJet workflows
    # read it, with the effective values, through tuner.config (config.agentjet_compat).
    agentjet_config: dict[str, Any] | None = None


class FixedEndpointConfig(Section):
    """An external OpenAI-compatible endpoint for agents that are not trained."""

    base_url: str
    api_key: str = "EMPTY"
    model: str


class GatewayConfig(Section):
    host: str = "127.0.0.1"
    # 0 picks a free port.
    port: int = Field(default=0, ge=0, le=65535)
    # Larger request bodies get 413 (a runaway conversation must not stall the gateway).
    max_request_bytes: int = Field(default=8 * 1024 * 1024, gt=0)


class RemoteWorkersConfig(Section):
    """``rollout.isolation: remote``: workers anywhere claim episodes over the gateway's episode
    API (docs/remote_agents.md)."""

    # A claimed episode stays its worker's while heartbeats arrive; past this many seconds
    # without one it expires: its calls are discarded and its task is handed out again.
    lease_seconds: float = Field(default=30.0, gt=0, le=3600)
    # Episodes the run executes itself at once (workflow.name), claiming from the same queue as
    # the remote workers; 0 leaves every episode to remote workers.
    local_workers: int = Field(default=0, ge=0, le=MAX_BATCH)
    # The environment variable that holds the run token workers claim with; unset, the run
    # makes one and writes it to <run folder>/remote/token (mode 0600).
    token_env: str = "AJET_RUN_TOKEN"


class RolloutConfig(Section):
    # Tasks per training step; each runs num_repeat times (one GRPO group).
    batch_size: int = Field(default=8, gt=0, le=MAX_BATCH)
    num_repeat: int = Field(default=4, gt=0, le=MAX_GROUP_SIZE)
    max_concurrency: int = Field(default=16, gt=0, le=MAX_BATCH)
    episode_timeout: float = Field(default=600.0, gt=0)
    # Retries of an episode that failed with an engine error (never for workflow errors).
    engine_error_retries: int = Field(default=1, ge=0)
    # Sampling used during training; a request's own values count only in rollout/eval mode.
    temperature: float = Field(default=1.0, ge=0)
    top_p: float = Field(default=1.0, gt=0, le=1)
    top_k: int = -1  # -1: no top-k filter; 0 would leave no token to sample
    max_tokens_per_call: int = Field(default=512, gt=0)
    max_tokens_per_episode: int = Field(default=4096, gt=0)
    # Groups whose rewards are all equal carry no GRPO signal.
    equal_reward_groups: Literal["keep", "drop", "refill"] = "drop"
    min_valid_group_size: int = Field(default=2, ge=1)
    # Agents that are not trained may use a fixed external model instead of the policy.
    fixed_endpoints: dict[str, FixedEndpointConfig] = Field(default_factory=dict)
    gateway: GatewayConfig = Field(default_factory=GatewayConfig)
    # Where workflows run: "inprocess" (breakpoints work), "process" (each episode in its own
    # worker process, so os._exit, blocking calls and ignored cancellation fail only that
    # episode) or "remote" (workers in other processes, machines or languages claim episodes
    # over HTTP; see rollout.remote and docs/remote_agents.md).
    isolation: Literal["inprocess", "process", "remote"] = "inprocess"
    remote: RemoteWorkersConfig = Field(default_factory=RemoteWorkersConfig)
    # Stop the run (exit 1, checkpoint kept) after this many consecutive training steps in which
    # every episode failed; 0 never stops.
    max_failed_steps: int = Field(default=3, ge=0)

    @field_validator("top_k")
    @classmethod
    def _top_k(cls, value: int) -> int:
        if value == 0 or value < -1:
            raise ValueError(
                f"top_k={value} leaves no token to sample; use -1 (no top-k filter) or a value >= 1"
            )
        return value


class TaskReaderSection(PluginSection):
    type: str = "jsonl"


class JudgerSection(PluginSection):
    # None: the workflow returns its own reward.
    type: str | None = None


class TrackerSection(PluginSection):
    type: str = "timeline_merge"
    # Longest sample the trainer accepts; longer merged samples are split or truncated.
    max_sample_tokens: int = Field(default=8192, gt=0)
    overlong: Literal["split", "truncate"] = "split"


class LoraConfig(Section):
    rank: int = Field(default=0, ge=0)  # 0 disables LoRA
    alpha: int = Field(default=16, gt=0)
    dropout: float = Field(default=0.0, ge=0, lt=1)
    target_modules: list[str] | Literal["all-linear"] = "all-linear"


class TrainerConfig(Section):
    total_steps: int | None = Field(default=None, gt=0)
    total_epochs: int = Field(default=1, gt=0)
    # "sync": roll out a batch, train on it, repeat. "async": rollouts keep running while the
    # trainer trains on completed groups, the engine takes each new version between decode
    # steps, and a sample whose oldest token is more than max_staleness versions behind the
    # trainer is dropped (docs/architecture.md, "Asynchronous training").
    mode: Literal["sync", "async"] = "sync"
    max_staleness: int = Field(default=1, ge=0)
    # Async mode: the truncation of pi_proximal / pi_behaviour on stale tokens (decoupled PPO).
    behaviour_weight_cap: float = Field(default=5.0, gt=0)
    lr: float = Field(default=1e-5, gt=0)
    weight_decay: float = Field(default=0.0, ge=0)
    betas: tuple[float, float] = (0.9, 0.999)
    grad_clip: float = Field(default=1.0, gt=0)
    warmup_steps: int = Field(default=0, ge=0)
    lr_scheduler: Literal["constant", "linear", "cosine"] = "constant"
    ppo_epochs: int = Field(default=1, gt=0)
    clip_ratio_low: float = Field(default=0.2, ge=0)
    clip_ratio_high: float = Field(default=0.2, ge=0)
    loss_agg: Literal["token_mean", "seq_mean"] = "token_mean"
    kl_coef: float = Field(default=0.0, ge=0)
    recompute_logprobs: bool = False
    micro_batch_tokens: int = Field(default=4096, gt=0)
    lora: LoraConfig = Field(default_factory=LoraConfig)


class EvalConfig(Section):
    every_n_steps: int = Field(default=0, ge=0)  # 0: only before/after training
    before_train: bool = False
    after_train: bool = False
    num_repeat: int = Field(default=1, gt=0, le=MAX_GROUP_SIZE)  # k of pass@k
    temperature: float = Field(default=0.0, ge=0)
    max_tasks: int | None = Field(default=None, gt=0)
    # Each evaluation call decoded on its own (SamplingParams.batch_invariant): results do not
    # depend on load, timing or concurrency, at the cost of batching (docs/gateway.md, Sampling).
    batch_invariant: bool = True


class CheckpointConfig(Section):
    # Also saved at the end, on Ctrl-C and on a fatal error; 0: only those.
    every_n_steps: int = Field(default=10, ge=0)
    keep_last: int = Field(default=2, gt=0)


class BackboneSection(PluginSection):
    name: str = "debug"


class LoggingConfig(Section):
    # Hosted services (wandb, swanlab) run only when named here, never because they are installed.
    loggers: list[str] = Field(default_factory=lambda: ["console", "jsonl", "tensorboard"])
    # Options of the loggers that take some, by logger name, e.g. {wandb: {project: my-project}}.
    logger_options: dict[str, dict[str, Any]] = Field(default_factory=dict)
    # Which episodes the token-level records keep per step.
    records: Literal["all", "sample", "failures_and_extremes", "none"] = "all"
    records_sample_size: int = Field(default=16, gt=0)
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


class AjetConfig(Section):
    experiment: ExperimentConfig = Field(default_factory=ExperimentConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    task_reader: TaskReaderSection = Field(default_factory=TaskReaderSection)
    workflow: WorkflowConfig = Field(default_factory=WorkflowConfig)
    rollout: RolloutConfig = Field(default_factory=RolloutConfig)
    judger: JudgerSection = Field(default_factory=JudgerSection)
    tracker: TrackerSection = Field(default_factory=TrackerSection)
    trainer: TrainerConfig = Field(default_factory=TrainerConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)
    checkpoint: CheckpointConfig = Field(default_factory=CheckpointConfig)
    backbone: BackboneSection = Field(default_factory=BackboneSection)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)

    # The config file's folder: relative paths in the config resolve against it first.
    _base_dir: Path | None = PrivateAttr(default=None)

    @model_validator(mode="before")
    @classmethod
    def _backbone_shorthand(cls, data: Any) -> Any:
        # `backbone: verl` is the same as `backbone: {name: verl}`.
        if isinstance(data, dict) and isinstance(data.get("backbone"), str):
            data = {**data, "backbone": {"name": data["backbone"]}}
        return data

    @property
    def base_dir(self) -> Path:
        return self._base_dir or Path.cwd()
