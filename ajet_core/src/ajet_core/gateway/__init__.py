"""The LLM gateway: OpenAI-compatible chat completions served by the policy, recorded per episode.

See ``docs/gateway.md``. Public: :class:`Gateway`, :class:`EpisodeHandle`, :class:`GatewayError`.
"""

from ajet_core.gateway.core import DEFAULT_MODEL_NAME, EpisodeHandle, Gateway
from ajet_core.gateway.episode import EpisodeRecording
from ajet_core.gateway.errors import GatewayError

__all__ = ["DEFAULT_MODEL_NAME", "EpisodeHandle", "EpisodeRecording", "Gateway", "GatewayError"]
