"""A judger that rewards answers mentioning the keywords a task requires.

Select it with::

    judger:
      type: keyword_coverage
      keywords_key: keywords      # task.metadata field holding the list of keywords
      success_threshold: 1.0      # share of keywords needed for is_success
"""

from __future__ import annotations

import re

from pydantic import Field

from ajet_core.judging import Judger, JudgerConfig, JudgeResult
from ajet_core.schema import Task
from ajet_core.workflow import WorkflowOutput


class KeywordCoverageConfig(JudgerConfig):
    answer_key: str = "final_answer"
    keywords_key: str = "keywords"
    case_sensitive: bool = False
    success_threshold: float = Field(default=1.0, ge=0.0, le=1.0)


class KeywordCoverageJudger(Judger):
    options_model = KeywordCoverageConfig
    options: KeywordCoverageConfig

    def judge(self, task: Task, output: WorkflowOutput) -> JudgeResult:
        keywords = task.metadata.get(self.options.keywords_key)
        if not isinstance(keywords, list) or not all(isinstance(k, str) for k in keywords):
            raise ValueError(
                f"task {task.task_id!r}: metadata[{self.options.keywords_key!r}] must be a list of "
                f"strings, got {keywords!r}; set judger.keywords_key to the field holding them"
            )
        if self.options.answer_key not in output.metadata:
            # A missing answer fails the episode with this message; a silent 0 would train on it.
            raise ValueError(
                f"task {task.task_id!r}: the workflow output has no metadata"
                f"[{self.options.answer_key!r}] (it has: "
                f"{', '.join(output.metadata) or 'nothing'}); return it from the workflow or set "
                "judger.answer_key"
            )
        answer = str(output.metadata[self.options.answer_key])
        flags = 0 if self.options.case_sensitive else re.IGNORECASE
        # Whole words only: 'cat' must not be credited by 'concatenate'.
        found = [k for k in keywords if re.search(rf"\b{re.escape(k)}\b", answer, flags)]
        coverage = len(found) / len(keywords) if keywords else 1.0
        return JudgeResult(
            reward=coverage,
            is_success=coverage >= self.options.success_threshold,
            metrics={"keywords_found": len(found), "keywords_total": len(keywords)},
        )
