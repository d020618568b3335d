"""Reading the workflow's answer and the task's reference, with errors that say how to fix them."""

from __future__ import annotations

from typing import Any

from ajet_core.schema import Task
from ajet_core.workflow import WorkflowOutput

_MISSING = object()


class JudgeInputError(ValueError):
    """The episode lacks what the judger needs: an error for that episode, never a silent zero."""


def answer_text(output: WorkflowOutput, key: str, judger: str) -> str:
    if key not in output.metadata:
        raise JudgeInputError(
            f"{judger}: the workflow's output has no metadata[{key!r}] (it has: "
            f"{', '.join(sorted(output.metadata)) or 'nothing'}); return "
            f"WorkflowOutput(metadata={{{key!r}: answer}}) or set judger.answer_key"
        )
    value = output.metadata[key]
    return value if isinstance(value, str) else ("" if value is None else str(value))


def reference_value(task: Task, key: str, judger: str, output: WorkflowOutput | None = None) -> Any:
    """``task.metadata[key]``; AgentJet workflows sometimes pass references in the output's
    metadata instead, so that is the fallback."""
    value = task.metadata.get(key, _MISSING)
    if value is _MISSING and output is not None:
        value = output.metadata.get(key, _MISSING)
    if value is _MISSING or value is None:
        raise JudgeInputError(
            f"{judger}: task {task.task_id!r} has no metadata[{key!r}] (it has: "
            f"{', '.join(sorted(task.metadata)) or 'nothing'}); set judger.{_option_for(key)} to "
            "the field holding the reference, or add it to the data"
        )
    return value


def _option_for(key: str) -> str:
    return {"target": "target_key", "nums": "numbers_key"}.get(key, "reference_key")
