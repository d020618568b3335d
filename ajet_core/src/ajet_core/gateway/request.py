"""Validate a ``POST /v1/chat/completions`` body.

Accepted and honoured: messages (system/developer/user/assistant/tool), tools, tool_choice,
parallel_tool_calls, temperature, top_p, max_tokens / max_completion_tokens, stop, seed, n
(up to :data:`MAX_CHOICES`), logprobs, response_format (text, json_object, json_schema:
enforced by constrained decoding where the engine supports it), stream, stream_options
(include_usage).

Accepted and ignored (clients send them routinely; they have no meaning for a local policy or
cannot be honoured without changing what the policy samples): user, metadata, store,
service_tier, frequency_penalty, presence_penalty, logit_bias, reasoning_effort and any other key.

Refused with 400: content parts other than text, malformed fields (the error's ``param`` names
the field), and bodies no client means to send: JSON nested deeper than :data:`MAX_JSON_DEPTH`
and strings with lone UTF-16 surrogates (which no tokenizer can encode).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ajet_core.chat.messages import MessageError, normalize_messages
from ajet_core.gateway.errors import bad_request

MAX_CHOICES = 16
MAX_JSON_DEPTH = 100
# Seeds are 64-bit signed integers in OpenAI's API and in every engine we drive.
SEED_RANGE = (-(2**63), 2**63 - 1)


@dataclass
class ChatRequest:
    messages: list[dict[str, Any]]
    model: str | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: Any = None
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    stop: list[str] = field(default_factory=list)
    seed: int | None = None
    stream: bool = False
    include_usage: bool = False
    n: int = 1
    parallel_tool_calls: bool = True
    logprobs: bool = False
    top_logprobs: int = 0
    # Characters of message text: large requests render off the gateway's loop.
    size_chars: int = 0
    # None, or the JSON schema the reply must match ({"type": "object"} for json_object).
    response_schema: dict[str, Any] | None = None
    # The chat-completions body as received (a fixed endpoint gets it as sent).
    body: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def parse_tools(self) -> bool:
        return bool(self.tools) and self.tool_choice != "none"


def _number(
    body: dict, key: str, low: float, high: float, *, low_open: bool = False
) -> float | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise bad_request(f"'{key}' must be a number, got {value!r}", key)
    if not low <= value <= high or (low_open and value == low):
        bound = f"greater than {low}" if low_open else f"at least {low}"
        raise bad_request(f"'{key}' must be {bound} and at most {high}, got {value}", key)
    return float(value)


def _positive_int(body: dict, key: str) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise bad_request(f"'{key}' must be a positive integer, got {value!r}", key)
    return value


def _tools(value: Any) -> list[dict[str, Any]] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise bad_request(
            "'tools' must be a list of {'type': 'function', 'function': {...}}", "tools"
        )
    for index, tool in enumerate(value):
        where = f"tools[{index}]"
        if not isinstance(tool, dict) or tool.get("type", "function") != "function":
            raise bad_request(f"{where} must be an object with type 'function'", f"{where}.type")
        function = tool.get("function")
        if (
            not isinstance(function, dict)
            or not isinstance(function.get("name"), str)
            or not function["name"]
        ):
            raise bad_request(
                f"{where}.function.name must be a non-empty string", f"{where}.function.name"
            )
        if "parameters" in function and not isinstance(function["parameters"], dict):
            raise bad_request(
                f"{where}.function.parameters must be a JSON schema object",
                f"{where}.function.parameters",
            )
    return value or None


def _tool_choice(value: Any, tools: list[dict[str, Any]] | None) -> Any:
    if value is None or value in ("auto", "none", "required"):
        return value
    if isinstance(value, dict) and isinstance(value.get("function"), dict):
        name = value["function"].get("name")
        names = [t["function"]["name"] for t in tools or []]
        if name not in names:
            raise bad_request(
                f"tool_choice names function {name!r}, which is not in tools "
                f"({', '.join(names) or 'none'})",
                "tool_choice",
            )
        return value
    raise bad_request(
        "'tool_choice' must be 'auto', 'none', 'required' or "
        "{'type': 'function', 'function': {'name': ...}}",
        "tool_choice",
    )


def _stop(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value] if value else []
    if isinstance(value, list) and all(isinstance(s, str) for s in value) and len(value) <= 4:
        return [s for s in value if s]
    raise bad_request("'stop' must be a string or a list of at most 4 strings", "stop")


# A lone surrogate can only arrive as a \uD800-\uDFFF escape (raw UTF-8 cannot encode one).
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def json_body_needs_check(raw: bytes) -> bool:
    """Whether :func:`check_json_body` can find anything in this body: cheap byte scans, so
    the walk runs only for bodies with surrogate escapes or enough brackets to nest deeply."""
    brackets = raw.count(b"[") + raw.count(b"{")
    return brackets > MAX_JSON_DEPTH or _SURROGATE_ESCAPE.search(raw) is not None


def check_json_body(body: Any) -> None:
    """Refuse what parses as JSON but cannot be served: deep nesting, lone surrogates.

    Walked iteratively, so a hostile body cannot exhaust the stack of the check itself.
    """
    pending: list[tuple[Any, str, int]] = [(body, "", 0)]
    while pending:
        value, where, depth = pending.pop()
        if depth > MAX_JSON_DEPTH:
            raise bad_request(
                f"the request body nests deeper than {MAX_JSON_DEPTH} levels "
                f"(at {where or 'the top'}); flatten the structure",
                where or None,
                code="json_too_deep",
            )
        if isinstance(value, str):
            _check_text(value, where)
        elif isinstance(value, dict):
            for key, item in value.items():
                _check_text(key, where or "body")
                pending.append((item, f"{where}.{key}" if where else key, depth + 1))
        elif isinstance(value, list):
            pending.extend((item, f"{where}[{i}]", depth + 1) for i, item in enumerate(value))


def _check_text(text: str, where: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise bad_request(
            f"{where or 'a key of the body'} holds a lone UTF-16 surrogate at character "
            f"{exc.start} (an unpaired \\ud800-\\udfff escape); send valid Unicode text",
            where or None,
            code="invalid_unicode",
        ) from None


def _response_schema(value: Any) -> dict[str, Any] | None:
    """``response_format`` as the JSON schema the reply must match (None: free text)."""
    if value is None:
        return None
    kind = value.get("type") if isinstance(value, dict) else None
    if kind == "text":
        return None
    if kind == "json_object":
        return {"type": "object"}
    if kind == "json_schema":
        spec = value.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, dict) else None
        if not isinstance(schema, dict):
            raise bad_request(
                "response_format.json_schema.schema must be a JSON schema object",
                "response_format.json_schema.schema",
            )
        return schema
    raise bad_request(
        "'response_format' must be {'type': 'text'}, {'type': 'json_object'} or "
        "{'type': 'json_schema', 'json_schema': {'name': ..., 'schema': {...}}}",
        "response_format",
    )


def parse_chat_request(body: Any) -> ChatRequest:
    if not isinstance(body, dict):
        raise bad_request("the request body must be a JSON object")
    n = body.get("n")
    if n is None:
        n = 1
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_CHOICES:
        raise bad_request(
            f"'n' must be an integer from 1 to {MAX_CHOICES}, got {n!r}; send several requests "
            "for more choices",
            "n",
        )
    try:
        messages = normalize_messages(body.get("messages"))
    except MessageError as exc:
        raise bad_request(str(exc), exc.param) from None
    tools = _tools(body.get("tools"))
    stream = body.get("stream", False)
    if stream is None:
        stream = False
    if not isinstance(stream, bool):
        raise bad_request(f"'stream' must be a boolean, got {stream!r}", "stream")
    options = body.get("stream_options") or {}
    if not isinstance(options, dict):
        raise bad_request("'stream_options' must be an object", "stream_options")
    model = body.get("model")
    if model is not None and not isinstance(model, str):
        raise bad_request(f"'model' must be a string, got {model!r}", "model")
    seed = body.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise bad_request(f"'seed' must be an integer, got {seed!r}", "seed")
    if seed is not None and not SEED_RANGE[0] <= seed <= SEED_RANGE[1]:
        raise bad_request(
            f"'seed' must fit in a signed 64-bit integer ({SEED_RANGE[0]} to {SEED_RANGE[1]}), "
            f"got {seed}",
            "seed",
        )
    parallel = body.get("parallel_tool_calls")
    if parallel is not None and not isinstance(parallel, bool):
        raise bad_request(
            f"'parallel_tool_calls' must be a boolean, got {parallel!r}", "parallel_tool_calls"
        )
    logprobs = body.get("logprobs")
    if logprobs is not None and not isinstance(logprobs, bool):
        raise bad_request(f"'logprobs' must be a boolean, got {logprobs!r}", "logprobs")
    top_logprobs = body.get("top_logprobs")
    if top_logprobs is not None and (
        isinstance(top_logprobs, bool)
        or not isinstance(top_logprobs, int)
        or not 0 <= top_logprobs <= 20
    ):
        raise bad_request(
            f"'top_logprobs' must be an integer from 0 to 20, got {top_logprobs!r}", "top_logprobs"
        )
    if top_logprobs and not logprobs:
        raise bad_request("'top_logprobs' needs 'logprobs': true", "top_logprobs")
    max_tokens = _positive_int(body, "max_completion_tokens")
    if max_tokens is None:
        max_tokens = _positive_int(body, "max_tokens")
    return ChatRequest(
        messages=messages,
        model=model,
        tools=tools,
        tool_choice=_tool_choice(body.get("tool_choice"), tools),
        temperature=_number(body, "temperature", 0.0, 2.0),
        top_p=_number(body, "top_p", 0.0, 1.0, low_open=True),
        max_tokens=max_tokens,
        stop=_stop(body.get("stop")),
        seed=seed,
        stream=stream,
        include_usage=bool(options.get("include_usage")),
        n=n,
        parallel_tool_calls=parallel is not False,
        logprobs=bool(logprobs),
        top_logprobs=top_logprobs or 0,
        size_chars=sum(len(m.get("content") or "") for m in messages),
        response_schema=_response_schema(body.get("response_format")),
        body=body,
    )
