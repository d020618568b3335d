"""Chat rendering for token capture: messages -> prompt ids with the engine tokenizer's own chat
template, and prefix reuse so a multi-turn conversation is never re-tokenized (DESIGN section 6).
"""

from ajet_core.chat.messages import canonical_tool_calls, normalize_messages
from ajet_core.chat.prefix import PromptBuilder, PromptPlan
from ajet_core.chat.render import ChatRenderer

__all__ = [
    "ChatRenderer",
    "PromptBuilder",
    "PromptPlan",
    "canonical_tool_calls",
    "normalize_messages",
]
