"""Yes/no verdicts in a model's reply: the rubric judger asks one per criterion, the tracing
reader's optional filter one per recorded conversation."""

from __future__ import annotations

import re

# Verdict words; the earliest one in the reply decides ('The answer is Yes.', 'No, it ...',
# 'The criterion is not met', 'It does meet the criterion').
VERDICT_WORDS = re.compile(r"\b(yes|no|not|meets?|met|satisfie[sd])\b", re.IGNORECASE)
NEGATIVE_WORDS = frozenset({"no", "not"})


def parse_verdict(text: str) -> bool | None:
    """True when the reply's first verdict word says met (yes, meets ...), False when it says
    not (no, not ...), None when it has none."""
    found = VERDICT_WORDS.search(text or "")
    return None if found is None else found.group(1).lower() not in NEGATIVE_WORDS
