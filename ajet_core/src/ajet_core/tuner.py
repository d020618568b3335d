"""``AjetTuner``: what a workflow asks for models (AgentJet's names and return types).

Every model a tuner hands out is backed by the episode's gateway: its API key names the episode,
the agent (``agent_name``) and the target tag that decides whether the calls are trained. The
key is revoked when the episode ends.

- ``as_raw_openai_sdk_client()`` -> an ``openai.AsyncOpenAI`` whose ``chat.completions.create``
  needs no ``model=``. It talks HTTP when the gateway serves HTTP, otherwise it goes through the
  same ASGI app in-process (no socket); either way the app runs on the gateway's loop thread.
- ``as_oai_baseurl_apikey()`` -> ``.base_url``, ``.api_key``, ``.model`` for raw HTTP or any
  client (needs the gateway's HTTP server).
- ``as_agentscope_model()``, ``as_langchain_chat_model()`` and ``as_model_client(name)`` ->
  objects built by a model client registered through ``ajet_register_model_clients``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from ajet_core.environment import install_command
from ajet_core.errors import PluginUnavailableError

if TYPE_CHECKING:  # pragma: no cover
    import httpx
    import openai

    from ajet_core.agentjet_context import EpisodeContextTracker
    from ajet_core.config.agentjet_compat import AgentJetConfigView
    from ajet_core.gateway.episode import EpisodeSession
    from ajet_core.gateway.faces import InProcessGateway, TunerGateway

IN_PROCESS_BASE_URL = "http://ajet-gateway.in-process/v1"

# model client name -> the distribution that registers it
MODEL_CLIENT_PACKAGES = {
    "agentscope": "ajet-plugins-agentscope",
    "langchain": "ajet-plugins-langchain",
}


@dataclass
class OpenAIEndpoint:
    """Where an OpenAI-compatible client sends one agent's calls."""

    base_url: str
    api_key: str
    model: str


@dataclass
class ModelEndpoint(OpenAIEndpoint):
    """What a registered model client receives: the endpoint plus who is calling.

    ``http_async_client`` and ``http_client`` are set when the gateway is in-process only (no
    HTTP server): pass them to the framework's OpenAI client so requests reach the gateway
    without a socket. The synchronous one may be used from any thread, the workflow's event loop
    included (it blocks its caller, not the gateway).
    """

    agent_name: str = "default"
    target_tag: str = "default"
    debug_model: str | None = None
    http_async_client: httpx.AsyncClient | None = field(default=None, repr=False)
    http_client: httpx.Client | None = field(default=None, repr=False)

    def openai_client(self) -> openai.AsyncOpenAI:
        """An ``openai.AsyncOpenAI`` for this endpoint (``model=`` optional in create)."""
        return _make_openai_client(self.base_url, self.api_key, self.model, self.http_async_client)


class AjetTuner:
    """Hands a workflow its models for one episode. Created by ``Gateway.open_episode``."""

    def __init__(self, gateway: TunerGateway, session: EpisodeSession) -> None:
        self._gateway = gateway
        self._session = session

    @property
    def episode_id(self) -> str:
        return self._session.episode_id

    @property
    def trainable_targets(self) -> list[str] | None:
        return self._session.trainable_targets

    def is_trainable(self, target_tag: str) -> bool:
        return self._session.is_trainable(target_tag)

    # ---------------------------------------------------------- AgentJet's tuner attributes

    @property
    def config(self) -> AgentJetConfigView:
        """The run's config as AgentJet workflows read it (``config.ajet.rollout...``)."""
        from ajet_core.config.agentjet_compat import agentjet_view

        return agentjet_view(self._gateway.config)

    def get_context_tracker(self) -> EpisodeContextTracker:
        """AgentJet's context tracker: ``.context_overflow`` ends a multi-turn loop in time."""
        from ajet_core.agentjet_context import EpisodeContextTracker

        return EpisodeContextTracker(self._session, self._gateway.config)

    # ---------------------------------------------------------------------------- endpoints

    def _endpoint(
        self, agent_name: str, target_tag: str | None, debug_model: str | None
    ) -> ModelEndpoint:
        if debug_model is not None and not isinstance(debug_model, str):
            raise TypeError(
                f"debug_model is a {type(debug_model).__name__} object; here it must name an "
                "entry of rollout.fixed_endpoints. A model object can stand in only for a "
                "framework model (as_agentscope_model, as_model_client), which returns it for "
                "agents that are not trained"
            )
        gateway = self._gateway
        key = gateway.issue_key(self._session, agent_name, target_tag, debug_model)
        in_process = gateway.base_url is None
        http_client = sync_client = None
        if in_process:
            import httpx

            from ajet_core.gateway.transport import InProcessSyncTransport, InProcessTransport

            # Only the run's own gateway serves without HTTP (worker gateways have a base URL).
            gateway = cast("InProcessGateway", gateway)
            http_client = httpx.AsyncClient(
                transport=InProcessTransport(gateway), base_url=IN_PROCESS_BASE_URL, timeout=None
            )
            sync_client = httpx.Client(
                transport=InProcessSyncTransport(gateway),
                base_url=IN_PROCESS_BASE_URL,
                timeout=None,
            )
        return ModelEndpoint(
            base_url=gateway.base_url or IN_PROCESS_BASE_URL,
            api_key=key,
            model=gateway.model_name,
            agent_name=agent_name,
            target_tag=target_tag or agent_name,
            debug_model=debug_model,
            http_async_client=http_client,
            http_client=sync_client,
        )

    def as_raw_openai_sdk_client(
        self,
        agent_name: str = "default",
        target_tag: str | None = None,
        debug_model: str | None = None,
    ) -> openai.AsyncOpenAI:
        """An ``openai.AsyncOpenAI`` bound to this episode and agent; ``model=`` is optional."""
        return self._endpoint(agent_name, target_tag, debug_model).openai_client()

    def as_oai_baseurl_apikey(
        self,
        agent_name: str = "default",
        target_tag: str | None = None,
        debug_model: str | None = None,
    ) -> OpenAIEndpoint:
        """``.base_url``, ``.api_key`` and ``.model`` for raw HTTP or OpenAI-compatible clients."""
        # Raw HTTP needs a socket: start the gateway's server on first use.
        self._gateway.ensure_http()
        endpoint = self._endpoint(agent_name, target_tag, debug_model)
        return OpenAIEndpoint(endpoint.base_url, endpoint.api_key, endpoint.model)

    def model_endpoint(
        self,
        agent_name: str = "default",
        target_tag: str | None = None,
        debug_model: str | None = None,
    ) -> ModelEndpoint:
        """What a model client is built from: base URL, key, model name and, in-process, the
        ``httpx`` clients that reach the gateway without a socket (``http_client`` serves a
        synchronous framework such as ``openai.OpenAI(http_client=...)``)."""
        return self._endpoint(agent_name, target_tag, debug_model)

    # ------------------------------------------------------------------------ model clients

    def as_model_client(
        self,
        client_name: str,
        agent_name: str = "default",
        target_tag: str | None = None,
        debug_model: str | None = None,
        **kwargs: Any,
    ) -> Any:
        """The model object a registered model client builds (e.g. ``agentscope``).

        ``debug_model`` may also be a model object of that framework, as AgentJet allows: an
        agent that is not trained then gets that object itself (its calls bypass the gateway
        and are not recorded), and a trained agent ignores it and samples from the policy."""
        from ajet_core.plugins.manager import get_plugin_manager

        if debug_model is not None and not isinstance(debug_model, str):
            if not self.is_trainable(target_tag or agent_name):
                return debug_model
            debug_model = None

        plugins = get_plugin_manager()
        if client_name not in plugins.registry("model_client"):
            distribution = MODEL_CLIENT_PACKAGES.get(client_name)
            package = (
                f"{distribution} ({install_command(distribution)})"
                if distribution
                else f"a package registering model client {client_name!r}"
            )
            raise PluginUnavailableError(
                f"no model client {client_name!r} is installed (registered: "
                f"{', '.join(plugins.names('model_client')) or 'none'}); install {package}"
            )
        factory = plugins.load_object("model_client", client_name)
        return factory(self._endpoint(agent_name, target_tag, debug_model), **kwargs)

    def as_agentscope_model(
        self,
        agent_name: str = "default",
        target_tag: str | None = None,
        debug_model: str | None = None,
        **kwargs: Any,
    ) -> Any:
        return self.as_model_client("agentscope", agent_name, target_tag, debug_model, **kwargs)

    def as_langchain_chat_model(
        self,
        agent_name: str = "default",
        target_tag: str | None = None,
        debug_model: str | None = None,
        **kwargs: Any,
    ) -> Any:
        return self.as_model_client("langchain", agent_name, target_tag, debug_model, **kwargs)


_CLIENT_CLASS: Any = None
POSITIONAL_CREATE_ARGS = ("messages", "tools", "tool_choice")


def _client_class() -> Any:
    """Build the AsyncOpenAI subclass on first use (keeps ``import ajet_core`` free of openai)."""
    global _CLIENT_CLASS
    if _CLIENT_CLASS is not None:
        return _CLIENT_CLASS
    from functools import cached_property

    import openai
    from openai.resources.chat import AsyncChat
    from openai.resources.chat.completions import AsyncCompletions

    class AjetCompletions(AsyncCompletions):
        async def create(self, *args: Any, model: Any = None, **kwargs: Any) -> Any:  # type: ignore[override]
            # AgentJet's client takes create(messages, tools, tool_choice) positionally too.
            if len(args) > len(POSITIONAL_CREATE_ARGS):
                raise TypeError(
                    f"chat.completions.create() takes at most {len(POSITIONAL_CREATE_ARGS)} "
                    f"positional arguments ({', '.join(POSITIONAL_CREATE_ARGS)}), got {len(args)}"
                )
            for name, value in zip(POSITIONAL_CREATE_ARGS, args):
                if name in kwargs:
                    raise TypeError(f"chat.completions.create() got {name!r} twice")
                kwargs[name] = value
            return await super().create(model=model or self._client.ajet_default_model, **kwargs)

    class AjetChat(AsyncChat):
        @cached_property
        def completions(self) -> AjetCompletions:  # type: ignore[override]
            return AjetCompletions(self._client)

    class AjetOpenAIClient(openai.AsyncOpenAI):
        """``openai.AsyncOpenAI`` whose ``chat.completions.create`` fills in ``model``."""

        ajet_default_model: str = ""

        @cached_property
        def chat(self) -> AjetChat:  # type: ignore[override]
            return AjetChat(self)

    _CLIENT_CLASS = AjetOpenAIClient
    return _CLIENT_CLASS


def _make_openai_client(
    base_url: str, api_key: str, model: str, http_client: httpx.AsyncClient | None
) -> openai.AsyncOpenAI:
    client = _client_class()(
        base_url=base_url, api_key=api_key, http_client=http_client, max_retries=0
    )
    client.ajet_default_model = model
    return client
