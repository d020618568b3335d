r"""``regex``: the answer matches a regular expression.

judger:
  type: regex
  pattern: '^\s*yes\b'          # '{reference}' inside is replaced by the escaped reference
  flags: [IGNORECASE]
  fullmatch: false
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import field_validator

from ajet_core.judging import Judger, JudgerConfig, JudgeResult
from ajet_core.schema import Task
from ajet_core.workflow import WorkflowOutput
from ajet_plugins_std.judgers.fields import answer_text, reference_value

REFERENCE_PLACEHOLDER = "{reference}"


class RegexConfig(JudgerConfig):
    pattern: str
    answer_key: str = "final_answer"
    # Used only when the pattern contains '{reference}'.
    reference_key: str = "answer"
    flags: list[Literal["IGNORECASE", "MULTILINE", "DOTALL"]] = []
    # True: the whole answer must match; False: a match anywhere counts.
    fullmatch: bool = False

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, pattern: str) -> str:
        try:
            re.compile(pattern.replace(REFERENCE_PLACEHOLDER, "x"))
        except re.error as exc:
            raise ValueError(
                f"pattern {pattern!r} is not a valid regular expression: {exc}"
            ) from None
        return pattern


class RegexJudger(Judger):
    options_model = RegexConfig
    options: RegexConfig

    def __init__(self, config: RegexConfig | None = None) -> None:
        if config is None:
            raise ValueError("the regex judger needs a pattern: set judger.pattern")
        super().__init__(config)
        self._flags = 0
        for name in config.flags:
            self._flags |= getattr(re, name)
        self._static = (
            None
            if REFERENCE_PLACEHOLDER in config.pattern
            else re.compile(config.pattern, self._flags)
        )

    def judge(self, task: Task, output: WorkflowOutput) -> JudgeResult:
        c = self.options
        text = answer_text(output, c.answer_key, "regex")
        compiled = self._static
        if compiled is None:
            reference = str(reference_value(task, c.reference_key, "regex"))
            compiled = re.compile(
                c.pattern.replace(REFERENCE_PLACEHOLDER, re.escape(reference)), self._flags
            )
        match = compiled.fullmatch(text) if c.fullmatch else compiled.search(text)
        return JudgeResult(1.0 if match else 0.0, match is not None, {})
