"""The simulated patient of the learn-to-ask tutorial: it answers the doctor from a case record.

A case record is what make_data.py writes into a task's metadata: the chief complaint and the
facts the patient knows, each under a topic of :data:`TOPICS`. The patient is rule-based, like a
reluctant real patient: it answers one topic per doctor message (the first topic the message asks
about) and volunteers nothing else. A message about a topic the case has no fact for gets a plain
"no"; a message that asks about no topic at all gets a request to ask something specific. So what
the doctor learns depends only on what it asks, and the facts revealed are known exactly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# Topic -> the words that ask about it: a word-start match, so "allerg" matches "allergic" and
# "allergies". Phrases match as written. Keep them distinct: a word belongs to one topic.
TOPICS: dict[str, tuple[str, ...]] = {
    "duration": ("how long", "when did", "start", "began", "begin", "since", "duration"),
    "severity": ("how bad", "severe", "sever", "scale", "intens", "mild", "strong"),
    "fever": ("fever", "temperature", "chill", "feverish"),
    "medication": ("medic", "drug", "pill", "tablet", "treat", "taken anything", "remed"),
    "allergies": ("allerg",),
    "location": ("where", "which part", "locat", "side", "spot", "area"),
    # Not "better": doctors say "I want you to feel better" without asking anything.
    "triggers": ("worse", "trigger", "caus", "eat", "night", "morning", "relie"),
    "other_symptoms": ("other symptom", "anything else", "nause", "vomit", "dizz", "tired"),
    "history": ("before", "history", "previous", "past", "chronic", "again"),
}

# What the judge checks for each topic the case has a fact for: "Did the patient tell ...?".
TOPIC_CRITERIA: dict[str, str] = {
    "duration": "how long the problem has lasted",
    "severity": "how severe the problem is",
    "fever": "whether they have a fever",
    "medication": "what medicine they have taken",
    "allergies": "whether they have allergies",
    "location": "where exactly the problem is",
    "triggers": "what makes the problem worse or better",
    "other_symptoms": "which other symptoms they have",
    "history": "whether this has happened before",
}

NOT_UNDERSTOOD = "Sorry, I don't understand. What exactly do you want to know?"
NOTHING_TO_REPORT = "No, nothing like that."
_WORD = re.compile(r"[a-z]+")


def _matches(text: str, word_starts: list[int], keyword: str) -> int | None:
    """Where ``keyword`` first asks in ``text`` (lower case): a phrase anywhere, a single word at
    the start of a word. None when it does not occur."""
    if " " in keyword:
        found = text.find(keyword)
        return found if found >= 0 else None
    for start in word_starts:
        if text.startswith(keyword, start):
            return start
    return None


def topic_asked(question: str) -> str | None:
    """The topic the doctor's message asks about first (by position), or None."""
    text = question.lower()
    starts = [m.start() for m in _WORD.finditer(text)]
    best: tuple[int, str] | None = None
    for topic, keywords in TOPICS.items():
        for keyword in keywords:
            at = _matches(text, starts, keyword)
            if at is not None and (best is None or at < best[0]):
                best = (at, topic)
    return None if best is None else best[1]


@dataclass
class Patient:
    """One consultation's patient: ``facts`` maps topics to the answer the patient gives."""

    complaint: str
    facts: dict[str, str]
    revealed: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        unknown = sorted(set(self.facts) - set(TOPICS))
        if unknown:
            raise ValueError(
                f"case record names unknown topic(s) {unknown}; known topics: {sorted(TOPICS)} "
                "(regenerate the data with make_data.py)"
            )

    @classmethod
    def from_case(cls, case: dict) -> Patient:
        try:
            return cls(complaint=case["complaint"], facts=dict(case["facts"]))
        except (KeyError, TypeError) as exc:
            raise ValueError(
                f"task metadata is not a learn2ask case record (missing {exc}); it needs "
                '{"complaint": str, "facts": {topic: answer}} as make_data.py writes it'
            ) from None

    def answer(self, question: str) -> str:
        """The reply to one doctor message; records a newly revealed fact."""
        topic = topic_asked(question)
        if topic is None:
            return NOT_UNDERSTOOD
        if topic not in self.facts:
            return NOTHING_TO_REPORT
        if topic not in self.revealed:
            self.revealed.append(topic)
        return self.facts[topic]

    @property
    def coverage(self) -> float:
        """Share of the case's facts the doctor has found out."""
        return len(self.revealed) / len(self.facts) if self.facts else 0.0
