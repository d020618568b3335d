"""The project's own countdown judge, under the module name of AgentJet's tutorial judge. It
scores as that judge does (1.0 for a correct boxed equation, 0.1 for a boxed one that is wrong,
0.0 without a box), and since it is the project's file, it is the one that runs."""

import re

from ajet.task_judge.base_judge import BaseJudge
from ajet.workflow import WorkflowOutput, WorkflowTask

ALLOWED = re.compile(r"^[\d+\-*/().\s]+$")


class CountdownAnswerAsJudge(BaseJudge):
    def __init__(self, config):
        self.config = config

    def compute_reward(self, workflow_task: WorkflowTask, workflow_output: WorkflowOutput) -> tuple:
        meta = workflow_output.metadata
        box = re.search(r"\\boxed\{([^}]*)\}", meta["final_answer"])
        if box is None:
            return 0.0, False
        equation = box.group(1)
        used = sorted(int(n) for n in re.findall(r"\d+", equation))
        if used != sorted(meta["nums"]) or not ALLOWED.match(equation):
            return 0.1, False
        try:
            value = eval(equation, {"__builtins__": None}, {})  # digits and operators only
        except (SyntaxError, ZeroDivisionError):
            return 0.1, False
        correct = abs(value - meta["target"]) < 1e-5
        return (1.0 if correct else 0.1), correct
