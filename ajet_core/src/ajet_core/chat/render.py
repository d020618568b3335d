"""Render chat messages with the engine tokenizer's own chat template.

Rendering goes through the template as text and is then encoded without adding special tokens:
exactly what ``apply_chat_template(tokenize=True)`` does, but the text is kept so the prefix
logic can compare renders as strings (token boundaries never cut a string comparison in half).

A few facts about the template are probed once, by rendering tiny conversations:

- ``turn_close_text``: what the template writes after an assistant reply's content
  (``<|im_end|>\\n`` for ChatML). Its first token is the end-of-turn token the model samples; the
  rest (the newline) is template text that belongs to the *next* prompt.
- whether the template renders ``tools`` and assistant ``tool_calls`` at all; when it does not, a
  Hermes-style default is used (tools listed in the system turn, calls as ``<tool_call>`` JSON).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ajet_core.chat.messages import canonical_json

_PROBE_REPLY = "AJET-PROBE-REPLY-7f3a"
PROBE_CALL_NAME = "ajet_probe_call_9d2b"
_PROBE_TOOL = {
    "type": "function",
    "function": {
        "name": "ajet_probe_tool_5c1e",
        "description": "probe",
        "parameters": {"type": "object", "properties": {}},
    },
}

HERMES_TOOLS_PREAMBLE = (
    "# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
    "You are provided with function signatures within <tools></tools> XML tags:\n<tools>\n"
)
HERMES_TOOLS_POSTAMBLE = (
    "</tools>\n\nFor each function call, return a json object with function name and arguments "
    "within <tool_call></tool_call> XML tags:\n<tool_call>\n"
    '{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call>'
)


# Texts longer than this are encoded without holding the GIL (see ChatRenderer.encode).
GIL_FREE_ENCODE_CHARS = 64 * 1024
# Rendered prompts whose ids are remembered (a few hundred KB of text at typical sizes).
PROMPT_CACHE_SIZE = 512


class TemplateError(RuntimeError):
    """The tokenizer's chat template failed to render a conversation."""


@dataclass(frozen=True)
class TemplateFacts:
    turn_close_text: str
    end_of_turn_ids: tuple[int, ...]  # token ids of turn_close_text
    stop_token_ids: tuple[int, ...]  # tokens that end a reply (EOS, the end-of-turn token)
    renders_tools: bool
    renders_tool_calls: bool


class ChatRenderer:
    """Messages -> text -> ids with one tokenizer's chat template."""

    def __init__(self, tokenizer: Any) -> None:
        if not getattr(tokenizer, "chat_template", None):
            raise TemplateError(
                f"tokenizer {type(tokenizer).__name__} has no chat_template; the gateway renders "
                "prompts with the model's own template. Use an instruct/chat model or set "
                "tokenizer.chat_template"
            )
        self.tokenizer = tokenizer
        self._fast_render = None
        self._backend = None
        self._prompt_cache: dict[str, list[int]] = {}
        self.facts = self._probe()
        self._fast_render = self._compile_fast_path()
        self._backend = self._fast_encoder()

    # ------------------------------------------------------------------------------ rendering

    def render_text(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]] | None,
        *,
        add_generation_prompt: bool,
    ) -> str:
        messages, tools = self._adapt_for_template(messages, tools)
        if self._fast_render is not None:
            try:
                return self._fast_render(messages, tools or None, add_generation_prompt)
            except Exception as exc:  # noqa: BLE001 - jinja errors vary per template
                raise TemplateError(
                    f"the model's chat template rejected the conversation: {exc}"
                ) from exc
        try:
            return self.tokenizer.apply_chat_template(
                messages,
                tools=tools or None,
                add_generation_prompt=add_generation_prompt,
                tokenize=False,
            )
        except Exception as exc:  # jinja raises TemplateError, TypeError, ... per template
            raise TemplateError(
                f"the model's chat template rejected the conversation: {exc}"
            ) from exc

    def encode(self, text: str) -> list[int]:
        if not text:
            return []
        if self._backend is not None:
            if len(text) > GIL_FREE_ENCODE_CHARS:
                # The Rust tokenizer holds the GIL in `encode` (about 1 s per MB) but releases
                # it in `encode_batch`: a huge prompt must not freeze every other thread.
                return self._backend.encode_batch([text], add_special_tokens=False)[0].ids
            return self._backend.encode(text, add_special_tokens=False).ids
        return list(self.tokenizer.encode(text, add_special_tokens=False))

    def _fast_encoder(self) -> Any:
        """The Rust tokenizer behind a fast HF tokenizer: ``tokenizer.encode`` goes through a
        batch path with Python bookkeeping that costs more than the encoding itself. Used only
        when it encodes probe texts exactly as ``tokenizer.encode`` does."""
        backend = getattr(self.tokenizer, "backend_tokenizer", None)
        if backend is None:
            return None
        probes = [
            self.facts.turn_close_text + "<|im_start|>user\nhi there, 12 + 30?\n",
            " spaced  text\n\n",
            '<tool_call>\n{"name": "f", "arguments": {}}\n</tool_call>',
            "héllo wörld ✓",
        ]
        try:
            for text in probes:
                if backend.encode(text, add_special_tokens=False).ids != list(
                    self.tokenizer.encode(text, add_special_tokens=False)
                ):
                    return None
        except Exception:  # noqa: BLE001
            return None
        return backend

    def decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=False)

    def render_ids(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None
    ) -> tuple[str, list[int]]:
        text = self.render_text(messages, tools, add_generation_prompt=True)
        return text, self.encode_prompt(text)

    def encode_prompt(self, text: str) -> list[int]:
        """Encode a whole rendered prompt, remembering recent ones: the draws of a GRPO group
        (and every episode of a task) start from the same prompt text."""
        ids = self._prompt_cache.get(text)
        if ids is None:
            ids = self.encode(text)
            if len(self._prompt_cache) >= PROMPT_CACHE_SIZE:
                self._prompt_cache.pop(next(iter(self._prompt_cache)))  # oldest first
            self._prompt_cache[text] = ids
        return list(ids)

    # ------------------------------------------------------------------- template adaptation

    def _adapt_for_template(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]] | None]:
        facts = getattr(self, "facts", None)
        if facts is None:  # while probing
            return messages, tools
        if tools and not facts.renders_tools:
            messages = _with_hermes_tools(messages, tools)
            tools = None
        if not facts.renders_tool_calls and any(m.get("tool_calls") for m in messages):
            messages = [_tool_calls_as_text(m) if m.get("tool_calls") else m for m in messages]
        return messages, tools

    def _compile_fast_path(self) -> Any:
        """Render with transformers' compiled template directly, skipping apply_chat_template's
        per-call copying and normalising (about half the cost of a render, and the gateway
        renders twice per reused call). Our messages are already plain normalised dicts. Used
        only when it renders the probe conversations exactly as apply_chat_template does."""
        template = self.tokenizer.chat_template
        if not isinstance(template, str):
            return None  # several named templates: let transformers pick one
        try:
            from transformers.utils.chat_template_utils import _compile_jinja_template

            compiled = _compile_jinja_template(template)
        except Exception:  # noqa: BLE001 - an older/newer transformers: use the public API
            return None
        # Template.render merges the template's globals (a ChainMap) into a new dict on every
        # call; merging them once and rendering in a shared context gives the same result.
        base = {**dict(compiled.globals), **self.tokenizer.special_tokens_map, "documents": None}
        environment = compiled.environment

        def render(
            messages: list[dict[str, Any]],
            tools: list[dict[str, Any]] | None,
            add_generation_prompt: bool,
        ) -> str:
            variables = {
                **base,
                "messages": messages,
                "tools": tools,
                "add_generation_prompt": add_generation_prompt,
            }
            return environment.concat(
                compiled.root_render_func(compiled.new_context(variables, shared=True))
            )

        for messages, tools, add in _fast_path_checks():
            try:
                slow = self.tokenizer.apply_chat_template(
                    messages, tools=tools, add_generation_prompt=add, tokenize=False
                )
                if render(messages, tools, add) != slow:
                    return None
            except Exception:  # noqa: BLE001
                return None
        return render

    # --------------------------------------------------------------------------------- probes

    def _probe(self) -> TemplateFacts:
        user = {"role": "user", "content": "hi"}
        reply = {"role": "assistant", "content": _PROBE_REPLY}
        closed = self.render_text([user, reply], None, add_generation_prompt=False)
        at = closed.rfind(_PROBE_REPLY)
        if at < 0:
            raise TemplateError("the chat template does not render assistant replies")
        turn_close_text = closed[at + len(_PROBE_REPLY) :]
        end_of_turn_ids = tuple(self.encode(turn_close_text))
        stop_ids = set()
        eos = getattr(self.tokenizer, "eos_token_id", None)
        if isinstance(eos, int):
            stop_ids.add(eos)
        if end_of_turn_ids and end_of_turn_ids[0] in set(
            getattr(self.tokenizer, "all_special_ids", [])
        ):
            stop_ids.add(end_of_turn_ids[0])
        renders_tools = False
        try:
            with_tools = self.render_text([user], [_PROBE_TOOL], add_generation_prompt=True)
            renders_tools = "ajet_probe_tool_5c1e" in with_tools
        except TemplateError:
            pass
        renders_tool_calls = False
        call = _probe_call({})
        try:
            rendered = self.render_text([user, call], None, add_generation_prompt=False)
            renders_tool_calls = PROBE_CALL_NAME in rendered
        except TemplateError:
            pass
        return TemplateFacts(
            turn_close_text=turn_close_text,
            end_of_turn_ids=end_of_turn_ids,
            stop_token_ids=tuple(sorted(stop_ids)),
            renders_tools=renders_tools,
            renders_tool_calls=renders_tool_calls,
        )


def _probe_call(arguments: dict[str, Any]) -> dict[str, Any]:
    """An assistant message with one tool call, whose name shows where a template renders it."""
    return {
        "role": "assistant",
        "content": "",
        "tool_calls": [
            {
                "id": "c1",
                "type": "function",
                "function": {"name": PROBE_CALL_NAME, "arguments": arguments},
            }
        ],
    }


def _fast_path_checks() -> list[tuple[list[dict[str, Any]], list[dict[str, Any]] | None, bool]]:
    user = {"role": "user", "content": "hi"}
    call = _probe_call({"x": 1})
    tool = {"role": "tool", "tool_call_id": "c1", "content": "42"}
    system = {"role": "system", "content": "sys"}
    return [
        ([user], None, True),
        ([system, user, {"role": "assistant", "content": "yo"}], None, False),
        ([system, user, call, tool], [_PROBE_TOOL], True),
        ([user, call, tool], [_PROBE_TOOL], False),
    ]


def _with_hermes_tools(
    messages: list[dict[str, Any]], tools: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    block = HERMES_TOOLS_PREAMBLE + "".join(json.dumps(t, ensure_ascii=False) + "\n" for t in tools)
    block += HERMES_TOOLS_POSTAMBLE
    if messages and messages[0]["role"] == "system":
        first = dict(messages[0], content=(messages[0]["content"] + "\n\n" + block).strip())
        return [first, *messages[1:]]
    return [{"role": "system", "content": block}, *messages]


def _tool_calls_as_text(message: dict[str, Any]) -> dict[str, Any]:
    calls = []
    for call in message["tool_calls"]:
        function = call["function"]
        payload = {"name": function["name"], "arguments": function.get("arguments")}
        calls.append("<tool_call>\n" + json.dumps(payload, ensure_ascii=False) + "\n</tool_call>")
    content = "\n".join(filter(None, [message.get("content", ""), *calls]))
    return {k: v for k, v in message.items() if k != "tool_calls"} | {"content": content}


__all__ = ["ChatRenderer", "TemplateError", "TemplateFacts", "canonical_json"]
