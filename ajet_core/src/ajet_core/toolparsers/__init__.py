"""Tool-call parsers: generated text -> OpenAI ``tool_calls`` (registered as plugins)."""

from ajet_core.toolparsers.base import ParsedReply, ParsedToolCall, ToolParser

__all__ = ["ParsedReply", "ParsedToolCall", "ToolParser"]
