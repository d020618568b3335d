"""Wire pieces every protocol adapter shares: server-sent events, ids and token usage."""

from __future__ import annotations

import json
import secrets
import uuid
from typing import Any

SSE_DONE = b"data: [DONE]\n\n"


def sse(payload: Any, event: str | None = None) -> bytes:
    """One server-sent event; ``event`` names it (the Responses and Messages APIs do)."""
    data = b"data: " + json.dumps(payload, ensure_ascii=False).encode() + b"\n\n"
    return data if event is None else b"event: " + event.encode() + b"\n" + data


def new_call_id() -> str:
    return "chatcmpl-" + uuid.uuid4().hex


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


def new_tool_call_id() -> str:
    # Gateway-issued: how the next call finds the reply this tool call came from.
    return "call_" + secrets.token_hex(12)


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    """OpenAI chat-completions usage."""
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }
