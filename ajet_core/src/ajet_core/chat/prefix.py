"""Prefix reuse: a request that extends an earlier call is never re-tokenized (DESIGN section 6).

When a request's messages are an earlier call's messages followed by that call's reply (and then
new messages), its prompt ids are::

    earlier prompt ids + earlier response ids (sampled, plus any closing added at mask 0)
    + encode(tail + delta)

where ``delta = render(all messages) - render(earlier messages + reply, turn closed)`` and
``tail`` is what the template writes after the end-of-turn token the model sampled (ChatML's
newline after ``<|im_end|>``). The prompt therefore holds exactly the tokens the policy produced,
not a re-tokenization of their text, which could differ (BPE merges, re-serialised tool-call
JSON, stripped ``<think>`` blocks).

Within an episode, an agent whose messages continue another agent's reply (one message list
shared by two agents) reuses that agent's tokens the same way, when the reuse is clean.

Reuse is only taken when it is provably consistent with the template; otherwise the prompt is the
plain render and the fallback is reported with a reason (drift diagnostics). Reasons:

- ``reply_mismatch``: the assistant message after the earlier messages is not the reply the
  gateway returned (different text, or tool calls that match neither by gateway-issued id nor by
  canonical JSON).
- ``tools_changed``: the request's tools differ from the earlier call's.
- ``history_rendered_differently``: rendering the earlier messages no longer gives the earlier
  prompt text (e.g. a template that rewrites history as the conversation grows).
- ``turn_not_closed``: the template does not end the reply's turn with its end-of-turn text.
- ``delta_not_suffix``: render(all) does not start with render(earlier + reply), so there is no
  delta to append (e.g. templates that strip earlier ``<think>`` blocks or inject text).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ajet_core.chat.messages import canonical_message, canonical_tool_calls, canonical_tools
from ajet_core.chat.render import ChatRenderer

# How many calls with the same messages (retries of one prompt) are remembered for matching.
SAME_PROMPT_CALLS_KEPT = 16


@dataclass
class PromptPlan:
    """How one request's prompt was built."""

    prompt_ids: list[int]
    prompt_text: str  # the plain render of the request (kept for the next call's checks)
    parent_call_id: str | None = None  # the call whose tokens this prompt extends
    reused_tokens: int = 0  # how many leading ids are that call's prompt + response
    fallback_reason: str | None = None  # set when reuse was possible in principle but refused


@dataclass
class _PastCall:
    call_id: str
    canon: list[tuple]
    tools_canon: str
    prompt_text: str
    prompt_ids: list[int]
    response_ids: list[int]  # sampled ids plus the closing the gateway added (mask 0)
    tail_text: str  # template text after the sampled end-of-turn token, owed to the next prompt
    reply_content: str
    reply_call_ids: list[str] = field(default_factory=list)
    reply_calls_canon: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class ReplyClosing:
    """How a reply's turn is closed in the token stream."""

    closing_ids: list[int]  # appended to the response at mask 0 (empty when the model closed it)
    tail_text: str  # template text the next prompt starts with


class PromptBuilder:
    """Builds prompts for one agent of one episode and remembers its calls."""

    def __init__(self, renderer: ChatRenderer) -> None:
        self.renderer = renderer
        # Past calls by the rolling hash of their message list: finding the earlier calls a
        # request extends costs one dict lookup per message, however many calls came before.
        # Each bucket keeps the latest calls with that exact message list (retries, forks).
        self._by_messages: dict[int, deque[_PastCall]] = {}

    def build(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]] | None,
        others: Sequence[PromptBuilder] = (),
    ) -> PromptPlan:
        """The prompt for ``messages``: an extension of this agent's earlier call when there is
        one, else of another agent's (``others``: the same episode's other agents, whose replies
        a shared message list may continue), else the plain render.

        Another agent's call is only taken when reuse is clean: a conversation that is not an
        extension of that agent's reply is this agent's own branch, not drift.
        """
        renderer = self.renderer
        full_text = renderer.render_text(messages, tools, add_generation_prompt=True)
        own = self._extend(messages, tools, full_text)
        best = own if own is not None and own.fallback_reason is None else None
        for other in others:
            shared = other._extend(messages, tools, full_text)
            if shared is None or shared.fallback_reason is not None:
                continue
            if best is None or shared.reused_tokens > best.reused_tokens:
                best = shared
        if best is not None:
            return best
        if own is not None:
            return own  # this agent's reuse was refused: a drift fallback with its reason
        return PromptPlan(renderer.encode_prompt(full_text), full_text)

    def _extend(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None, full_text: str
    ) -> PromptPlan | None:
        """Reuse of one of this builder's calls: a plan with a parent, a plain plan with the
        reason reuse was refused, or None when no call of this builder is extended."""
        renderer = self.renderer
        canon = [canonical_message(m) for m in messages]
        candidates: list[_PastCall] = []
        hashes = _prefix_hashes(canon)
        for length in range(len(canon) - 1, 0, -1):
            found = list(self._by_messages.get(hashes[length - 1], ()))
            candidates = [p for p in found if len(p.canon) == length and p.canon == canon[:length]]
            if candidates:
                break
        if not candidates:
            return None
        longest = len(candidates[0].canon)
        # Most recent first: a retry of the same prompt is matched by its own reply.
        candidates.reverse()
        next_message = messages[longest]
        if next_message["role"] != "assistant":
            # A new branch from the earlier prompt (e.g. a retry with a new user turn): not an
            # extension of the earlier reply, so plain rendering is the right prompt.
            return None
        past = next((p for p in candidates if _reply_matches(p, next_message)), None)
        reason = None
        if past is None:
            reason = "reply_mismatch"
        elif past.tools_canon != canonical_tools(tools):
            reason = "tools_changed"
        else:
            prefix_text = renderer.render_text(
                messages[: longest + 1], tools, add_generation_prompt=False
            )
            if not prefix_text.startswith(past.prompt_text):
                reason = "history_rendered_differently"
            elif not prefix_text.endswith(renderer.facts.turn_close_text):
                reason = "turn_not_closed"
            elif not full_text.startswith(prefix_text):
                reason = "delta_not_suffix"
            else:
                delta_ids = renderer.encode(past.tail_text + full_text[len(prefix_text) :])
                prompt_ids = past.prompt_ids + past.response_ids + delta_ids
                reused = len(past.prompt_ids) + len(past.response_ids)
                return PromptPlan(prompt_ids, full_text, past.call_id, reused_tokens=reused)
        return PromptPlan(renderer.encode_prompt(full_text), full_text, fallback_reason=reason)

    def close_reply(self, sampled_ids: list[int]) -> ReplyClosing:
        """What closes a reply's turn: nothing when the model sampled the end-of-turn token,
        the template's end-of-turn tokens (trained at mask 0) when it was cut off or stopped on a
        stop string."""
        facts = self.renderer.facts
        if sampled_ids:
            last_text = self.renderer.decode(sampled_ids[-1:])
            if (
                sampled_ids[-1] in facts.stop_token_ids
                and last_text
                and facts.turn_close_text.startswith(last_text)
            ):
                return ReplyClosing([], facts.turn_close_text[len(last_text) :])
        return ReplyClosing(list(facts.end_of_turn_ids), "")

    def remember(
        self,
        call_id: str,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]] | None,
        plan: PromptPlan,
        response_ids: list[int],
        closing: ReplyClosing,
        reply: dict[str, Any],
    ) -> None:
        canon = [canonical_message(m) for m in messages]
        self._by_messages.setdefault(
            _prefix_hashes(canon)[-1], deque(maxlen=SAME_PROMPT_CALLS_KEPT)
        ).append(
            _PastCall(
                call_id=call_id,
                canon=canon,
                tools_canon=canonical_tools(tools),
                prompt_text=plan.prompt_text,
                prompt_ids=plan.prompt_ids,
                response_ids=response_ids,
                tail_text=closing.tail_text,
                reply_content=(reply.get("content") or "").strip(),
                reply_call_ids=[c["id"] for c in reply.get("tool_calls") or []],
                reply_calls_canon=canonical_tool_calls(reply.get("tool_calls")),
            )
        )


def _prefix_hashes(canon: list[tuple]) -> list[int]:
    """hashes[k] identifies canon[: k + 1] (equality is still checked on a hit)."""
    hashes, current = [], 0
    for message in canon:
        current = hash((current, message))
        hashes.append(current)
    return hashes


def _reply_matches(past: _PastCall, message: dict[str, Any]) -> bool:
    sent_calls = message.get("tool_calls") or []
    content = (message.get("content") or "").strip()
    if past.reply_call_ids:
        by_id = bool(sent_calls) and [c.get("id") for c in sent_calls] == past.reply_call_ids
        by_json = canonical_tool_calls(sent_calls) == past.reply_calls_canon
        # Frameworks often drop the text that accompanied tool calls.
        return (by_id or by_json) and content in ("", past.reply_content)
    return not sent_calls and content == past.reply_content
