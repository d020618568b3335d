"""Normalising OpenAI chat messages for chat templates, and comparing them canonically.

Frameworks re-serialise what they send back: tool-call arguments come back with other spacing or
key order, ``content`` becomes ``None`` or a list of text parts, ids get rewritten. Comparison
therefore uses a canonical form (arguments parsed and dumped with sorted keys, ids ignored); the
rendered-text checks in :mod:`ajet_core.chat.prefix` catch whatever the canonical form misses.
"""

from __future__ import annotations

import json
from typing import Any


class MessageError(ValueError):
    """A message the gateway cannot render; ``param`` names the offending field."""

    def __init__(self, message: str, param: str) -> None:
        super().__init__(message)
        self.param = param


ROLES = ("system", "developer", "user", "assistant", "tool", "function")


def content_text(content: Any, param: str) -> str:
    """The text of a message's content (a string, ``None`` or a list of text parts)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for index, part in enumerate(content):
            where = f"{param}[{index}]"
            if isinstance(part, str):
                texts.append(part)
                continue
            if not isinstance(part, dict):
                raise MessageError(f"{where} must be an object with a 'type', got {part!r}", where)
            kind = part.get("type")
            if kind == "text" and isinstance(part.get("text"), str):
                texts.append(part["text"])
            elif kind == "text":
                raise MessageError(f"{where}.text must be a string", f"{where}.text")
            else:
                raise MessageError(
                    f"{where} has type {kind!r}; this model takes only 'text' content parts "
                    "(send images/audio/files to a multimodal endpoint, or pass text)",
                    f"{where}.type",
                )
        return "".join(texts)
    raise MessageError(f"{param} must be a string, null or a list of text parts", param)


def _arguments_object(arguments: Any) -> Any:
    """Tool-call arguments as an object when they are JSON (templates expect a mapping)."""
    if isinstance(arguments, str):
        try:
            return json.loads(arguments)
        except ValueError:
            return arguments
    return arguments


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def normalize_tool_calls(tool_calls: Any, param: str) -> list[dict[str, Any]]:
    if not isinstance(tool_calls, list):
        raise MessageError(f"{param} must be a list of tool calls", param)
    normalized = []
    for index, call in enumerate(tool_calls):
        where = f"{param}[{index}]"
        if not isinstance(call, dict):
            raise MessageError(f"{where} must be an object", where)
        function = call.get("function")
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise MessageError(f"{where}.function.name must be a string", f"{where}.function.name")
        arguments = function.get("arguments", "{}")
        normalized.append(
            {
                "id": str(call.get("id") or ""),
                "type": "function",
                "function": {"name": function["name"], "arguments": _arguments_object(arguments)},
            }
        )
    return normalized


def normalize_messages(messages: Any, param: str = "messages") -> list[dict[str, Any]]:
    """Validate OpenAI messages and return plain dicts a chat template can render.

    Content becomes a string; tool-call arguments become objects where they are JSON (the
    Hugging Face convention most templates assume). Raises :class:`MessageError`.
    """
    if not isinstance(messages, list) or not messages:
        raise MessageError(f"{param} must be a non-empty list of messages", param)
    normalized = []
    for index, message in enumerate(messages):
        where = f"{param}[{index}]"
        if not isinstance(message, dict):
            raise MessageError(f"{where} must be an object with 'role' and 'content'", where)
        role = message.get("role")
        if role not in ROLES:
            raise MessageError(
                f"{where}.role is {role!r}; expected one of {', '.join(ROLES)}", f"{where}.role"
            )
        if role == "developer":  # OpenAI's newer name for the system role
            role = "system"
        item: dict[str, Any] = {
            "role": role,
            "content": content_text(message.get("content"), f"{where}.content"),
        }
        if role == "assistant" and message.get("tool_calls"):
            item["tool_calls"] = normalize_tool_calls(message["tool_calls"], f"{where}.tool_calls")
        if role in ("tool", "function"):
            if role == "function":
                item["role"] = "tool"
            if message.get("tool_call_id") is not None:
                item["tool_call_id"] = str(message["tool_call_id"])
        if isinstance(message.get("name"), str):
            item["name"] = message["name"]
        normalized.append(item)
    return normalized


def canonical_tool_calls(tool_calls: list[dict[str, Any]] | None) -> list[tuple[str, str]]:
    """(name, canonical JSON of the arguments) per call: equal however a framework re-serialised."""
    result = []
    for call in tool_calls or []:
        function = call.get("function", call)
        result.append(
            (function.get("name", ""), canonical_json(_arguments_object(function.get("arguments"))))
        )
    return result


def canonical_message(message: dict[str, Any]) -> tuple:
    """A hashable form of a normalised message that ignores ids and argument formatting."""
    return (
        message["role"],
        message.get("content", "").strip(),
        tuple(canonical_tool_calls(message.get("tool_calls"))),
        message.get("name"),
    )


def canonical_tools(tools: list[dict[str, Any]] | None) -> str:
    return canonical_json(tools) if tools else "[]"
