"""llm_judge and the generated reader against the project's gateway serving the tiny local model.

No stand-in for the LLM: the requests go over HTTP to AgentJet's gateway, which renders them with
the tiny model's chat template and samples the tiny model. The tiny model was trained to answer
grader prompts with 'Score: N/10' (ajet_backbone_debug.models.synthetic), so the judge's happy
path is real; what it writes as questions is gibberish-grade, so the generated reader runs in
'lines' format, which takes any reply line as a question.
"""

from __future__ import annotations

import pytest
from ajet_plugins_std.judgers.llm_judge import LlmJudgeConfig, LlmJudger
from ajet_plugins_std.readers.generated import GeneratedReaderConfig, GeneratedTaskReader

from ajet_core.schema import Task
from ajet_core.workflow import WorkflowOutput

pytest.importorskip(
    "ajet_backbone_debug.models.tiny",
    reason="the tiny model's builder ships with ajet-backbone-debug",
)
pytestmark = pytest.mark.slow

# The grader wording the tiny model was trained on; the judge's prompts are configurable.
TINY_SYSTEM = "You are a strict judge. Rate the answer from {min_score} to {max_score}."
TINY_USER = "Question: {question}\nAnswer: {answer}\nRate the answer."


@pytest.fixture(scope="module")
def endpoint():
    from .tiny_endpoint import TinyModelEndpoint

    with TinyModelEndpoint(mode="eval") as running:
        yield running


def test_llm_judge_scores_through_the_gateway(endpoint, tmp_path):
    judger = LlmJudger(
        LlmJudgeConfig(
            base_url=endpoint.base_url,
            api_key=endpoint.api_key,
            model=endpoint.model,
            system_prompt=TINY_SYSTEM,
            user_prompt=TINY_USER,
            max_tokens=24,
            parse_retries=2,
            cache_dir=str(tmp_path / "judge-cache"),
        )
    )
    calls_before = len(endpoint.calls())
    task = Task(task_id="sum", main_query="What is 5 + 5?", metadata={"answer": "10"})
    result = judger.judge(task, WorkflowOutput(metadata={"final_answer": "10"}))
    assert 0.0 <= result.reward <= 1.0 and 0 <= result.metrics["judge_score"] <= 10
    calls = endpoint.calls()[calls_before:]
    # The gateway recorded the judge's requests at token level, with the tiny model's reply.
    assert len(calls) == result.metrics["judge_requests"] >= 1
    assert calls[-1].messages[-1]["content"].startswith("Question: What is 5 + 5?")
    assert len(calls[-1].response_ids) == len(calls[-1].response_logprobs) > 0
    # Same prompt again: answered from the cache, no new request.
    again = judger.judge(task, WorkflowOutput(metadata={"final_answer": "10"}))
    assert again.metrics["judge_cached"] == 1 and len(endpoint.calls()) == calls_before + len(calls)


def test_llm_judge_reports_a_reply_without_a_score_instead_of_scoring_zero(endpoint):
    # A prompt outside what the tiny model learned (small talk): no score comes back.
    judger = LlmJudger(
        LlmJudgeConfig(
            base_url=endpoint.base_url,
            api_key=endpoint.api_key,
            model=endpoint.model,
            system_prompt="You are a concise assistant.",
            user_prompt="Hello!",
            max_tokens=16,
            parse_retries=0,
            cache=False,
        )
    )
    from ajet_plugins_std.llm import LlmError

    with pytest.raises(LlmError, match=r"no score in 1 repl"):
        judger.judge(
            Task(task_id="x", main_query="hi"), WorkflowOutput(metadata={"final_answer": "hi"})
        )


def test_generated_reader_makes_tasks_through_the_gateway(endpoint, tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "rivers.md").write_text(
        "# Rivers\n\nThe Alder river is 100 km long.\n\nThe Birch river is 220 km long and flows "
        "north.",
        encoding="utf-8",
    )
    (docs / "lakes.txt").write_text(
        "Lake Cedar is 40 m deep. It freezes every winter.", encoding="utf-8"
    )
    options = dict(
        documents=[str(docs)],
        base_url=endpoint.base_url,
        api_key=endpoint.api_key,
        model=endpoint.model,
        output_format="lines",
        tasks_per_chunk=2,
        max_tokens=32,
        temperature=0.0,
        validation_fraction=0.3,
        dedupe_threshold=1.0,
        cache_dir=str(tmp_path / "cache"),
    )
    calls_before = len(endpoint.calls())
    reader = GeneratedTaskReader(GeneratedReaderConfig(**options))
    tasks = list(reader.iter_tasks("train")) + list(reader.iter_tasks("validation"))
    assert reader.stats["chunks"] == 2 and len(endpoint.calls()) == calls_before + 2
    assert tasks and all(t.main_query.strip() and t.task_id for t in tasks)
    assert {t.metadata["source"].rsplit("/", 1)[1] for t in tasks} <= {"rivers.md", "lakes.txt"}
    # The second reader finds every reply in the cache: no request reaches the gateway.
    again = GeneratedTaskReader(GeneratedReaderConfig(**options))
    assert [t.model_dump() for t in again.iter_tasks("train")] == [
        t.model_dump() for t in reader.iter_tasks("train")
    ]
    assert again.stats["cached_chunks"] == 2 and len(endpoint.calls()) == calls_before + 2


async def test_frozenlake_episode_over_the_env_service_with_the_tiny_model(endpoint, env_server):
    """The whole env-service path with a real model: the reader's episode_env creates an instance,
    the model (over the gateway) answers each observation, gym_env.astep moves, the env_service
    judger scores, and the instance is released."""
    import httpx
    import openai
    from ajet_plugins_std.judgers.env_service import EnvServiceJudger
    from ajet_plugins_std.readers.env_service import EnvServiceReaderConfig, EnvServiceTaskReader

    reader = EnvServiceTaskReader(EnvServiceReaderConfig(url=env_server, env_type="frozenlake"))
    task = next(iter(reader.iter_tasks("validation")))
    client = openai.AsyncOpenAI(base_url=endpoint.base_url, api_key=endpoint.api_key)
    calls_before = len(endpoint.calls())

    # The server is shared by the session's tests (their instances come and go, and expire): ask
    # about this episode's instance only. Without its token the server answers 403 while the
    # instance lives and 404 once it is released.
    def instance_status() -> int:
        body = {"instance_id": "tiny-frozenlake"}
        return httpx.post(f"{env_server}/get_info", json=body).status_code

    async with reader.episode_env(task, "tiny-frozenlake") as (episode_task, gym_env):
        assert instance_status() == 403
        messages = list(episode_task.init_messages)
        turns = 0
        for _ in range(8):
            turns += 1
            reply = await client.chat.completions.create(
                model=endpoint.model, messages=messages, max_tokens=16, temperature=0
            )
            text = reply.choices[0].message.content or ""
            observation, reward, done, info = await gym_env.astep(
                {"role": "assistant", "content": text}
            )
            messages += [
                {"role": "assistant", "content": text},
                {"role": "user", "content": observation},
            ]
            if done:
                break
        result = await EnvServiceJudger().ajudge(episode_task, WorkflowOutput())
    await client.close()
    assert result.reward in (0.0, 1.0) and result.is_success == (result.reward == 1.0)
    assert len(endpoint.calls()) - calls_before == turns
    assert instance_status() == 404
