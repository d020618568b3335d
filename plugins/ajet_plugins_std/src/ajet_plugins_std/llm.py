"""Shared pieces for plugins that call an OpenAI-compatible endpoint (llm_judge, generated).

Transport retries with exponential backoff are the OpenAI SDK's own (``max_retries``: connection
errors, timeouts, 408/409/429 and 5xx answers); what is left after them is an :class:`LlmError`
naming the endpoint and what to check.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field


class LlmError(RuntimeError):
    """The endpoint could not give a usable answer; never turned into a silent reward of zero."""


class EndpointOptions(BaseModel):
    """Where the LLM is: any OpenAI-compatible server (vLLM, a hosted API, AgentJet's gateway)."""

    base_url: str
    model: str
    # The key itself, or the environment variable holding it (a key in a config file leaks).
    api_key: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    timeout: float = Field(default=60.0, gt=0)
    max_retries: int = Field(default=3, ge=0)

    def key(self) -> str:
        return self.api_key or os.environ.get(self.api_key_env) or "EMPTY"


def describe_failure(options: EndpointOptions, exc: Exception) -> str:
    import openai

    if isinstance(exc, openai.APIConnectionError | openai.APITimeoutError):
        hint = "is the server running and base_url right?"
    elif isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError):
        hint = f"check api_key / the {options.api_key_env} environment variable"
    elif isinstance(exc, openai.NotFoundError):
        hint = f"does the server serve model {options.model!r} at {options.base_url}?"
    else:
        hint = "see the server's log"
    return (
        f"endpoint {options.base_url} (model {options.model!r}) failed after "
        f"{options.max_retries + 1} attempt(s): {type(exc).__name__}: {str(exc)[:300]}; {hint}"
    )


def cache_key(payload: Any) -> str:
    return hashlib.sha256(
        json.dumps(payload, sort_keys=True, ensure_ascii=False).encode("utf-8")
    ).hexdigest()


class DiskCache:
    """One JSON file per key under ``folder``; writes are atomic renames, so concurrent runs and
    interrupted ones never leave a half-written entry."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)

    def _path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.json"

    def get(self, key: str) -> Any | None:
        path = self._path(key)
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return None  # a damaged entry is recomputed

    def put(self, key: str, value: Any) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(
            "w", encoding="utf-8", dir=path.parent, delete=False, suffix=".tmp"
        ) as f:
            json.dump(value, f, ensure_ascii=False)
        os.replace(f.name, path)
