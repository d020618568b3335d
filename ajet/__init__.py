"""The ``ajet`` import package: AgentJet's public API under the name AgentJet users import.

``from ajet import AjetTuner, Workflow, WorkflowOutput, WorkflowTask, AgentJetJob`` works
unchanged; the names resolve lazily (to :mod:`ajet_core`, and :mod:`ajet.copilot.job`) so
importing ``ajet`` stays cheap.
"""

from __future__ import annotations

from typing import Any

import ajet_core

__version__ = "0.1.0"
__all__ = [*ajet_core.__all__, "AgentJetJob", "bp"]


def __getattr__(name: str) -> Any:
    if name == "AgentJetJob":
        # AgentJet's job builder (ajet.copilot.job), imported on first use.
        from ajet.copilot.job import AgentJetJob

        return AgentJetJob
    if name == "bp":
        from ajet.debugging import bp

        return bp
    return getattr(ajet_core, name)


def __dir__() -> list[str]:
    return sorted([*globals(), *ajet_core.__all__])
