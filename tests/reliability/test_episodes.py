"""Episodes never take the run down (issue 18, item 2), in both isolation modes.

Every misbehaviour below ended a whole run before: each must now be one failed episode with a
named reason, counted under ``rollout/episodes_failed/<reason>``, while the runner returns.
"""

from __future__ import annotations

import math
import subprocess
import sys

import pytest

from ajet_core import metrics as m
from ajet_core.rollout.advantages import assign_grpo_advantages
from ajet_core.rollout.summary import rollout_metrics
from ajet_core.schema import EpisodeRecord, Task

from .conftest import run_episodes
from .misbehaving import AsyncHangingJudger, NanJudger, NeverReturnsJudger, StringJudger

BOTH = pytest.mark.parametrize("isolation", ["inprocess", "process"])


def only_failure(episodes, reason: str) -> EpisodeRecord:
    (episode,) = episodes
    assert not episode.ok and episode.reward is None and not episode.samples
    assert episode.metadata["failure_reason"] == reason, episode.error
    metrics = rollout_metrics(episodes, seconds=1.0)
    assert metrics[m.EPISODES_FAILED] == 1 and metrics[m.failed_metric(reason)] == 1
    assert math.isfinite(metrics[m.REWARD_STD])
    return episode


@BOTH
@pytest.mark.parametrize(
    ("workflow", "reason", "words"),
    [
        ("NanReward", m.FAILED_BAD_REWARD, "finite"),
        ("InfReward", m.FAILED_BAD_REWARD, "finite"),
        ("StringReward", m.FAILED_BAD_REWARD, "string"),
        ("StringSuccess", m.FAILED_BAD_REWARD, "string"),
        ("SysExit", m.FAILED_WORKFLOW_EXIT, "sys.exit(0)"),
        ("RaisesKeyboardInterrupt", m.FAILED_WORKFLOW_EXIT, "KeyboardInterrupt"),
        ("RaisesCancelled", m.FAILED_WORKFLOW_CANCELLED, "CancelledError"),
    ],
)
def test_a_misbehaving_workflow_is_one_failed_episode(engine, isolation, workflow, reason, words):
    episode = only_failure(run_episodes(engine, workflow, isolation=isolation), reason)
    assert words in episode.error


@BOTH
@pytest.mark.parametrize(
    ("judger", "words"), [(NanJudger(), "finite"), (StringJudger(), "a reward must be a number")]
)
def test_a_judger_reward_that_is_not_a_finite_number_fails_the_episode(
    engine, isolation, judger, words
):
    episode = only_failure(
        run_episodes(engine, "ForJudger", isolation=isolation, judger=judger), m.FAILED_BAD_REWARD
    )
    assert words in episode.error


@BOTH
def test_a_workflow_that_swallows_cancellation_times_out_and_its_reward_is_dropped(
    engine, isolation
):
    episode = only_failure(
        run_episodes(engine, "SwallowsCancellation", isolation=isolation, timeout=0.5),
        m.FAILED_TIMEOUT,
    )
    assert episode.metadata["timed_out"] and "rollout.episode_timeout" in episode.error


@BOTH
@pytest.mark.parametrize("judger", [NeverReturnsJudger(), AsyncHangingJudger()])
def test_judging_counts_inside_the_episode_timeout(engine, isolation, judger):
    try:
        episode = only_failure(
            run_episodes(engine, "InstantForJudger", isolation=isolation, judger=judger, timeout=4),
            m.FAILED_TIMEOUT,
        )
    finally:
        NeverReturnsJudger.release.set()
        NeverReturnsJudger.release.clear()
    assert "while judging" in episode.error


def test_process_isolation_contains_os_exit(engine):
    episodes = run_episodes(engine, "OsExit", isolation="process")
    episode = only_failure(episodes, m.FAILED_WORKER_DIED)
    assert "exited with code 3" in episode.error


def test_os_exit_in_an_inprocess_workflow_fails_its_episode_not_the_run(engine):
    """This test's own process is the run's: without the guard, os._exit(3) would end pytest."""
    episodes = run_episodes(engine, "OsExit", isolation="inprocess")
    episode = only_failure(episodes, m.FAILED_WORKFLOW_EXIT)
    assert "os._exit(3)" in episode.error and "rollout.isolation: process" in episode.error
    # After an in-process workflow has run, os._exit outside one still ends the process with
    # its code (the `ajet` command's own exit uses it).
    code = (
        "import asyncio, os, types\n"
        "from ajet_core import Workflow, WorkflowOutput, WorkflowTask\n"
        "from ajet_core.rollout.isolation import InProcessExecutor\n"
        "class Done(Workflow):\n"
        "    async def execute(self, task, tuner):\n"
        "        return WorkflowOutput(reward=1.0)\n"
        "episode = types.SimpleNamespace(tuner=None)\n"
        "asyncio.run(InProcessExecutor(Done).execute(WorkflowTask(), episode))\n"
        "os._exit(7)\n"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False, timeout=120).returncode == 7


def test_process_isolation_kills_a_workflow_blocked_in_time_sleep(engine):
    only_failure(
        run_episodes(engine, "SleepsForever", isolation="process", timeout=3), m.FAILED_TIMEOUT
    )


def test_process_isolation_keeps_other_episodes_going_while_one_blocks(engine, tmp_path):
    # The blocker holds its thread in time.sleep until the good episode has finished its LLM call
    # and written the flag: that only happens if the good episode runs while the blocker blocks.
    episodes = _blocker_and_good(engine, str(tmp_path / "flag"))
    assert all(e.ok for e in episodes), [e.error for e in episodes]
    assert episodes[0].metadata["saw_flag"] is True


def _blocker_and_good(engine, flag):
    import asyncio

    from ajet_core.config.models import AjetConfig
    from ajet_core.gateway.core import Gateway
    from ajet_core.rollout.isolation import ProcessExecutor
    from ajet_core.rollout.runner import RolloutRunner, RolloutSettings

    from .conftest import MISBEHAVING

    def config_for(name):
        return AjetConfig.model_validate(
            {
                "workflow": {"name": f"{MISBEHAVING}:{name}"},
                "rollout": {"max_tokens_per_call": 8, "isolation": "process"},
            }
        )

    def runner(gateway, name):
        return RolloutRunner(
            gateway=gateway,
            make_workflow=None,
            judger=None,
            tracker=None,
            settings=RolloutSettings(1, 2, 300.0, 0, 7, None),
            make_executor=lambda: ProcessExecutor(config_for(name), None),
        )

    async def go():
        gateway = Gateway(engine, config_for("Good"), mode="train")
        task = Task(task_id="t", metadata={"flag": flag})
        try:
            return await asyncio.gather(
                runner(gateway, "BlocksTheThread").run_episode(task, step=1, mode="train", draw=0),
                runner(gateway, "Good").run_episode(task, step=1, mode="train", draw=1),
            )
        finally:
            await gateway.stop_http()

    return asyncio.run(go())


def test_non_finite_rewards_never_reach_advantages_or_statistics():
    # Records from elsewhere (the spool, older runs) may still carry a NaN: it counts as failed.
    def episode(reward, i):
        return EpisodeRecord(
            episode_id=str(i), task=Task(task_id="t"), group_key="g", reward=reward
        )

    episodes = [episode(r, i) for i, r in enumerate([1.0, 0.0, float("nan"), float("inf")])]
    kept, stats = assign_grpo_advantages(episodes)
    assert [e.episode_id for e in kept] == ["0", "1"]
    assert all(math.isfinite(e.advantage) for e in kept)
    metrics = rollout_metrics(episodes, seconds=1.0)
    assert math.isfinite(metrics[m.REWARD_MEAN]) and math.isfinite(metrics[m.REWARD_STD])


class ColdStartEngine:
    """The real engine whose first call is slow, as a cold engine's is (allocation, compilation,
    a server still loading): longer than the episode timeout below."""

    def __init__(self, engine, cold_seconds: float) -> None:
        self._engine, self.cold_seconds, self.calls = engine, cold_seconds, 0
        self.tokenizer, self.max_model_len = engine.tokenizer, engine.max_model_len

    async def generate(self, prompt_ids, sampling):
        import asyncio

        self.calls += 1
        if self.calls == 1:
            await asyncio.sleep(self.cold_seconds)
        return await self._engine.generate(prompt_ids, sampling)


def test_the_engines_first_call_warm_up_does_not_count_against_episode_timeouts(engine):
    # The warm-up takes longer than the episode timeout; the timeout itself leaves room for an
    # 8-token episode on a machine busy with other test suites (4 s did not, once).
    cold = ColdStartEngine(engine, cold_seconds=25)
    episodes = run_episodes(cold, "Good", isolation="inprocess", timeout=20, repeats=2)
    assert all(e.ok for e in episodes), [e.error for e in episodes]
    assert cold.calls == 3  # the warm-up, then one call per episode
