"""Pulling a final answer out of model text: the last ``\\boxed{...}`` or a configured pattern."""

from __future__ import annotations

import re

BOXED_MARKERS = ("\\boxed", "\\fbox")


def last_boxed(text: str) -> str | None:
    """Contents of the last ``\\boxed{...}`` (nested braces allowed), or None when there is none."""
    start = -1
    for marker in BOXED_MARKERS:
        start = max(start, text.rfind(marker + "{"))
    if start < 0:
        return None
    open_at = text.index("{", start)
    depth = 0
    for position in range(open_at, len(text)):
        char = text[position]
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return text[open_at + 1 : position].strip()
    return None  # unbalanced: the reply was cut off inside the box


def extract_answer(text: str, pattern: str | None) -> str | None:
    """The answer in ``text``: the last match of ``pattern`` (its first group, if any), or the
    last ``\\boxed{}`` when no pattern is given."""
    if pattern is None:
        return last_boxed(text)
    matches = list(re.finditer(pattern, text, flags=re.DOTALL))
    if not matches:
        return None
    last = matches[-1]
    return (last.group(1) if last.groups() else last.group(0)).strip()


def compile_answer_pattern(pattern: str | None) -> str | None:
    """Validate a user's answer pattern early, so a typo is a config error, not an episode error."""
    if pattern is not None:
        try:
            compiled = re.compile(pattern)
        except re.error as exc:
            raise ValueError(
                f"answer_pattern {pattern!r} is not a valid regular expression: {exc}"
            ) from None
        if compiled.groups > 1:
            raise ValueError(
                f"answer_pattern {pattern!r} has {compiled.groups} groups; use one group around "
                "the answer, and (?:...) for the others"
            )
    return pattern
