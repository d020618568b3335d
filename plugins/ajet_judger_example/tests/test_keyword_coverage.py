"""The example judger passes the core conformance kit, as a third-party package's would."""

from __future__ import annotations

import pytest
from ajet_judger_example.judger import KeywordCoverageJudger

from ajet_core.schema import Task
from ajet_core.testing import JudgerConformance
from ajet_core.workflow import WorkflowOutput


def case(answer: str, keywords: list[str]) -> tuple[Task, WorkflowOutput]:
    task = Task(task_id="t1", main_query="Describe a cat.", metadata={"keywords": keywords})
    return task, WorkflowOutput(metadata={"final_answer": answer})


class TestKeywordCoverageConformance(JudgerConformance):
    registered_name = "keyword_coverage"

    @pytest.fixture
    def judger(self) -> KeywordCoverageJudger:
        return KeywordCoverageJudger()

    @pytest.fixture
    def passing_case(self):
        return case("The Cat purrs and has whiskers.", ["cat", "whiskers"])

    @pytest.fixture
    def failing_case(self):
        return case("A concatenated string.", ["cat", "whiskers"])


def test_partial_coverage_is_partial_reward() -> None:
    result = KeywordCoverageJudger().judge(*case("whiskers only", ["cat", "whiskers"]))
    assert result.reward == 0.5 and result.is_success is False
    assert result.metrics == {"keywords_found": 1, "keywords_total": 2}


def test_missing_keywords_field_names_the_key_and_the_fix() -> None:
    task = Task(task_id="t9", metadata={})
    with pytest.raises(ValueError, match=r"t9.*metadata\['keywords'\].*judger.keywords_key"):
        KeywordCoverageJudger().judge(task, WorkflowOutput(metadata={"final_answer": "x"}))
