"""``tuner.get_context_tracker()``: the part of AgentJet's context tracker that workflows read.

AgentJet workflows stop their loop when ``tuner.get_context_tracker().context_overflow`` turns
true. Here that is the episode's gateway session: the flag is set once a call of the episode was
refused for the context window (``model.max_model_len``) or the episode has spent its token
budget (``rollout.max_tokens_per_episode``), so the next call would be refused as well.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from ajet_core.config.models import AjetConfig
    from ajet_core.gateway.episode import EpisodeSession

# Gateway error codes that mean "this conversation cannot grow any further".
OVERFLOW_CODES = frozenset({"context_length_exceeded", "episode_token_budget_exhausted"})


class EpisodeContextTracker:
    def __init__(self, session: EpisodeSession, config: AjetConfig) -> None:
        self.session = session
        self.config = config

    @property
    def episode_uuid(self) -> str:
        return self.session.episode_id

    @property
    def context_overflow(self) -> bool:
        if any(error.get("code") in OVERFLOW_CODES for error in self.session.errors):
            return True
        return self.session.generated_tokens >= self.config.rollout.max_tokens_per_episode

    @property
    def generated_tokens(self) -> int:
        return self.session.generated_tokens

    @property
    def num_calls(self) -> int:
        return len(self.session.calls)
