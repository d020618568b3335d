"""The gateway: keys, episodes and transport around the completion pipeline.

Every client reaches the same Starlette app (:mod:`ajet_core.gateway.app`), over a socket or
through the in-process transport (:mod:`ajet_core.gateway.transport`), and both run on the
gateway's own loop thread (:mod:`ajet_core.gateway.loop_thread`), never on the workflows' loop.
The app authorizes the API key (:meth:`Gateway.authorize`: it names the episode and agent,
:class:`ClientBinding`) and hands the body to a protocol adapter (chat completions, Responses,
Messages), which runs the one completion pipeline (:mod:`ajet_core.gateway.completion`).
"""

from __future__ import annotations

import ipaddress
import logging
import threading
import uuid
import weakref
from collections.abc import AsyncIterator, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

from ajet_core.config.models import AjetConfig, FixedEndpointConfig
from ajet_core.gateway.chat_api import ChatCompletionsAPI
from ajet_core.gateway.completion import MODES_TUPLE, CompletionPipeline, Mode
from ajet_core.gateway.episode import (
    ClientBinding,
    EpisodeRecording,
    EpisodeSession,
    GatewayStats,
    new_api_key,
)
from ajet_core.gateway.errors import unauthorized
from ajet_core.gateway.forwarding import FixedEndpointForwarder
from ajet_core.gateway.loop_thread import GatewayLoop
from ajet_core.gateway.messages_api import MessagesAPI
from ajet_core.gateway.responses_api import ResponsesAPI
from ajet_core.schema import EpisodeRecord, LlmCall
from ajet_core.toolparsers.base import ToolParser
from ajet_core.tuner import AjetTuner

if TYPE_CHECKING:  # pragma: no cover
    from ajet_core.engine import Engine
    from ajet_core.plugins.manager import PluginManager

T = TypeVar("T")
log = logging.getLogger(__name__)

MODES = MODES_TUPLE
DEFAULT_MODEL_NAME = "ajet-policy"
DEFAULT_AGENT = "default"
# How calls sent to the gateway's default endpoint name their endpoint in the records.
DEFAULT_ENDPOINT_NAME = "--endpoint"


class EpisodeHandle:
    """An open episode: its tuner, and ``close()`` to revoke its keys and collect its calls."""

    def __init__(self, gateway: Gateway, session: EpisodeSession, tuner: AjetTuner) -> None:
        self.gateway = gateway
        self.session = session
        self.tuner = tuner

    @property
    def episode_id(self) -> str:
        return self.session.episode_id

    @property
    def calls(self) -> list[LlmCall]:
        return self.session.calls

    def close(self) -> EpisodeRecording:
        return self.gateway.close_episode(self.episode_id)


class Gateway:
    """Serves and records the LLM calls of many concurrent episodes for one policy engine."""

    def __init__(
        self,
        engine: Engine | None,
        config: AjetConfig | None = None,
        *,
        mode: Mode = "train",
        tool_parser: ToolParser | None = None,
        model_name: str = DEFAULT_MODEL_NAME,
        plugins: PluginManager | None = None,
        default_endpoint: FixedEndpointConfig | None = None,
    ) -> None:
        """``default_endpoint`` sends every agent's calls to an external model (``ajet eval
        --endpoint``); the gateway then needs no engine and records calls without tokens."""
        if mode not in MODES:
            raise ValueError(f"gateway mode {mode!r} is not one of {', '.join(MODES)}")
        if engine is None and default_endpoint is None:
            raise ValueError(
                "a gateway without an engine needs a default_endpoint to send calls to"
            )
        self.engine = engine
        self.config = config if config is not None else AjetConfig()
        self.mode: Mode = mode
        self.model_name = model_name
        self.default_endpoint = default_endpoint
        self.tool_parser = (
            tool_parser if tool_parser is not None else self._load_tool_parser(plugins)
        )
        self.stats = GatewayStats()
        self.loop = GatewayLoop()
        # The loop's thread ends with its gateway (tests and evals make many gateways).
        weakref.finalize(self, self.loop.stop)
        self.forwarder = FixedEndpointForwarder()
        self.pipeline = CompletionPipeline(
            engine, self.config, mode, self.tool_parser, self.stats, self.forwarder, model_name
        )
        self.chat = ChatCompletionsAPI(self.pipeline)
        self.responses = ResponsesAPI(self.pipeline)
        self.messages = MessagesAPI(self.pipeline)
        self._sessions: dict[str, EpisodeSession] = {}
        self._keys: dict[str, ClientBinding] = {}
        # Keys are issued from the run's loop and, for remote workers, from the HTTP handlers
        # on the gateway's loop thread: issuing scans the table, so it is done under a lock.
        self._keys_lock = threading.Lock()
        # Routes other layers serve beside the model APIs (the remote episode API).
        self._extra_routes: list[Any] = []
        self._app: Any = None
        self._server: Any = None
        self._server_future: Any = None
        self.base_url: str | None = None

    def _load_tool_parser(self, plugins: PluginManager | None) -> ToolParser:
        from ajet_core.plugins.manager import get_plugin_manager

        manager = plugins or get_plugin_manager()
        parser_class = manager.load_object(
            "tool_parser", self.config.model.tool_parser, config_key="model.tool_parser"
        )
        return parser_class()

    # ---------------------------------------------------------------------------- episodes

    def open_episode(
        self,
        episode_id: str | None = None,
        *,
        trainable_targets: list[str] | None = None,
        record: EpisodeRecord | None = None,
        seed: int | None = None,
    ) -> EpisodeHandle:
        """Start recording an episode; its tuner hands out clients bound to it.

        ``seed`` makes the episode's sampling reproducible: a request without its own ``seed``
        samples with one derived from it and the call's index in the episode.
        """
        episode_id = episode_id or (record.episode_id if record else None) or uuid.uuid4().hex
        if episode_id in self._sessions:
            raise ValueError(
                f"episode {episode_id!r} is already open; close it first or use a new id"
            )
        session = EpisodeSession(
            episode_id, list(trainable_targets or []) or None, record=record, seed=seed
        )
        self._sessions[episode_id] = session
        return EpisodeHandle(self, session, AjetTuner(self, session))

    def close_episode(self, episode_id: str) -> EpisodeRecording:
        """Revoke the episode's keys and return its calls. Fills ``record`` when one was given."""
        session = self._sessions.pop(episode_id, None)
        if session is None:
            raise KeyError(f"episode {episode_id!r} is not open")
        with self.pipeline.record_lock:  # no call is recorded half-way through closing
            session.closed = True
            recording = session.recording()
        with self._keys_lock:
            for key in session.keys:
                self._keys.pop(key, None)
        if session.record is not None:
            session.record.calls = recording.calls
            session.record.drift_fallbacks = recording.drift_fallbacks
            session.record.metadata.setdefault("gateway", {}).update(recording.summary())
        return recording

    def issue_key(
        self,
        session: EpisodeSession,
        agent_name: str = DEFAULT_AGENT,
        target_tag: str | None = None,
        debug_model: str | None = None,
    ) -> str:
        """The API key of one (episode, agent, target tag) client; revoked with the episode."""
        with self._keys_lock:
            return self._issue_key(session, agent_name, target_tag, debug_model)

    def _issue_key(
        self,
        session: EpisodeSession,
        agent_name: str,
        target_tag: str | None,
        debug_model: str | None,
    ) -> str:
        if session.closed:
            raise RuntimeError(f"episode {session.episode_id!r} is closed; its clients are revoked")
        target_tag = target_tag or agent_name
        wanted_endpoint = self._endpoint_name(session, target_tag, agent_name, debug_model)
        if wanted_endpoint is None and self.default_endpoint is not None:
            wanted_endpoint = DEFAULT_ENDPOINT_NAME
        for key, binding in self._keys.items():
            if (
                binding.session is session
                and binding.agent_name == agent_name
                and binding.target_tag == target_tag
                and binding.fixed_endpoint_name == wanted_endpoint
            ):
                return key
        trainable = session.is_trainable(target_tag)
        endpoint_name = self._endpoint_name(session, target_tag, agent_name, debug_model)
        endpoint = self.config.rollout.fixed_endpoints[endpoint_name] if endpoint_name else None
        if endpoint is None and self.default_endpoint is not None:
            endpoint, endpoint_name, trainable = self.default_endpoint, DEFAULT_ENDPOINT_NAME, False
        key = new_api_key()
        self._keys[key] = ClientBinding(
            session, agent_name, target_tag, trainable, endpoint, endpoint_name
        )
        session.keys.add(key)
        return key

    def _endpoint_name(
        self, session: EpisodeSession, target_tag: str, agent_name: str, debug_model: str | None
    ) -> str | None:
        """Which fixed endpoint serves a non-trainable agent (None: the policy does)."""
        if session.is_trainable(target_tag):
            return None  # trained agents always sample from the policy
        endpoints = self.config.rollout.fixed_endpoints
        if debug_model:
            if debug_model not in endpoints:
                raise ValueError(
                    f"debug_model {debug_model!r} is not configured: add it under "
                    f"rollout.fixed_endpoints (configured: {', '.join(endpoints) or 'none'})"
                )
            return debug_model
        for name in (target_tag, agent_name):
            if name in endpoints:
                return name
        return None

    # ---------------------------------------------------------------------------- requests

    def authorize(self, api_key: str | None) -> ClientBinding:
        if not api_key:
            raise unauthorized(
                "no API key: send 'Authorization: Bearer <key>' with a key from the tuner"
            )
        binding = self._keys.get(api_key)
        if binding is None:
            raise unauthorized(
                "unknown or revoked API key (keys are per episode and revoked when it ends); "
                "get a fresh client from the episode's tuner"
            )
        return binding

    def authorize_stats(self, api_key: str | None) -> None:
        """Run counters are open to local clients of a training run (its port is loopback and
        its keys short-lived); ``ajet serve --api-key`` overrides this to require its key."""

    @property
    def renderer(self) -> Any:
        return self.pipeline.renderer

    async def chat_completion(
        self, api_key: str | None, body: Any
    ) -> dict[str, Any] | AsyncIterator[bytes]:
        """A chat completion for an API key, from any loop (it runs on the gateway's)."""
        binding = self.authorize(api_key)
        return await self.complete(binding, body)

    async def complete(
        self, binding: ClientBinding, body: Any
    ) -> dict[str, Any] | AsyncIterator[bytes]:
        """A chat completion (a dict) or, for ``stream=True``, an async iterator of SSE bytes."""
        result = await self.run_on_loop(self.chat.create(binding, body))
        if isinstance(result, dict):
            return result
        return self.loop.iterate(result)

    async def run_on_loop(self, coro: Coroutine[Any, Any, T]) -> T:
        """Await ``coro`` on the gateway's loop thread, from any loop."""
        return await self.loop.run(coro)

    # ------------------------------------------------------------------------------ serving

    def add_routes(self, routes: list[Any]) -> None:
        """Serve ``routes`` (Starlette routes) beside the model APIs; before the app is built."""
        if self._app is not None:
            raise RuntimeError("the gateway's app is already built; add routes before serving")
        self._extra_routes.extend(routes)

    @property
    def app(self) -> Any:
        """The Starlette ASGI app (same code for HTTP and in-process clients)."""
        if self._app is None:
            from ajet_core.gateway.app import build_app

            self._app = build_app(self, self._extra_routes)
        return self._app

    def ensure_http(self, host: str | None = None, port: int | None = None) -> str:
        """Serve the app over HTTP on the gateway's loop thread; returns the ``/v1`` base URL.

        Synchronous, so a tuner can start it on first use: the socket is bound and listening
        before this returns (connections wait in the backlog until uvicorn accepts them).
        """
        from ajet_core.gateway.server import bind_socket, serve

        if self._server is None:
            settings = self.config.rollout.gateway
            host = host or settings.host
            _warn_if_exposed(host)
            sock, self.base_url = bind_socket(host, settings.port if port is None else port)
            self._server, self._server_future = serve(self.app, sock, self.loop)
        return self.base_url  # type: ignore[return-value]

    async def start_http(self, host: str | None = None, port: int | None = None) -> str:
        """Like :meth:`ensure_http`, and waits until the server accepts connections."""
        from ajet_core.gateway.server import wait_started

        base_url = self.ensure_http(host, port)
        await wait_started(self._server, self._server_future)
        return base_url

    async def stop_http(self) -> None:
        """Stop the HTTP server (if one runs) and close the connections to fixed endpoints."""
        import asyncio

        if self._server is not None:
            self._server.should_exit = True
            await asyncio.wrap_future(self._server_future)
            self._server = self._server_future = None
            self.base_url = None
        await self.run_on_loop(self.forwarder.aclose())

    def stats_json(self) -> dict[str, Any]:
        return self.stats.to_json() | {"open_episodes": len(self._sessions)}


def _warn_if_exposed(host: str) -> None:
    """API keys are bearer tokens sent in clear: a gateway beyond loopback exposes them."""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        log.warning(
            "the gateway listens on %s, which is not a loopback address: anyone who can reach "
            "it can read episode keys in transit and call the policy. Set "
            "rollout.gateway.host: 127.0.0.1 unless agents run on other machines (then put the "
            "port behind a firewall or TLS proxy)",
            host,
        )
