"""What the layers around the gateway need from it, as protocols: they depend on these, and
:class:`ajet_core.gateway.core.Gateway` satisfies them, so the gateway can build its HTTP app and
hand out tuners without those modules importing it back.

* :class:`TunerGateway`: what a tuner needs to hand out clients bound to an episode — also met
  by the gateways of isolated or remote workers, which reach the run's gateway over HTTP;
* :class:`InProcessGateway`: what the in-process transports need to reach the app with no socket;
* :class:`AppGateway`: what the HTTP app serves.
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:  # pragma: no cover
    from ajet_core.config.models import AjetConfig
    from ajet_core.gateway.episode import ClientBinding, EpisodeSession, GatewayStats

T = TypeVar("T")


class TunerGateway(Protocol):
    base_url: str | None
    model_name: str
    config: AjetConfig

    def ensure_http(self) -> str: ...

    def issue_key(
        self,
        session: EpisodeSession,
        agent_name: str = ...,
        target_tag: str | None = ...,
        debug_model: str | None = ...,
    ) -> str: ...


class InProcessGateway(TunerGateway, Protocol):
    loop: Any  # the gateway's loop thread (GatewayLoop)

    @property
    def app(self) -> Any: ...

    async def run_on_loop(self, coro: Coroutine[Any, Any, T]) -> T: ...


class AppGateway(Protocol):
    config: AjetConfig
    model_name: str
    stats: GatewayStats
    chat: Any  # the protocol adapters: .create(binding, body)
    responses: Any
    messages: Any

    def authorize(self, api_key: str | None) -> ClientBinding: ...

    def authorize_stats(self, api_key: str | None) -> None: ...

    def stats_json(self) -> dict[str, Any]: ...
