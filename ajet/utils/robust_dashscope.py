"""``RobustDashScopeChatModel``, which AgentJet's learn-to-ask tutorial imports: an AgentScope
1.x chat model for DashScope's OpenAI-compatible endpoint that spreads calls over several API
keys and retries a failed call with the next key.

* Keys: ``DASHSCOPE_API_KEY`` may hold several separated by ``|``; ``DASHSCOPE_API_KEY_BACKUP``
  more, tried once the regular ones have failed.
* Endpoint: DashScope's compatible mode, unless ``AJET_ALIEN_LLM_BASE_URL`` names another
  OpenAI-compatible server (an ``ajet serve`` model, say), as for AgentJet's judge bridge.

AgentJet's AgentScope tutorials are written for AgentScope 1.x; with another major version
installed, importing this module says so.
"""

from __future__ import annotations

import logging
import os
import random
from importlib import metadata
from typing import Any

from ajet.task_rollout.dashscope_llm_bridge import external_base_url

log = logging.getLogger(__name__)

_VERSION = metadata.version("agentscope")  # PackageNotFoundError names the missing package
if int(_VERSION.split(".")[0]) != 1:
    raise ImportError(
        f"ajet.utils.robust_dashscope is AgentJet's AgentScope 1.x model; AgentScope {_VERSION} "
        "is installed. Run AgentJet's AgentScope tutorials where AgentScope 1.x is installed "
        "(this repository's trinity environment; docs/migrating_from_agentjet.md)"
    )

from agentscope.model import OpenAIChatModel  # noqa: E402 - after the version check


def _keys(variable: str) -> list[str]:
    return [key.strip() for key in os.environ.get(variable, "").split("|") if key.strip()]


class RobustDashScopeChatModel(OpenAIChatModel):
    def __init__(
        self, model_name: str = "qwen3-max", stream: bool = False, max_try: int = 4, **kwargs: Any
    ) -> None:
        regular = _keys("DASHSCOPE_API_KEY")
        random.shuffle(regular)  # many workers spread their calls over the keys
        self.keys = regular + _keys("DASHSCOPE_API_KEY_BACKUP")
        if not self.keys:
            raise ValueError(
                "RobustDashScopeChatModel needs an API key: set DASHSCOPE_API_KEY (several "
                "separated by '|'), and optionally DASHSCOPE_API_KEY_BACKUP"
            )
        if max_try < 1:
            raise ValueError(f"max_try={max_try} tries nothing; use 1 or more")
        self.max_try = max_try
        client_kwargs = {"base_url": external_base_url(), **(kwargs.pop("client_kwargs", {}))}
        client_kwargs.setdefault("max_retries", 0)  # the retries are ours, each with a new key
        super().__init__(
            model_name, api_key=self.keys[0], stream=stream, client_kwargs=client_kwargs, **kwargs
        )

    async def __call__(self, *args: Any, **kwargs: Any) -> Any:
        error: Exception | None = None
        for attempt in range(self.max_try):
            self.client.api_key = self.keys[attempt % len(self.keys)]
            try:
                return await super().__call__(*args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - any failure is retried with the next key
                error = exc
                log.warning(
                    "%s call %d/%d failed (%s: %s); retrying with the next key",
                    self.model_name,
                    attempt + 1,
                    self.max_try,
                    type(exc).__name__,
                    exc,
                )
        assert error is not None
        raise error
