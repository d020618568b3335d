"""``math_answer``: the final answer is mathematically equal to the reference (math-verify).

judger:
  type: math_answer
  answer_key: final_answer     # output.metadata field with the model's text
  reference_key: answer        # task.metadata field; may itself contain \\boxed{}
  answer_pattern: null         # null: the last \\boxed{}; else a regex with one group
  timeout: 5.0                 # seconds per comparison (then: not equal, counted)
"""

from __future__ import annotations

from pydantic import Field, field_validator

from ajet_core.judging import Judger, JudgerConfig, JudgeResult
from ajet_core.schema import Task
from ajet_core.workflow import WorkflowOutput
from ajet_plugins_std.answers import compile_answer_pattern, extract_answer, last_boxed
from ajet_plugins_std.judgers.fields import answer_text, reference_value
from ajet_plugins_std.judgers.math_verifier import MathVerifier


class MathAnswerConfig(JudgerConfig):
    answer_key: str = "final_answer"
    reference_key: str = "answer"
    answer_pattern: str | None = None
    timeout: float = Field(default=5.0, gt=0)
    # Comparisons that may run at once (one worker process each).
    workers: int = Field(default=1, ge=1, le=64)
    correct_reward: float = 1.0
    wrong_reward: float = 0.0
    # Reward when no answer could be extracted (no \\boxed{}, no pattern match).
    no_answer_reward: float = 0.0

    _pattern_ok = field_validator("answer_pattern")(lambda cls, v: compile_answer_pattern(v))


class MathAnswerJudger(Judger):
    options_model = MathAnswerConfig
    options: MathAnswerConfig

    def __init__(self, config: MathAnswerConfig | None = None) -> None:
        super().__init__(config)
        self.verifier = MathVerifier(timeout=self.options.timeout, workers=self.options.workers)

    def judge(self, task: Task, output: WorkflowOutput) -> JudgeResult:
        c = self.options
        text = answer_text(output, c.answer_key, "math_answer")
        reference = str(reference_value(task, c.reference_key, "math_answer"))
        # MATH-style references are whole solutions ending in \boxed{...}.
        reference = last_boxed(reference) or reference
        answer = extract_answer(text, c.answer_pattern)
        if answer is None:
            return JudgeResult(c.no_answer_reward, False, {"answer_found": 0, "math_timeout": 0})
        comparison = self.verifier.compare(reference, answer)
        metrics = {"answer_found": 1, "math_timeout": int(comparison.timed_out)}
        if comparison.error and not comparison.timed_out:
            metrics["math_error"] = 1
        return JudgeResult(
            c.correct_reward if comparison.equal else c.wrong_reward, comparison.equal, metrics
        )

    def close(self) -> None:
        self.verifier.close()

    def __del__(self) -> None:
        verifier = getattr(self, "verifier", None)
        if verifier is not None:
            verifier.close()
