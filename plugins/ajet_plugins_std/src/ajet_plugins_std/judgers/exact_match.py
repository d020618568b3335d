"""``exact_match``: the answer equals the reference after normalisation.

judger:
  type: exact_match
  reference_key: answer        # task.metadata field; a list means "any of these"
  extract: boxed               # none | boxed | pattern (with answer_pattern)
  case_sensitive: false
"""

from __future__ import annotations

import re
import string
from typing import Literal

from pydantic import model_validator

from ajet_core.judging import Judger, JudgerConfig, JudgeResult
from ajet_core.schema import Task
from ajet_core.workflow import WorkflowOutput
from ajet_plugins_std.answers import compile_answer_pattern, extract_answer
from ajet_plugins_std.judgers.fields import answer_text, reference_value


class ExactMatchConfig(JudgerConfig):
    answer_key: str = "final_answer"
    reference_key: str = "answer"
    # Which part of the answer is compared: all of it, the last \boxed{}, or answer_pattern's group.
    extract: Literal["none", "boxed", "pattern"] = "none"
    answer_pattern: str | None = None
    case_sensitive: bool = False
    # Collapse runs of whitespace and trim the ends.
    normalize_whitespace: bool = True
    strip_punctuation: bool = False

    @model_validator(mode="after")
    def _pattern_fits_extract(self) -> ExactMatchConfig:
        compile_answer_pattern(self.answer_pattern)
        if (self.extract == "pattern") != (self.answer_pattern is not None):
            raise ValueError("set answer_pattern exactly when extract is 'pattern'")
        return self


_PUNCTUATION = str.maketrans("", "", string.punctuation)


class ExactMatchJudger(Judger):
    options_model = ExactMatchConfig
    options: ExactMatchConfig

    def normalize(self, text: str) -> str:
        if not self.options.case_sensitive:
            text = text.casefold()
        if self.options.strip_punctuation:
            text = text.translate(_PUNCTUATION)
        if self.options.normalize_whitespace:
            text = re.sub(r"\s+", " ", text).strip()
        return text

    def judge(self, task: Task, output: WorkflowOutput) -> JudgeResult:
        c = self.options
        text = answer_text(output, c.answer_key, "exact_match")
        reference = reference_value(task, c.reference_key, "exact_match")
        references = (
            [str(r) for r in reference] if isinstance(reference, list) else [str(reference)]
        )
        answer = text if c.extract == "none" else extract_answer(text, c.answer_pattern)
        if answer is None:
            return JudgeResult(0.0, False, {"answer_found": 0})
        matched = self.normalize(answer) in {self.normalize(r) for r in references}
        return JudgeResult(1.0 if matched else 0.0, matched, {"answer_found": 1})
