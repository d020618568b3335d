"""``tuner.as_langchain_chat_model()``: LangChain's maintained ``ChatOpenAI`` bound to the gateway.

The gateway speaks the OpenAI chat-completions API, so nothing here reimplements a chat model:
``ChatOpenAI`` is configured with the episode's endpoint (base URL, per-agent API key, model
name). When the gateway runs in-process (no HTTP server), the async path uses the tuner's ASGI
client and the sync path bridges to it (see :mod:`ajet_plugins_langchain.sync_bridge`).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from langchain_openai import ChatOpenAI

    from ajet_core.tuner import ModelEndpoint

# Set by the adapter: a user passing them would unbind the model from its episode.
_RESERVED = ("base_url", "api_key", "model", "http_client", "http_async_client")


def make_langchain_chat_model(endpoint: ModelEndpoint, **kwargs: Any) -> ChatOpenAI:
    """A ``ChatOpenAI`` whose calls go to the episode's gateway as ``endpoint.agent_name``.

    ``kwargs`` are ``ChatOpenAI`` options (``temperature``, ``max_tokens``, ``streaming`` ...).
    """
    try:
        from langchain_openai import ChatOpenAI
    except ImportError as exc:  # pragma: no cover - a dependency of this package
        raise ImportError(
            "tuner.as_langchain_chat_model() needs langchain-openai; install it with `pip install "
            "'langchain-openai>=0.3'`"
        ) from exc
    clashing = sorted(set(kwargs) & set(_RESERVED))
    if clashing:
        raise TypeError(
            f"as_langchain_chat_model() sets {', '.join(clashing)} itself (from the episode's "
            "gateway endpoint); remove them from the call"
        )
    kwargs.setdefault("max_retries", 0)  # a retried call would be recorded twice
    clients: dict[str, Any] = {}
    if endpoint.http_async_client is not None:
        clients = {
            "http_async_client": endpoint.http_async_client,
            "http_client": _sync_client_for(endpoint),
        }
    return ChatOpenAI(
        model=endpoint.model,
        base_url=endpoint.base_url,
        api_key=endpoint.api_key,
        **clients,
        **kwargs,
    )


def _sync_client_for(endpoint: ModelEndpoint) -> Any:
    """An ``httpx.Client`` that reaches the in-process gateway from a worker thread."""
    import httpx

    from ajet_plugins_langchain.sync_bridge import LoopBridgeTransport

    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        # Built outside the gateway's loop: there is no loop to bridge to, so sync calls say so.
        return httpx.Client(transport=_no_loop_transport(), base_url=endpoint.base_url)
    transport = LoopBridgeTransport(endpoint.http_async_client, loop)  # type: ignore[arg-type]
    return httpx.Client(transport=transport, base_url=endpoint.base_url, timeout=None)


def _no_loop_transport() -> Any:
    import httpx

    class NoLoopTransport(httpx.BaseTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            raise RuntimeError(
                "this LangChain model was created outside the event loop of the in-process "
                "AgentJet gateway, so synchronous calls cannot reach it; create it inside the "
                "workflow's `execute` (or use `ainvoke`)"
            )

    return NoLoopTransport()
