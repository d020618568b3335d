"""``per_call``: one training sample per trainable LLM call (the baseline merging is measured
against, and what a trainer gets when merging is switched off)."""

from __future__ import annotations

from ajet_core.schema import LlmCall
from ajet_core.tracking.base import Tracker


class PerCallTracker(Tracker):
    name = "per_call"

    def chains(self, calls: list[LlmCall]) -> list[list[LlmCall]]:
        return [[call] for call in calls]
