"""math_answer, countdown, exact_match and regex judgers: behaviour and the conformance kit."""

from __future__ import annotations

import asyncio

import pytest
from ajet_plugins_std.answers import extract_answer, last_boxed
from ajet_plugins_std.judgers.countdown import CountdownConfig, CountdownJudger
from ajet_plugins_std.judgers.exact_match import ExactMatchConfig, ExactMatchJudger
from ajet_plugins_std.judgers.fields import JudgeInputError
from ajet_plugins_std.judgers.math_answer import MathAnswerConfig, MathAnswerJudger
from ajet_plugins_std.judgers.regex import RegexConfig, RegexJudger
from pydantic import ValidationError

from ajet_core.schema import Task
from ajet_core.testing import JudgerConformance
from ajet_core.workflow import WorkflowOutput


def case(text: str, **metadata) -> tuple[Task, WorkflowOutput]:
    return Task(task_id="t1", main_query="q", metadata=metadata), WorkflowOutput(
        metadata={"final_answer": text}
    )


@pytest.fixture(scope="module")
def math_judger():
    judger = MathAnswerJudger()
    yield judger
    judger.close()


# -- extraction -------------------------------------------------------------------------------
def test_last_boxed_handles_nesting_and_cut_off_replies():
    assert last_boxed(r"first \boxed{1} then \boxed{\frac{1}{2}} done") == r"\frac{1}{2}"
    assert last_boxed(r"\boxed{\frac{1}{2") is None
    assert last_boxed("no box") is None
    assert extract_answer("Answer: 42.", r"Answer:\s*(\d+)") == "42"


# -- math_answer ------------------------------------------------------------------------------
class TestMathAnswerConformance(JudgerConformance):
    registered_name = "math_answer"

    @pytest.fixture
    def judger(self, math_judger):
        return math_judger

    @pytest.fixture
    def passing_case(self):
        return case(r"The result is \boxed{\frac{1}{2}}.", answer="0.5")

    @pytest.fixture
    def failing_case(self):
        return case(r"The result is \boxed{3}.", answer="0.5")


@pytest.mark.parametrize(
    ("answer", "reference", "equal"),
    [
        (r"\boxed{x + 1}", "1 + x", True),
        (r"\boxed{\frac{\sqrt 2}{2}}", r"\sqrt{2}/2", True),
        (r"\boxed{10\%}", "0.1", True),
        (r"\boxed{\{2, 1\}}", r"\{1,2\}", True),
        (r"\boxed{3.14}", r"\pi", False),
        (r"\boxed{7}", r"The answer is \boxed{7}.", True),  # MATH-style full-solution reference
    ],
)
def test_math_equivalence(math_judger, answer, reference, equal):
    result = math_judger.judge(*case(answer, answer=reference))
    assert result.is_success is equal and result.reward == (1.0 if equal else 0.0)


def test_math_no_answer_and_custom_pattern():
    judger = MathAnswerJudger(
        MathAnswerConfig(answer_pattern=r"ANSWER:\s*(\S+)", no_answer_reward=-0.5)
    )
    try:
        assert judger.judge(*case("ANSWER: 4", answer="4")).is_success
        missing = judger.judge(*case(r"\boxed{4}", answer="4"))
        assert (missing.reward, missing.is_success, missing.metrics["answer_found"]) == (
            -0.5,
            False,
            0,
        )
    finally:
        judger.close()


def test_math_comparison_past_its_timeout_is_counted_not_equal_and_the_judger_recovers():
    judger = MathAnswerJudger(MathAnswerConfig(timeout=0.001))
    try:
        judger.verifier.warm_up()  # start the worker; the next comparison cannot finish in 1 ms
        slow = judger.judge(*case(r"\boxed{(x+1)^2}", answer="x^2+2x+1"))
        assert (slow.is_success, slow.metrics["math_timeout"]) == (False, 1)
        judger.verifier.timeout = 30.0
        assert judger.judge(*case(r"\boxed{(x+1)^2}", answer="x^2+2x+1")).is_success  # a new worker
    finally:
        judger.close()


def test_math_runs_in_threads(math_judger):
    # Judgers run off the event loop (asyncio.to_thread); math-verify's own signal timeout would
    # fail there, the worker-process design does not.
    async def many():
        return await asyncio.gather(
            *(math_judger.ajudge(*case(rf"\boxed{{{i}}}", answer=str(i))) for i in range(8))
        )

    assert all(r.is_success for r in asyncio.run(many()))


def test_missing_answer_key_is_a_clear_episode_error(math_judger):
    task = Task(task_id="t7", metadata={"answer": "1"})
    with pytest.raises(JudgeInputError, match=r"no metadata\['final_answer'\].*answer_key"):
        math_judger.judge(task, WorkflowOutput(metadata={"text": "1"}))
    with pytest.raises(
        JudgeInputError, match=r"task 't7' has no metadata\['solution'\].*judger.reference_key"
    ):
        ExactMatchJudger(ExactMatchConfig(reference_key="solution")).judge(
            task, WorkflowOutput(metadata={"final_answer": "1"})
        )


# -- countdown --------------------------------------------------------------------------------
class TestCountdownConformance(JudgerConformance):
    registered_name = "countdown"

    @pytest.fixture
    def judger(self):
        return CountdownJudger()

    @pytest.fixture
    def passing_case(self):
        return case(r"\boxed{(1 + 2) * 3}", target=9, nums=[3, 2, 1])

    @pytest.fixture
    def failing_case(self):
        return case(r"\boxed{1 + 2 + 3}", target=9, nums=[3, 2, 1])


@pytest.mark.parametrize(
    ("answer", "success", "valid", "numbers_ok"),
    [
        (r"\boxed{3 * (2 + 1)}", True, 1, 1),
        (r"\boxed{(1 + 2) \times 3 = 9}", True, 1, 1),
        (r"\boxed{3 * 3}", False, 1, 0),  # 3 used twice, 1 and 2 unused
        (r"\boxed{3 + 2 + 1}", False, 1, 1),  # right numbers, wrong value
        (r"\boxed{__import__('os').getcwd()}", False, 0, 0),  # not arithmetic: never evaluated
        (r"\boxed{9 / (3 - 3)}", False, 0, 0),
    ],
)
def test_countdown_checks(answer, success, valid, numbers_ok):
    result = CountdownJudger().judge(*case(answer, target=9, nums=[1, 2, 3]))
    assert result.is_success is success
    assert (result.metrics["equation_valid"], result.metrics["numbers_ok"]) == (valid, numbers_ok)


def test_countdown_format_credit_and_no_answer():
    judger = CountdownJudger(CountdownConfig(format_reward=0.1))
    assert judger.judge(*case(r"\boxed{1 + 2 + 3}", target=9, nums=[1, 2, 3])).reward == 0.1
    assert judger.judge(*case("I give up", target=9, nums=[1, 2, 3])).reward == 0.0


def test_countdown_reads_references_from_output_as_agentjet_workflows_pass_them():
    task = Task(task_id="t", metadata={})
    output = WorkflowOutput(metadata={"final_answer": r"\boxed{4*6}", "target": 24, "nums": [4, 6]})
    assert CountdownJudger().judge(task, output).is_success


def test_countdown_subset_mode():
    judger = CountdownJudger(CountdownConfig(require_all_numbers=False))
    assert judger.judge(*case(r"\boxed{3*3}", target=9, nums=[3, 3, 5])).is_success
    assert not judger.judge(*case(r"\boxed{3*3*3}", target=27, nums=[3, 3, 5])).is_success


# -- exact_match ------------------------------------------------------------------------------
class TestExactMatchConformance(JudgerConformance):
    registered_name = "exact_match"

    @pytest.fixture
    def judger(self):
        return ExactMatchJudger(ExactMatchConfig(extract="boxed"))

    @pytest.fixture
    def passing_case(self):
        return case(r"It is \boxed{  Paris }", answer="paris")

    @pytest.fixture
    def failing_case(self):
        return case(r"It is \boxed{Lyon}", answer="paris")


def test_exact_match_options():
    assert ExactMatchJudger().judge(*case("New  York", answer=["new york", "NYC"])).is_success
    assert (
        not ExactMatchJudger(ExactMatchConfig(case_sensitive=True))
        .judge(*case("paris", answer="Paris"))
        .is_success
    )
    assert (
        ExactMatchJudger(ExactMatchConfig(strip_punctuation=True))
        .judge(*case("Paris!", answer="paris"))
        .is_success
    )
    with pytest.raises(ValidationError, match="answer_pattern exactly when extract is 'pattern'"):
        ExactMatchConfig(extract="pattern")
    with pytest.raises(ValidationError, match="not a valid regular expression"):
        ExactMatchConfig(extract="pattern", answer_pattern="(")


# -- regex ------------------------------------------------------------------------------------
class TestRegexConformance(JudgerConformance):
    registered_name = "regex"

    @pytest.fixture
    def judger(self):
        return RegexJudger(RegexConfig(pattern=r"\b{reference}\b", flags=["IGNORECASE"]))

    @pytest.fixture
    def passing_case(self):
        return case("The capital is PARIS.", answer="Paris")

    @pytest.fixture
    def failing_case(self):
        return case("The capital is Parisville.", answer="Paris")


def test_regex_fullmatch_and_escaping():
    assert RegexJudger(RegexConfig(pattern=r"\d+", fullmatch=True)).judge(*case("123")).is_success
    assert (
        not RegexJudger(RegexConfig(pattern=r"\d+", fullmatch=True))
        .judge(*case("123 apples"))
        .is_success
    )
    # The reference is escaped: '1+1' matches literally, not as a regex.
    judger = RegexJudger(RegexConfig(pattern="{reference}"))
    assert judger.judge(*case("so 1+1", answer="1+1")).is_success
    assert not judger.judge(*case("so 11", answer="1+1")).is_success
    with pytest.raises(ValidationError, match="pattern"):
        RegexConfig()
    with pytest.raises(ValidationError, match="not a valid regular expression"):
        RegexConfig(pattern="([")


def test_math_judger_works_from_a_script_without_a_main_guard(tmp_path):
    # The workers are plain subprocesses: a user's script is never re-imported in them.
    import subprocess
    import sys

    script = tmp_path / "judge_it.py"
    script.write_text(
        "from ajet_core.schema import Task\nfrom ajet_core.workflow import WorkflowOutput\nfrom "
        "ajet_plugins_std.judgers.math_answer import MathAnswerJudger\nprint('top level ran')\nr = "
        "MathAnswerJudger().judge(Task(task_id='t', metadata={'answer': '2'}), "
        "WorkflowOutput(metadata={'final_answer': r'\\boxed{2}'}))\nprint(r.is_success)\n",
        encoding="utf-8",
    )
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["top", "level", "ran", "True"]
