"""AgentJet's judge base class, so AgentJet judges run unchanged.

An AgentJet judge implements ``compute_reward(workflow_task, workflow_output)`` and returns
``(reward, is_success)``. Here it is an ordinary :class:`ajet_core.judging.Judger`: selected by
``judger.type: my_judge.py:MyJudge`` (or AgentJet's ``task_judge.judge_protocol: module->Class``,
which the config loader translates), run off the event loop, its failures counted like any
judger's.
"""

from __future__ import annotations

from typing import Any

from ajet_core.judging import Judger, JudgeResult
from ajet_core.schema import Task
from ajet_core.workflow import WorkflowOutput, WorkflowTask


class BaseJudge(Judger):
    # AgentJet judges keep what they are given as their own ``self.config`` (their __init__
    # usually does ``self.config = config``): a plain attribute here, not the deprecated alias
    # of ``self.options`` that other judgers have.
    config: Any = None

    def __init__(self, config: Any = None) -> None:
        super().__init__(config)
        self.config = config

    def compute_reward(self, workflow_task: WorkflowTask, workflow_output: WorkflowOutput) -> tuple:
        raise NotImplementedError(f"{type(self).__name__} must implement compute_reward()")

    def judge(self, task: Task, output: WorkflowOutput) -> JudgeResult:
        result = self.compute_reward(WorkflowTask(task=task, task_id=task.task_id), output)
        if not (isinstance(result, tuple) and len(result) == 2):
            raise TypeError(
                f"{type(self).__name__}.compute_reward() returned {result!r}; AgentJet judges "
                "return (reward, is_success)"
            )
        reward, is_success = result
        return JudgeResult(reward=float(reward), is_success=bool(is_success))
