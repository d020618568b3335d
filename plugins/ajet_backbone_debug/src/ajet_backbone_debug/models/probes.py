"""Held-out prompts that check the tiny model learned its formats (used by tests and init-tiny)."""

from __future__ import annotations

import json
import re
from typing import Any

from ajet_backbone_debug.models.synthetic import TOOLS

TOOL_CALL = re.compile(r"<tool_call>\s*(.*?)\s*</tool_call>", re.DOTALL)
BOXED = re.compile(r"\\boxed\{(-?\d+)\}")
SCORE = re.compile(r"Score:\s*(\d+)/10")


def parse_tool_calls(text: str) -> list[dict[str, Any]]:
    """Every ``<tool_call>`` block as JSON; raises ValueError on a malformed one."""
    calls = [json.loads(body) for body in TOOL_CALL.findall(text)]
    for call in calls:
        if (
            not isinstance(call, dict)
            or not isinstance(call.get("name"), str)
            or not isinstance(call.get("arguments"), dict)
        ):
            raise ValueError(f"tool call without a name and an arguments object: {call!r}")  # noqa: TRY004 - callers catch ValueError, as for bad JSON
    return calls


# Prompts whose wording or values differ from the training data's templates.
PROBES: list[tuple[str, list[dict[str, Any]], list[dict[str, Any]] | None]] = [
    (
        "tool",
        [{"role": "user", "content": "What is the weather in Helsinki?"}],
        [TOOLS["get_weather"]],
    ),
    (
        "tool",
        [{"role": "user", "content": "Use the calculator to compute 17 * 3."}],
        [TOOLS["calculator"], TOOLS["search"]],
    ),
    (
        "tool",
        [
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": "Search the web for pasta recipes."},
        ],
        list(TOOLS.values()),
    ),
    ("boxed", [{"role": "user", "content": "What is 41 + 26?"}], None),
    ("boxed", [{"role": "user", "content": "Compute 8 * 9."}], None),
    (
        "score",
        [
            {"role": "system", "content": "You are a strict judge. Rate the answer from 0 to 10."},
            {"role": "user", "content": "Question: What is 5 + 5?\nAnswer: 10\nRate the answer."},
        ],
        None,
    ),
]


def check_reply(kind: str, text: str) -> bool:
    if kind == "tool":
        try:
            return len(parse_tool_calls(text)) >= 1
        except ValueError:
            return False
    if kind == "boxed":
        return BOXED.search(text) is not None
    return SCORE.search(text) is not None


def run_probes(model: Any, tokenizer: Any, max_new_tokens: int = 64) -> list[tuple[str, str, bool]]:
    """Greedy replies to :data:`PROBES` with plain ``model.generate``: (kind, reply, ok)."""
    import torch

    results = []
    for kind, messages, tools in PROBES:
        ids = tokenizer.apply_chat_template(
            messages, tools=tools, add_generation_prompt=True, return_dict=False
        )
        with torch.no_grad():
            out = model.generate(
                torch.tensor([ids]), max_new_tokens=max_new_tokens, do_sample=False
            )
        text = tokenizer.decode(out[0, len(ids) :], skip_special_tokens=True)
        results.append((kind, text, check_reply(kind, text)))
    return results
