"""Structured output: the :class:`~ajet_core.engine.OutputConstraint` a request asks for.

- ``response_format`` json_schema / json_object: the reply is one JSON value of the schema; when
  the request also offers tools (and ``tool_choice`` is not ``none``), the reply is that JSON
  *or* tool calls whose arguments match each tool's parameters.
- a forced tool call (``tool_choice`` naming a function, or ``required``): after the opening the
  gateway writes, the model's continuation must complete a call whose arguments match the
  tool's parameters, then end.
- tools marked ``strict: true`` (auto choice): the reply is free text without a call marker, or
  calls whose arguments match.

Tool calls are written in the tool parser's Hermes layout
(``<tool_call>\\n{"name": ..., "arguments": ...}\\n</tool_call>``); with another parser only
``response_format`` without tools is enforced. Grammars are Lark in llguidance's dialect (vLLM's
``guidance`` backend takes the same text): markers that are single added tokens are written as
token references, ``<[id]>``.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ajet_core.engine import COMPACT_JSON, OutputConstraint

if TYPE_CHECKING:  # pragma: no cover
    from ajet_core.chat.render import ChatRenderer
    from ajet_core.gateway.request import ChatRequest
    from ajet_core.toolparsers.base import ToolParser

ANY_OBJECT = {"type": "object"}


def output_constraint(
    request: ChatRequest, tool_parser: ToolParser, renderer: ChatRenderer
) -> OutputConstraint | None:
    hermes = tool_parser.name == "hermes"
    tools = request.tools if request.parse_tools and hermes else None
    choice = request.tool_choice
    if tools and choice not in (None, "auto"):
        return OutputConstraint(lark=_forced_call(request, tools, renderer, tool_parser))
    schema = request.response_schema
    if schema is not None and not tools:
        return OutputConstraint(json_schema=schema)
    if schema is not None:
        grammar = _calls_rules(request, tools, renderer, tool_parser)
        return OutputConstraint(
            lark="start: answer | calls\nanswer: %json" + _json(schema) + grammar
        )
    if tools and any(_strict(tool) for tool in tools):
        start = _literal(tool_parser.start_marker, renderer)
        text = (
            "TEXT: /(?s:.*)/"
            if start.startswith("<[")  # a special token: no text can spell it
            else "TEXT: /(?s:.*)/ & ~/(?s:.*" + _regex_escape(tool_parser.start_marker) + ".*)/"
        )
        grammar = _calls_rules(request, tools, renderer, tool_parser)
        return OutputConstraint(lark="start: TEXT | calls\n" + text + grammar)
    return None


def _strict(tool: dict[str, Any]) -> bool:
    return bool(tool.get("strict") or tool["function"].get("strict"))


def _parameters(tool: dict[str, Any]) -> dict[str, Any]:
    return tool["function"].get("parameters") or ANY_OBJECT


def _json(schema: dict[str, Any]) -> str:
    """A schema for llguidance's ``%json``, which reads its options from ``x-guidance``."""
    return json.dumps({**schema, "x-guidance": COMPACT_JSON}, ensure_ascii=False)


def _quoted(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def _literal(marker: str, renderer: ChatRenderer) -> str:
    """A marker as grammar: a token reference when the tokenizer has it as one added token."""
    added = renderer.tokenizer.get_added_vocab()
    if marker in added:
        return f"<[{added[marker]}]>"
    return _quoted(marker)


def _regex_escape(text: str) -> str:
    return "".join("\\" + c if not c.isalnum() else c for c in text)


def _call_body(tool: dict[str, Any]) -> str:
    """The call's JSON after ``{"name": `` up to its closing brace."""
    name = tool["function"]["name"]
    return _quoted(json.dumps(name) + ', "arguments": ') + " %json" + _json(_parameters(tool))


def _calls_rules(
    request: ChatRequest, tools: list[dict[str, Any]], renderer: ChatRenderer, parser: ToolParser
) -> str:
    start = _literal(parser.start_marker, renderer)
    end = _literal(parser.end_marker, renderer)
    alternatives = " | ".join(f"call_{i}" for i in range(len(tools)))
    repeat = "" if not request.parallel_tool_calls else ' ("\\n" call)*'
    rules = [f"\ncalls: call{repeat}", f"call: {start} " + _quoted('\n{"name": ') + " body"]
    rules.append(f"body: {alternatives}")
    for index, tool in enumerate(tools):
        rules.append(f"call_{index}: " + _call_body(tool) + " " + _quoted("}\n") + f" {end}")
    return "\n".join(rules) + "\n"


def _forced_call(
    request: ChatRequest, tools: list[dict[str, Any]], renderer: ChatRenderer, parser: ToolParser
) -> str:
    """The rest of a forced call, after the opening the gateway wrote (``forced_call_prefix``)."""
    end = _literal(parser.end_marker, renderer)
    close = " " + _quoted("}\n") + f" {end}\n"
    choice = request.tool_choice
    if isinstance(choice, dict):
        [tool] = [t for t in tools if t["function"]["name"] == choice["function"]["name"]]
        # The opening ends with '"arguments":'; the model writes ' {...}' and the close.
        return "start: " + _quoted(" ") + " %json" + _json(_parameters(tool)) + close
    # required: the opening ends with '{"name": "'; the model picks the tool.
    rules = ["start: " + " | ".join(f"call_{i}" for i in range(len(tools)))]
    for index, tool in enumerate(tools):
        name = tool["function"]["name"]
        rest = _quoted(json.dumps(name)[1:] + ', "arguments": ')
        rules.append(f"call_{index}: {rest} %json" + _json(_parameters(tool)) + close.rstrip("\n"))
    return "\n".join(rules) + "\n"
