"""The tool-parser interface."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ParsedToolCall:
    name: str
    arguments: str  # a JSON object, serialised (OpenAI sends arguments as a string)


@dataclass
class ParsedReply:
    content: str
    tool_calls: list[ParsedToolCall] = field(default_factory=list)
    # True when the text looked like a tool call but could not be parsed; the reply then carries
    # the whole text as plain content and the gateway counts it.
    malformed: bool = False
    problem: str | None = None


class ToolParser:
    """Turns a generated reply's text into content and tool calls.

    ``start_marker`` lets the streaming path hold back text that may open a tool call;
    ``end_marker`` (what closes one call) lets the gateway end a reply after its first call
    when a request sets ``parallel_tool_calls: false``.
    """

    name: str = ""
    start_marker: str = ""
    end_marker: str = ""

    def parse(self, text: str) -> ParsedReply:  # pragma: no cover - interface
        raise NotImplementedError

    def forced_call_prefix(self, tool_name: str | None) -> str | None:
        """Text that opens a call to ``tool_name`` (any tool when None), written into the reply
        before the model continues, so ``tool_choice`` naming a function (or ``required``) is
        honoured. None: this format cannot be forced (the choice is then only a hint)."""
        return None
