"""A judger with mixed rewards for the tiny model's random replies: the share of digits in the
answer. Every group of four replies gets different rewards, so every step trains."""

from __future__ import annotations

from ajet_core.judging import Judger, JudgeResult
from ajet_core.schema import Task
from ajet_core.workflow import WorkflowOutput


class DigitShareJudger(Judger):
    def judge(self, task: Task, output: WorkflowOutput) -> JudgeResult:
        answer = str(output.metadata.get("final_answer", ""))
        share = sum(c.isdigit() for c in answer) / max(1, len(answer))
        return JudgeResult(reward=share + 0.01 * len(answer), is_success=share > 0.5)
