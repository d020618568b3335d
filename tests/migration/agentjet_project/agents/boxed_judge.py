"""An AgentJet judge: ``compute_reward`` returns ``(reward, is_success)``."""

import re

from ajet.task_judge.base_judge import BaseJudge
from ajet.workflow import WorkflowOutput, WorkflowTask


class BoxedAnswerJudge(BaseJudge):
    def __init__(self, config):
        self.config = config

    def compute_reward(self, workflow_task: WorkflowTask, workflow_output: WorkflowOutput) -> tuple:
        expected = str(workflow_task.task.metadata["answer"]).strip()
        found = re.search(r"\\boxed\{([^}]*)\}", workflow_output.metadata["final_answer"] or "")
        is_success = bool(found) and found.group(1).strip() == expected
        return (1.0 if is_success else 0.0), is_success
