"""``tuner.as_agentscope_model()``: AgentScope's own ``OpenAIChatModel`` bound to the gateway.

The gateway speaks the OpenAI chat-completions API, so the adapter only configures the chat model
class that AgentScope already ships, for whichever major version is installed:

- AgentScope 2.x:
  ``OpenAIChatModel(credential=OpenAICredential(...), model=..., client_kwargs=...)``
  used by ``agentscope.agent.Agent``.
- AgentScope 1.x: ``OpenAIChatModel(model_name=..., api_key=..., client_kwargs=...)`` used by
  ``agentscope.agent.ReActAgent``.

When the gateway is in-process (no HTTP server), the endpoint's ASGI ``httpx.AsyncClient`` is
passed to the OpenAI client so requests reach the gateway without a socket. AgentScope models are
async-only, so no sync path is needed.
"""

from __future__ import annotations

from importlib import metadata
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from ajet_core.tuner import ModelEndpoint

SUPPORTED_MAJORS = (1, 2)


def agentscope_major_version() -> int:
    """The installed AgentScope's major version (1 or 2), or a clear error."""
    try:
        version = metadata.version("agentscope")
    except metadata.PackageNotFoundError as exc:
        raise ImportError(
            "tuner.as_agentscope_model() needs AgentScope; install it with "
            "`pip install 'agentscope>=1.0'`"
        ) from exc
    major = int(version.split(".")[0])
    if major not in SUPPORTED_MAJORS:
        raise ImportError(
            f"AgentScope {version} is installed; ajet-plugins-agentscope supports major versions "
            f"{', '.join(map(str, SUPPORTED_MAJORS))}: install e.g. `pip install "
            "'agentscope>=2,<3'`"
        )
    return major


def make_agentscope_model(endpoint: ModelEndpoint, **kwargs: Any) -> Any:
    """An AgentScope ``OpenAIChatModel`` whose calls go to the gateway as ``endpoint.agent_name``.

    ``kwargs`` are the installed AgentScope's ``OpenAIChatModel`` options (``stream``,
    ``parameters`` on 2.x, ``generate_kwargs`` on 1.x, ...); ``client_kwargs`` are merged with
    the adapter's own.
    """
    client_kwargs = dict(kwargs.pop("client_kwargs", None) or {})
    clashing = sorted(set(client_kwargs) & {"base_url", "api_key", "http_client"})
    if clashing:
        raise TypeError(
            f"as_agentscope_model() sets client_kwargs {', '.join(clashing)} itself (from the "
            "episode's gateway endpoint); remove them"
        )
    # A retried request could be recorded twice; the gateway answers or fails for good.
    client_kwargs.setdefault("max_retries", 0)
    if endpoint.http_async_client is not None:
        client_kwargs["http_client"] = endpoint.http_async_client
    if agentscope_major_version() >= 2:
        return _make_v2(endpoint, client_kwargs, kwargs)
    return _make_v1(endpoint, client_kwargs, kwargs)


def _refuse_reserved(kwargs: dict, names: tuple[str, ...]) -> None:
    for reserved in names:
        if reserved in kwargs:
            raise TypeError(
                f"as_agentscope_model() sets {reserved!r} itself (from the episode's gateway "
                "endpoint); remove it"
            )


def _make_v2(endpoint: ModelEndpoint, client_kwargs: dict, kwargs: dict) -> Any:
    from agentscope.credential import OpenAICredential
    from agentscope.model import OpenAIChatModel

    _refuse_reserved(kwargs, ("credential", "model"))
    # AgentScope's own retry loop would resend a failed call; the gateway's errors are final.
    kwargs.setdefault("max_retries", 0)
    credential = OpenAICredential(api_key=endpoint.api_key, base_url=endpoint.base_url)
    return OpenAIChatModel(
        credential=credential, model=endpoint.model, client_kwargs=client_kwargs, **kwargs
    )


def _make_v1(endpoint: ModelEndpoint, client_kwargs: dict, kwargs: dict) -> Any:
    from agentscope.model import OpenAIChatModel

    _refuse_reserved(kwargs, ("model_name", "api_key"))
    client_kwargs["base_url"] = endpoint.base_url
    return OpenAIChatModel(
        model_name=endpoint.model,
        api_key=endpoint.api_key,
        client_kwargs=client_kwargs,
        **kwargs,
    )
