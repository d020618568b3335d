"""llm_judge against OpenAI-compatible endpoints on 127.0.0.1: scoring, retries, timeouts, cache,
and a clear per-episode failure when the endpoint is down (never a silent zero)."""

from __future__ import annotations

import asyncio

import pytest
from ajet_plugins_std.judgers.llm_judge import LlmJudgeConfig, LlmJudger, parse_score
from ajet_plugins_std.llm import LlmError
from pydantic import ValidationError

from ajet_core.schema import Task
from ajet_core.testing import JudgerConformance
from ajet_core.workflow import WorkflowOutput

from .local_servers import ChatServer, free_port


def grader(messages):
    """A judge model stand-in at the HTTP boundary: 9/10 when the answer names Paris."""
    user = messages[-1]["content"]
    answer = user.split("Answer:", 1)[1]
    return (
        "The answer is correct.\nScore: 9/10"
        if "Paris" in answer
        else '{"score": 2, "reason": "wrong city"}'
    )


def case(answer, reference="Paris"):
    return (
        Task(
            task_id="t", main_query="What is the capital of France?", metadata={"answer": reference}
        ),
        WorkflowOutput(metadata={"final_answer": answer}),
    )


def judger_for(url, **options):
    return LlmJudger(LlmJudgeConfig(base_url=url, model="judge", **options))


@pytest.fixture(scope="module")
def judge_server():
    with ChatServer(grader) as server:
        yield server


class TestLlmJudgeConformance(JudgerConformance):
    registered_name = "llm_judge"

    @pytest.fixture
    def judger(self, judge_server):
        return judger_for(judge_server.base_url)

    @pytest.fixture
    def passing_case(self):
        return case("It is Paris.")

    @pytest.fixture
    def failing_case(self):
        return case("It is Lyon.")

    @pytest.fixture
    def missing_reference_case(self):
        return None  # the reference is optional for this judger: its prompt then says "(none)"


def test_prompt_carries_question_reference_answer_and_rubric(judge_server):
    judger = judger_for(judge_server.base_url, rubric="Name the city.")
    before = len(judge_server.requests)
    result = judger.judge(*case("Paris, of course"))
    assert (result.reward, result.is_success, result.metrics["judge_score"]) == (0.9, True, 9.0)
    sent = judge_server.requests[before]["messages"]
    assert "Rubric: Name the city." in sent[0]["content"]
    assert "Question: What is the capital of France?" in sent[1]["content"]
    assert (
        "Reference: Paris" in sent[1]["content"]
        and "Answer: Paris, of course" in sent[1]["content"]
    )


def test_identical_judgements_hit_the_cache_in_memory_and_on_disk(judge_server, tmp_path):
    judger = judger_for(judge_server.base_url, cache_dir=str(tmp_path / "cache"))
    before = len(judge_server.requests)
    first = judger.judge(*case("Lyon?"))
    second = judger.judge(*case("Lyon?"))
    assert len(judge_server.requests) == before + 1
    assert (first.reward, second.reward, second.metrics["judge_cached"]) == (0.2, 0.2, 1)
    restarted = judger_for(judge_server.base_url, cache_dir=str(tmp_path / "cache"))
    assert restarted.judge(*case("Lyon?")).metrics["judge_cached"] == 1
    assert len(judge_server.requests) == before + 1


def test_server_errors_are_retried_with_backoff():
    with ChatServer(grader, fail_first=2) as server:
        result = judger_for(server.base_url, max_retries=2).judge(*case("Paris"))
        assert result.is_success and len(server.requests) == 3


def test_an_endpoint_that_is_down_fails_the_episode_clearly():
    url = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(
        LlmError,
        match=(
            r"endpoint http://127\.0\.0\.1:\d+/v1 \(model 'judge'\) failed after 2 attempt"
            r".*APIConnectionError.*server running"
        ),
    ):
        judger_for(url, max_retries=1).judge(*case("Paris"))


def test_timeout_per_request():
    # The server would answer after 10 s, well inside the judger's default 30 s: only the
    # 0.3 s timeout given here makes the call fail (no wall-clock bound on a shared machine).
    with ChatServer(grader, delay=10.0) as server:
        with pytest.raises(LlmError, match="APITimeoutError"):
            judger_for(server.base_url, timeout=0.3, max_retries=0).judge(*case("Paris"))


def test_a_reply_without_a_score_is_asked_again_then_an_error():
    replies = iter(["I think it is fine.", "Score: 8/10"])
    with ChatServer(lambda _: next(replies)) as server:
        result = judger_for(server.base_url, parse_retries=1).judge(*case("Paris"))
        assert (result.reward, result.metrics["judge_requests"]) == (0.8, 2)
    with ChatServer(lambda _: "no idea") as server:
        with pytest.raises(LlmError, match=r"no score in 2 repl\(ies\).*'no idea'"):
            judger_for(server.base_url, parse_retries=1).judge(*case("Paris"))


def test_concurrent_judgements_from_one_event_loop(judge_server):
    judger = judger_for(judge_server.base_url, cache=False)

    async def many():
        return await asyncio.gather(*(judger.ajudge(*case(f"Paris {i}")) for i in range(6)))

    assert all(r.is_success for r in asyncio.run(many()))


def test_score_parsing_and_config_checks():
    assert parse_score("The answer is wrong.\nScore: 3/10") == 3.0
    assert parse_score('reasoning... {"score": 7.5}') == 7.5
    assert parse_score("score = 4") == 4.0
    assert parse_score("no number here") is None
    with pytest.raises(ValidationError, match="max_score"):
        LlmJudgeConfig(base_url="x", model="m", min_score=5, max_score=5)
    with pytest.raises(ValidationError, match=r"unknown placeholder.*\{question\}"):
        LlmJudgeConfig(base_url="x", model="m", user_prompt="{quesiton}")
    with pytest.raises(ValidationError, match="extra_forbidden|Extra inputs"):
        LlmJudgeConfig(base_url="x", model="m", temprature=0.1)
