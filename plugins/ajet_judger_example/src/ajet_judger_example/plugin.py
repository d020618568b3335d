"""Entry point of ajet-judger-example: one registration, no imports beyond the hook marker.

The judger class is named by dotted path, so ``ajet plugins list`` never imports it.
"""

from __future__ import annotations

from ajet_core.hookspecs import hookimpl


@hookimpl
def ajet_register_judgers(registry):
    registry.add(
        "keyword_coverage",
        "ajet_judger_example.judger:KeywordCoverageJudger",
        description="share of the task's required keywords present in the answer",
    )
