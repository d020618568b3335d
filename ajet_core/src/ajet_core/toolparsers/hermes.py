"""Hermes-style tool calls: ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>`` blocks.

Used by Qwen2/2.5/3, Hermes and SmolLM2 chat templates. Text outside the blocks is the reply's
content. A block that is not closed, not JSON, or lacks a string ``name`` makes the whole reply
plain content (``malformed=True``): the workflow sees what the model wrote, and the gateway
counts it, instead of guessing a call the model did not make.
"""

from __future__ import annotations

import json
import re

from ajet_core.toolparsers.base import ParsedReply, ParsedToolCall, ToolParser

_BLOCK = re.compile(r"<tool_call>(.*?)</tool_call>", re.DOTALL)
START = "<tool_call>"


class HermesToolParser(ToolParser):
    name = "hermes"
    start_marker = START
    end_marker = "</tool_call>"

    def forced_call_prefix(self, tool_name: str | None) -> str | None:
        # The layout Hermes/Qwen templates render tool calls in, up to where the model must
        # choose: the arguments of the named tool, or the name itself. It stops before the space
        # after the colon: byte-level BPE merges that space into the next token (' {"'), and a
        # lone space token would be text the model never saw there.
        if tool_name is None:
            return START + '\n{"name": "'
        return START + '\n{"name": ' + json.dumps(tool_name) + ', "arguments":'

    def parse(self, text: str) -> ParsedReply:
        if START not in text:
            return ParsedReply(content=text)
        calls: list[ParsedToolCall] = []
        for match in _BLOCK.finditer(text):
            body = match.group(1).strip()
            try:
                payload = json.loads(body)
            except ValueError as exc:
                return _malformed(text, f"tool call is not JSON ({exc.msg} at char {exc.pos})")
            if not isinstance(payload, dict) or not isinstance(payload.get("name"), str):
                return _malformed(text, "tool call JSON has no string 'name'")
            arguments = payload.get("arguments", payload.get("parameters", {}))
            if isinstance(arguments, str):
                try:
                    arguments = json.loads(arguments)
                except ValueError:
                    return _malformed(text, "tool call 'arguments' is a string that is not JSON")
            if not isinstance(arguments, dict):
                return _malformed(text, "tool call 'arguments' is not a JSON object")
            calls.append(ParsedToolCall(payload["name"], json.dumps(arguments, ensure_ascii=False)))
        remainder = _BLOCK.sub("", text)
        if START in remainder:
            return _malformed(text, "a <tool_call> block is not closed")
        return ParsedReply(content=remainder.strip(), tool_calls=calls)


def _malformed(text: str, problem: str) -> ParsedReply:
    return ParsedReply(content=text, malformed=True, problem=problem)
