"""Data that flows through a run: tasks, recorded LLM calls, episodes and training samples.

``Task`` is pydantic (user-facing, validated, same field names as AgentJet). ``LlmCall``,
``EpisodeRecord`` and ``Sample`` are plain dataclasses: they carry long token lists on the hot
path, where validation would only cost time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Task(BaseModel):
    """One task as a reader yields it (AgentJet's field names, so workflows migrate unchanged)."""

    model_config = ConfigDict(extra="forbid")

    main_query: str = ""
    init_messages: list[dict[str, Any]] = Field(default_factory=list)
    task_id: str = ""
    env_type: str = ""
    metadata: dict[str, Any] = Field(default_factory=dict)


@dataclass
class LlmCall:
    """One chat-completion call, captured at token level by the gateway."""

    call_id: str
    agent: str
    target_tag: str
    trainable: bool
    prompt_ids: list[int]
    response_ids: list[int]
    response_logprobs: list[float]
    temperature: float
    finish_reason: str
    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]] | None = None
    latency: float = 0.0
    # Mask per response token: 1 where the policy sampled it, 0 where the gateway added it (the
    # opening of a tool call forced by tool_choice; end-of-turn tokens closing a reply cut at the
    # length limit).
    response_mask: list[int] | None = None
    # True when the prompt was rendered from scratch because prefix reuse was impossible.
    drift_fallback: bool = False
    drift_reason: str | None = None
    started_at: float = field(default_factory=time.time)
    reply: dict[str, Any] | None = None
    # The earlier call whose prompt + response ids this call's prompt starts with (prefix reuse).
    parent_call_id: str | None = None
    # True when the reply looked like a tool call but could not be parsed (returned as text).
    malformed_tool_call: bool = False
    # Set when a fixed external endpoint served the call (no token ids then).
    fixed_endpoint: str | None = None
    # The policy version the engine generated with, when it reports one (see Generation).
    weight_version: int | None = None
    # Per response token, the policy version that sampled it (Generation.token_versions); a
    # reply the engine served across a weight update spans two versions. None: not reported.
    response_versions: list[int] | None = None

    def __post_init__(self) -> None:
        if self.response_mask is None:
            self.response_mask = [1] * len(self.response_ids)

    @property
    def full_ids(self) -> list[int]:
        return self.prompt_ids + self.response_ids


@dataclass
class Sample:
    """One training sequence: what every backbone trains on."""

    input_ids: list[int]
    loss_mask: list[int]
    old_logprobs: list[float]  # aligned with input_ids; 0.0 where loss_mask is 0
    advantage: float = 0.0
    reward: float = 0.0
    group_key: str = ""
    episode_id: str = ""
    agent: str = ""
    target_tag: str = ""
    call_ids: list[str] = field(default_factory=list)
    # Aligned with input_ids: the policy version that sampled each trained token, -1 where
    # loss_mask is 0. None when the engine reports no versions (then every token counts as
    # sampled by the weights being trained: synchronous training).
    versions: list[int] | None = None

    def __len__(self) -> int:
        return len(self.input_ids)

    @property
    def num_trained_tokens(self) -> int:
        return sum(self.loss_mask)

    def oldest_version(self) -> int | None:
        """The version of the sample's oldest trained token (what its staleness counts from)."""
        if self.versions is None:
            return None
        trained = [v for v, mask in zip(self.versions, self.loss_mask) if mask]
        return min(trained) if trained else None

    @property
    def prompt_length(self) -> int:
        """Tokens before the first trained one: where backbones that split a sequence into a
        prompt and a response (verl, trinity) make the cut; everything after rides in the
        response with its loss mask."""
        try:
            return self.loss_mask.index(1)
        except ValueError:
            raise ValueError(
                f"sample of episode {self.episode_id!r} trains no token (its loss mask is all 0); "
                "trackers only build samples with sampled tokens"
            ) from None


@dataclass
class EpisodeRecord:
    """Everything one episode produced: its calls, its reward, its samples, or its error."""

    episode_id: str
    task: Task
    group_key: str = ""
    step: int = 0
    calls: list[LlmCall] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)
    reward: float | None = None
    is_success: bool | None = None
    advantage: float = 0.0
    metadata: dict[str, Any] = field(default_factory=dict)
    log_metrics: dict[str, Any] = field(default_factory=dict)
    judger_metrics: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    error_traceback: str | None = None
    drift_fallbacks: int = 0
    started_at: float = field(default_factory=time.time)
    finished_at: float | None = None

    @property
    def ok(self) -> bool:
        return self.error is None
