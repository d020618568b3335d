"""``countdown``: the answer is an equation over the puzzle's numbers that equals the target.

judger:
  type: countdown
  target_key: target           # task.metadata (or, as in AgentJet, output.metadata) fields
  numbers_key: nums
  format_reward: 0.0           # reward for a \\boxed{} equation that is wrong (AgentJet: 0.1)
"""

from __future__ import annotations

from pydantic import Field, field_validator

from ajet_core.judging import Judger, JudgerConfig, JudgeResult
from ajet_core.schema import Task
from ajet_core.workflow import WorkflowOutput
from ajet_plugins_std.answers import compile_answer_pattern, extract_answer
from ajet_plugins_std.envs.countdown import check_equation
from ajet_plugins_std.judgers.fields import JudgeInputError, answer_text, reference_value


class CountdownConfig(JudgerConfig):
    answer_key: str = "final_answer"
    target_key: str = "target"
    numbers_key: str = "nums"
    # None: the last \boxed{}; else a regex whose group holds the equation.
    answer_pattern: str | None = None
    correct_reward: float = 1.0
    # Partial credit for an extracted but wrong equation (invalid, wrong numbers or wrong value).
    format_reward: float = Field(default=0.0, ge=0.0)
    # True: every number exactly once (the usual rules); False: each number at most once.
    require_all_numbers: bool = True

    _pattern_ok = field_validator("answer_pattern")(lambda cls, v: compile_answer_pattern(v))


class CountdownJudger(Judger):
    options_model = CountdownConfig
    options: CountdownConfig

    def judge(self, task: Task, output: WorkflowOutput) -> JudgeResult:
        c = self.options
        text = answer_text(output, c.answer_key, "countdown")
        target = reference_value(task, c.target_key, "countdown", output)
        numbers = reference_value(task, c.numbers_key, "countdown", output)
        if not isinstance(numbers, (list, tuple)) or not all(
            isinstance(n, (int, float)) for n in numbers
        ):
            raise JudgeInputError(
                f"countdown: task {task.task_id!r} numbers must be a list of numbers, got "
                f"{numbers!r}"
            )
        equation = extract_answer(text, c.answer_pattern)
        if equation is None:
            return JudgeResult(
                0.0, False, {"answer_found": 0, "equation_valid": 0, "numbers_ok": 0}
            )
        check = check_equation(
            equation, [int(n) for n in numbers], target, require_all_numbers=c.require_all_numbers
        )
        reward = c.correct_reward if check.correct else c.format_reward
        return JudgeResult(
            reward,
            check.correct,
            {
                "answer_found": 1,
                "equation_valid": int(check.valid),
                "numbers_ok": int(check.numbers_ok),
            },
        )
