"""Find the model behind an external OpenAI-compatible endpoint (``ajet eval --endpoint``)."""

from __future__ import annotations

import os

from ajet_core.config.models import FixedEndpointConfig
from ajet_core.errors import ConfigError

# Servers that check no key (vLLM, llama.cpp, ``ajet serve``) still need the header filled.
NO_KEY = "EMPTY"


def normalise_base_url(url: str) -> str:
    """``http://host:8000/v1`` however it was typed (a trailing slash or the route pasted in)."""
    if not url.startswith(("http://", "https://")):
        raise ConfigError(
            f"--endpoint {url!r} is not an http(s) URL; pass the OpenAI base URL, "
            "e.g. http://127.0.0.1:8000/v1"
        )
    url = url.rstrip("/")
    for route in ("/chat/completions", "/completions", "/models"):
        url = url.removesuffix(route)
    return url


def resolve_endpoint(
    url: str, model: str | None = None, api_key: str | None = None
) -> FixedEndpointConfig:
    """The endpoint with its model: the one given, else the only one the server lists."""
    import openai

    base_url = normalise_base_url(url)
    api_key = api_key or os.environ.get("OPENAI_API_KEY") or NO_KEY
    if model:
        return FixedEndpointConfig(base_url=base_url, api_key=api_key, model=model)
    client = openai.OpenAI(base_url=base_url, api_key=api_key, max_retries=1, timeout=30.0)
    try:
        served = [entry.id for entry in client.models.list()]
    except openai.APIConnectionError as exc:
        raise ConfigError(
            f"--endpoint {base_url} is unreachable ({exc}); start the server or fix the URL"
        ) from None
    except openai.APIStatusError as exc:
        raise ConfigError(
            f"--endpoint {base_url} answered {exc.status_code} to GET /models: {exc.message}; "
            "check --endpoint-api-key (or OPENAI_API_KEY), or name the model with --endpoint-model"
        ) from None
    finally:
        client.close()
    if len(served) != 1:
        listed = ", ".join(served) or "none"
        raise ConfigError(
            f"--endpoint {base_url} serves {len(served)} models ({listed}); "
            "choose one with --endpoint-model NAME"
        )
    return FixedEndpointConfig(base_url=base_url, api_key=api_key, model=served[0])
