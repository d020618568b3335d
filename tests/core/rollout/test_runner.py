"""The rollout runner against the real gateway and the tiny model: what happens to each episode.

Every failure kind (workflow raises, hangs, returns the wrong type or no reward; judger raises;
engine error) becomes a counted, recorded episode failure — the run goes on.
"""

from __future__ import annotations

import asyncio

import pytest

from ajet_core.config.models import AjetConfig
from ajet_core.engine import EngineError
from ajet_core.gateway.core import Gateway
from ajet_core.judging import Judger, JudgeResult
from ajet_core.rollout.runner import RolloutRunner, RolloutSettings
from ajet_core.rollout.summary import rollout_metrics
from ajet_core.schema import Task
from ajet_core.tracking.timeline_merge import TimelineMergeTracker
from ajet_core.workflow import Workflow, WorkflowOutput


class AskOnce(Workflow):
    async def execute(self, task, tuner):
        client = tuner.as_raw_openai_sdk_client()
        reply = await client.chat.completions.create(
            messages=[{"role": "user", "content": task.task.main_query}]
        )
        return WorkflowOutput(metadata={"final_answer": reply.choices[0].message.content})


class Raises(Workflow):
    async def execute(self, task, tuner):
        raise ValueError(f"cannot parse task {task.task_id}")


class Hangs(Workflow):
    async def execute(self, task, tuner):
        await asyncio.sleep(3600)


class WrongType(Workflow):
    async def execute(self, task, tuner):
        return {"reward": 1.0}


class OwnReward(Workflow):
    async def execute(self, task, tuner):
        await AskOnce().execute(task, tuner)
        return WorkflowOutput(reward=[0.25, 0.5], is_success=True)


class LengthJudger(Judger):
    """Reward = 1 when the answer is non-empty (the tiny model always answers something)."""

    def judge(self, task, output):
        answer = output.metadata.get("final_answer") or ""
        return JudgeResult(
            reward=float(bool(answer)), is_success=bool(answer), metrics={"chars": len(answer)}
        )


class BrokenJudger(Judger):
    def judge(self, task, output):
        raise KeyError("reference")


class FlakyEngine:
    """The real engine with one injected failure: the first ``failures`` generate calls raise."""

    def __init__(self, engine, failures: int) -> None:
        self._engine, self.failures = engine, failures
        self.tokenizer, self.max_model_len = engine.tokenizer, engine.max_model_len

    async def generate(self, prompt_ids, sampling):
        if self.failures > 0:
            self.failures -= 1
            raise EngineError("injected device failure")
        return await self._engine.generate(prompt_ids, sampling)


@pytest.fixture(scope="module")
def engine(tiny_model_dir):
    from ajet_backbone_debug.engine import TransformersEngine

    engine = TransformersEngine.from_path(str(tiny_model_dir), max_model_len=1024, seed=0)
    yield engine
    engine.close()


def make_runner(engine, workflow_class, *, judger=None, timeout=60.0, retries=1, repeats=2):
    config = AjetConfig.model_validate(
        {"rollout": {"max_tokens_per_call": 24, "num_repeat": repeats}}
    )
    gateway = Gateway(engine, config, mode="train")
    return RolloutRunner(
        gateway=gateway,
        make_workflow=workflow_class,
        judger=judger,
        tracker=TimelineMergeTracker.from_config(config),
        settings=RolloutSettings(
            num_repeat=repeats,
            max_concurrency=4,
            episode_timeout=timeout,
            engine_error_retries=retries,
            seed=7,
            trainable_targets=None,
        ),
    )


TASKS = [
    Task(task_id="t1", main_query="What is 2 + 3?"),
    Task(task_id="t2", main_query="Say hello."),
]


def run(runner, tasks=TASKS):
    return asyncio.run(runner.run_tasks(tasks, step=1))


def test_successful_episodes_are_judged_and_become_samples(engine):
    episodes = run(make_runner(engine, AskOnce, judger=LengthJudger()))
    assert len(episodes) == 4 and all(e.ok for e in episodes)
    assert {e.group_key for e in episodes} == {"train/1/t1", "train/1/t2"}
    for episode in episodes:
        assert episode.reward == 1.0 and episode.judger_metrics["chars"] > 0
        assert len(episode.calls) == 1 and len(episode.samples) == 1
        sample, call = episode.samples[0], episode.calls[0]
        assert sample.input_ids == call.prompt_ids + call.response_ids
        assert sum(sample.loss_mask) == len(call.response_ids)
        assert sample.episode_id == episode.episode_id
    metrics = rollout_metrics(episodes, seconds=1.0)
    assert metrics["rollout/episodes_failed"] == 0 and metrics["rollout/llm_calls"] == 4


def test_a_workflow_reward_skips_the_judger_and_lists_are_summed(engine):
    episodes = run(make_runner(engine, OwnReward, judger=BrokenJudger()), TASKS[:1])
    assert all(e.ok and e.reward == 0.75 and e.is_success for e in episodes)


def test_a_raising_workflow_is_recorded_with_its_traceback(engine):
    episodes = run(make_runner(engine, Raises))
    assert all(not e.ok for e in episodes)
    assert episodes[0].error == "workflow raised ValueError: cannot parse task t1"
    assert (
        "Traceback" in episodes[0].error_traceback and "cannot parse" in episodes[0].error_traceback
    )
    assert rollout_metrics(episodes, 1.0)["rollout/episodes_failed"] == 4


def test_a_hanging_workflow_times_out_without_stopping_the_others(engine):
    class Mixed(Workflow):
        async def execute(self, task, tuner):
            if task.task_id == "t1":
                return await Hangs().execute(task, tuner)
            return await OwnReward().execute(task, tuner)

    # Long enough for the tiny model's reply on a loaded machine (t2 must finish), not a speed
    # bound: the hung episodes take exactly this long.
    episodes = run(make_runner(engine, Mixed, timeout=20.0))
    hung = [e for e in episodes if e.task.task_id == "t1"]
    assert all("timed out after 20 s" in e.error and e.metadata["timed_out"] for e in hung)
    assert all(e.ok for e in episodes if e.task.task_id == "t2")
    assert rollout_metrics(episodes, 1.0)["rollout/episodes_timed_out"] == 2


def test_wrong_return_type_and_missing_reward_are_explained(engine):
    wrong = run(make_runner(engine, WrongType), TASKS[:1])[0]
    assert "workflow returned dict" in wrong.error and "WorkflowOutput" in wrong.error
    missing = run(make_runner(engine, AskOnce, judger=None), TASKS[:1])[0]
    assert "no reward" in missing.error and "judger.type" in missing.error


def test_a_raising_judger_fails_only_its_episode(engine):
    episodes = run(make_runner(engine, AskOnce, judger=BrokenJudger()), TASKS[:1])
    assert all(e.error.startswith("judging failed: KeyError") for e in episodes)


def test_engine_errors_are_retried_but_workflow_errors_are_not(engine):
    # Failures are injected after the runner's one-off engine warm-up, into the episode's call.
    flaky = FlakyEngine(engine, failures=0)
    runner = make_runner(flaky, AskOnce, judger=LengthJudger(), repeats=1)
    asyncio.run(runner.warm_up())
    flaky.failures = 1
    episodes = run(runner, TASKS[:1])
    assert episodes[0].ok and episodes[0].metadata["attempts"] == 2
    always = FlakyEngine(engine, failures=10)
    failed = run(
        make_runner(always, AskOnce, judger=LengthJudger(), repeats=1, retries=1), TASKS[:1]
    )[0]
    assert not failed.ok and failed.metadata["attempts"] == 2
    raising = run(make_runner(engine, Raises, repeats=1, retries=3), TASKS[:1])[0]
    assert raising.metadata["attempts"] == 1


def test_sampling_is_reproducible_from_the_run_seed(engine):
    first = run(make_runner(engine, AskOnce, judger=LengthJudger()))
    second = run(make_runner(engine, AskOnce, judger=LengthJudger()))
    key = lambda e: (e.group_key, e.metadata["draw"])  # noqa: E731
    assert [e.calls[0].response_ids for e in sorted(first, key=key)] == [
        e.calls[0].response_ids for e in sorted(second, key=key)
    ]


class NumpyJudger(Judger):
    """numpy's own scalars, as judgers built on numpy return them (numpy 2 names its bool
    scalar type `bool`, not `bool_`)."""

    def judge(self, task, output):
        import numpy as np

        return JudgeResult(reward=np.float32(0.5), is_success=np.True_)


class DictJudger(Judger):
    def judge(self, task, output):
        return {"reward": 1.0}


def test_numpy_rewards_and_truth_values_are_accepted(engine):
    episodes = run(make_runner(engine, AskOnce, judger=NumpyJudger()), TASKS[:1])
    assert all(e.ok and e.reward == 0.5 and e.is_success is True for e in episodes)


def test_a_judger_returning_the_wrong_type_is_named_with_what_it_returned(engine):
    episodes = run(make_runner(engine, AskOnce, judger=DictJudger()), TASKS[:1])
    for episode in episodes:
        assert not episode.ok and episode.metadata["failure_reason"] == "judger_error"
        assert episode.error.startswith("judger DictJudger returned dict ({'reward': 1.0})")
        assert "JudgeResult(reward=..., is_success=...)" in episode.error
