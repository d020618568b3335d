"""Per-episode state behind the gateway: API keys, recorded calls and drift counters."""

from __future__ import annotations

import secrets
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ajet_core.schema import EpisodeRecord, LlmCall

if TYPE_CHECKING:  # pragma: no cover
    from ajet_core.chat.prefix import PromptBuilder
    from ajet_core.config.models import FixedEndpointConfig

KEY_PREFIX = "ajet-"


def new_api_key() -> str:
    # 192 bits: unguessable, so a key from one episode can never reach another's recorder.
    return KEY_PREFIX + secrets.token_urlsafe(24)


@dataclass
class EpisodeRecording:
    """What an episode's calls produced, handed back by ``Gateway.close_episode``."""

    episode_id: str
    calls: list[LlmCall]
    drift_fallbacks: int
    fallback_reasons: dict[str, int]
    malformed_tool_calls: int
    errors: list[dict[str, Any]]

    def summary(self) -> dict[str, Any]:
        return {
            "calls": len(self.calls),
            "drift_fallbacks": self.drift_fallbacks,
            "drift_fallback_reasons": dict(self.fallback_reasons),
            "malformed_tool_calls": self.malformed_tool_calls,
            "errors": list(self.errors),
        }


@dataclass
class EpisodeSession:
    episode_id: str
    trainable_targets: list[str] | None
    record: EpisodeRecord | None = None
    calls: list[LlmCall] = field(default_factory=list)
    builders: dict[str, PromptBuilder] = field(default_factory=dict)
    fallback_reasons: Counter = field(default_factory=Counter)
    malformed_tool_calls: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    generated_tokens: int = 0
    keys: set[str] = field(default_factory=set)
    closed: bool = False
    seed: int | None = None
    # Responses API conversations kept for previous_response_id (id -> chat messages).
    responses: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    _calls_started: int = 0

    def next_seed(self) -> int | None:
        """A per-call seed derived from the episode's, or None when it has none."""
        if self.seed is None:
            return None
        self._calls_started += 1
        return (self.seed * 1_000_003 + self._calls_started) % (2**31 - 1)

    def is_trainable(self, target_tag: str) -> bool:
        return not self.trainable_targets or target_tag in self.trainable_targets

    def recording(self) -> EpisodeRecording:
        return EpisodeRecording(
            episode_id=self.episode_id,
            calls=list(self.calls),
            drift_fallbacks=sum(self.fallback_reasons.values()),
            fallback_reasons=dict(self.fallback_reasons),
            malformed_tool_calls=self.malformed_tool_calls,
            errors=list(self.errors),
        )


@dataclass
class ClientBinding:
    """What one API key stands for: an episode, an agent and where its calls go."""

    session: EpisodeSession
    agent_name: str
    target_tag: str
    trainable: bool
    fixed_endpoint: FixedEndpointConfig | None = None
    fixed_endpoint_name: str | None = None


@dataclass
class GatewayStats:
    """Run-level counters (every episode since the gateway started)."""

    calls: int = 0
    drift_fallbacks: int = 0
    fallback_reasons: Counter = field(default_factory=Counter)
    malformed_tool_calls: int = 0
    errors: Counter = field(default_factory=Counter)
    # Structured-output requests served without constraint (the engine cannot enforce one).
    unconstrained_outputs: int = 0
    # Seconds the gateway itself added to each engine call (rendering, parsing, recording).
    overheads: deque = field(default_factory=lambda: deque(maxlen=200_000))

    def to_json(self) -> dict[str, Any]:
        return {
            "calls": self.calls,
            "drift_fallbacks": self.drift_fallbacks,
            "drift_fallback_reasons": dict(self.fallback_reasons),
            "malformed_tool_calls": self.malformed_tool_calls,
            "errors": dict(self.errors),
            "unconstrained_outputs": self.unconstrained_outputs,
        }
