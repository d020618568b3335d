"""Reward the werewolf for winning: 1 when the werewolves win, 0 otherwise.

No format credit: a werewolf that cannot name a victim simply kills nobody and loses more often.
"""

from __future__ import annotations

# A sibling file: AgentJet puts the folder of a config-named file on the import path.
from werewolves_rules import WEREWOLVES_WIN

from ajet import Judger, JudgeResult, Task, WorkflowOutput


class WerewolfWinJudger(Judger):
    def judge(self, task: Task, output: WorkflowOutput) -> JudgeResult:
        outcome = output.metadata.get("winner")
        if outcome is None:
            raise ValueError(
                "the workflow's metadata has no 'winner'; was the game played to the end?"
            )
        won = outcome == WEREWOLVES_WIN
        return JudgeResult(
            reward=1.0 if won else 0.0,
            is_success=won,
            metrics={
                "days": float(output.metadata.get("days", 0)),
                "werewolf_survived": float(bool(output.metadata.get("werewolf_survived"))),
            },
        )
