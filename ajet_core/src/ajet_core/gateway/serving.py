"""The policy as a plain OpenAI-compatible endpoint (``ajet serve``), with no episodes.

Any client may call it: a non-trained agent's ``rollout.fixed_endpoints`` entry in another run,
``ajet eval --endpoint``, or a person with the ``openai`` package. Each request gets a throwaway
session, so nothing is recorded and nothing accumulates however long the server runs; sampling
follows the request (the gateway's ``eval`` mode).
"""

from __future__ import annotations

import secrets
import uuid
from typing import TYPE_CHECKING

from ajet_core.gateway.core import DEFAULT_AGENT, DEFAULT_MODEL_NAME, Gateway
from ajet_core.gateway.episode import ClientBinding, EpisodeSession
from ajet_core.gateway.errors import unauthorized

if TYPE_CHECKING:  # pragma: no cover
    from ajet_core.config.models import AjetConfig
    from ajet_core.engine import Engine
    from ajet_core.plugins.manager import PluginManager


class ServingGateway(Gateway):
    def __init__(
        self,
        engine: Engine,
        config: AjetConfig | None = None,
        *,
        api_key: str | None = None,
        model_name: str = DEFAULT_MODEL_NAME,
        plugins: PluginManager | None = None,
    ) -> None:
        super().__init__(engine, config, mode="eval", model_name=model_name, plugins=plugins)
        # None: any key (or none) is accepted, as local OpenAI-compatible servers usually do.
        self.required_api_key = api_key

    def authorize(self, api_key: str | None) -> ClientBinding:
        if self.required_api_key is not None and not (
            api_key and secrets.compare_digest(api_key, self.required_api_key)
        ):
            raise unauthorized(
                "wrong or missing API key: send 'Authorization: Bearer <key>' with the key "
                "given to 'ajet serve --api-key'"
            )
        session = EpisodeSession(f"serve-{uuid.uuid4().hex}", None)
        return ClientBinding(session, DEFAULT_AGENT, DEFAULT_AGENT, trainable=False)

    def authorize_stats(self, api_key: str | None) -> None:
        # The counters say what the server is doing: as private as the completions.
        if self.required_api_key is not None:
            self.authorize(api_key)
