"""An AgentJet episode group run by Trinity-RFT's own machinery, on the tiny model, on CPU.

The chain is trinity's from end to end: the translated config passes trinity's ``load_config`` and
``check_and_update``; trinity's file reader turns our materialised taskset into trinity ``Task``s
(our workflow class resolved from its dotted path by trinity's registry); trinity's
``WorkflowRunner`` builds the workflow with ``Task.to_workflow`` around trinity's ``ModelWrapper``,
runs it, stamps the experience ids and serialises the experiences. Stood in for: the ``vllm``
import and Ray's actor lookup (``ray.get_actor``), which returns the tiny model behind trinity's
``InferenceModel`` interface (tests/ajet_backbone_trinity/standins.py).
"""

from __future__ import annotations

import asyncio
import copy
import json
import statistics
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from .helpers import quickstart_config
from .standins import InProcessActor, make_rollout_model_class, vllm_import_stand_in
from .trinity_run import STEP, episode_requests, run_one_task, trinity_config_for

with vllm_import_stand_in():  # trinity's model wrapper and runner import vLLM at module level
    import trinity.common.models.allocator as trinity_allocator
    from trinity.explorer.workflow_runner import WorkflowRunner

from ajet_backbone_trinity.experiences import ADVANTAGE, EPISODE_ID, TRAIN
from ajet_backbone_trinity.monitor import AjetRunMonitor
from ajet_backbone_trinity.tasks import task_from_row, write_taskset
from ajet_backbone_trinity.translation import ADVANTAGE_FN_PATH
from ajet_backbone_trinity.workflow import AjetEpisodeWorkflow
from trinity.algorithm import ADVANTAGE_FN
from trinity.buffer import get_buffer_reader
from trinity.buffer.operators.experience_operator import ensure_v1_operator

from ajet_core.config.plugin_sections import validate_plugin_sections
from ajet_core.plugins.manager import get_plugin_manager
from ajet_core.training import components
from ajet_core.training.records import record_path

TRINITY_CONFIGS: dict = {}  # the validated trinity config behind the module's `group`


@pytest.fixture(scope="module")
def group(tmp_path_factory, tiny_model_dir, quickstart_data, rollout_engine):
    tmp_path = tmp_path_factory.mktemp("trinity_group")
    config, trinity_config = trinity_config_for(
        tmp_path, quickstart_config(tiny_model_dir, quickstart_data)
    )
    task, runner, status, experiences, actor = run_one_task(trinity_config, rollout_engine)
    TRINITY_CONFIGS["group"] = trinity_config
    return config, task, runner, status, experiences, actor


def core_grpo_advantages(episodes) -> dict[str, float]:
    rewards = [e.reward for e in episodes]
    mean, std = statistics.fmean(rewards), statistics.stdev(rewards)
    return {e.episode_id: (e.reward - mean) / (std + 1e-6) for e in episodes}


def test_trinity_runs_the_workflow_from_its_dotted_path(group):
    config, task, runner, status, _, _ = group
    assert task.workflow is AjetEpisodeWorkflow  # resolved by trinity's registry from the taskset
    assert isinstance(runner.workflow_instance, AjetEpisodeWorkflow)
    assert status.ok, status.message
    assert status.completed_runs == status.total_runs == config.rollout.num_repeat
    episodes = runner.workflow_instance.last_group.episodes
    assert len(episodes) == config.rollout.num_repeat
    assert all(e.ok for e in episodes), [e.error for e in episodes]
    assert {e.task.task_id for e in episodes} == {task_from_row(task.raw_task).task_id}
    assert len({e.reward for e in episodes}) > 1, "the group needs distinct rewards for this test"


def test_experiences_match_the_gateway_record_token_by_token(group):
    config, _, runner, _, experiences, _ = group
    episodes = {e.episode_id: e for e in runner.workflow_instance.last_group.episodes}
    advantages = core_grpo_advantages(list(episodes.values()))
    # The quickstart agent makes one call per episode, so one sample and one experience each.
    assert len(experiences) == len(episodes)
    for experience in experiences:
        episode = episodes[experience.info[EPISODE_ID]]
        (call,) = episode.calls
        assert experience.tokens.tolist() == call.prompt_ids + call.response_ids
        assert experience.prompt_length == len(call.prompt_ids)
        assert experience.action_mask.tolist() == [bool(m) for m in call.response_mask]
        expected_logprobs = [
            lp if m else 0.0 for lp, m in zip(call.response_logprobs, call.response_mask)
        ]
        assert torch.allclose(experience.logprobs, torch.tensor(expected_logprobs), atol=1e-6)
        assert experience.reward == pytest.approx(episode.reward)
        assert experience.info[TRAIN] is True
        assert experience.info[ADVANTAGE] == pytest.approx(advantages[episode.episode_id], abs=1e-6)
        assert torch.allclose(
            experience.advantages,
            advantages[episode.episode_id] * experience.action_mask.float(),
            atol=1e-6,
        )
        # trinity's ids: the group is (explorer step, task), the run is the episode's draw
        assert (experience.eid.batch, experience.eid.task) == (STEP, 0)
        assert experience.eid.run == episode.metadata["draw"]
        assert experience.metrics["rollout/reward_mean"] == pytest.approx(episode.reward)
    assert sorted(e.eid.run for e in experiences) == list(range(config.rollout.num_repeat))


def test_the_gateway_prompts_are_exactly_what_trinitys_model_generated_from(group):
    config, _, runner, _, _, actor = group
    calls = [c for e in runner.workflow_instance.last_group.episodes for c in e.calls]
    requests = episode_requests(actor)
    assert len(requests) == len(calls)
    # Each call's prompt is exactly what the model got, and its sampled tokens exactly what
    # came back.
    sent = sorted(
        (r["prompt_token_ids"], g.token_ids, g.logprobs) for r in requests for g in r["generations"]
    )
    recorded = sorted(
        (
            c.prompt_ids,
            [t for t, m in zip(c.response_ids, c.response_mask) if m],
            [lp for lp, m in zip(c.response_logprobs, c.response_mask) if m],
        )
        for c in calls
    )
    assert sent == recorded
    for request in requests:
        # Training sampling comes from the rollout config, with one logprob per sampled token.
        assert request["temperature"] == config.rollout.temperature
        assert request["max_tokens"] <= config.rollout.max_tokens_per_call
        assert request["logprobs"] == 0 and request["seed"] is not None
    assert len({r["seed"] for r in requests}) == len(requests)


def test_logprobs_are_the_policy_at_the_sampling_temperature(group, rollout_engine):
    """Recompute log_softmax(logits / T) with the model: what a trainer would compare against."""
    config, _, _, _, experiences, _ = group
    model = rollout_engine.model
    temperature = config.rollout.temperature
    for experience in experiences:
        tokens = experience.tokens.long().unsqueeze(0)
        with torch.no_grad():
            logits = model(tokens).logits[0].float() / temperature
        logprobs = (
            torch.log_softmax(logits[:-1], dim=-1).gather(1, tokens[0, 1:].unsqueeze(1)).squeeze(1)
        )
        start = experience.prompt_length
        mask = experience.action_mask
        recomputed = logprobs[start - 1 :][mask]
        assert torch.allclose(recomputed, experience.logprobs[mask], atol=2e-4)


def test_trinitys_advantage_functions_agree_with_the_core(group):
    _, _, _, _, experiences, _ = group
    # Ours, built as trinity's experience pipeline builds its advantage operator: resolved by the
    # registry from the dotted path the translation writes, wrapped as a v1 operator.
    operator = ensure_v1_operator(ADVANTAGE_FN.get(ADVANTAGE_FN_PATH)())
    ours, metrics = asyncio.run(operator.process(copy.deepcopy(experiences)))
    assert metrics["group_advantages/kept_experiences/mean"] == len(experiences)
    # Trinity's own GRPO: the same numbers while every episode is one experience.
    theirs, _ = ADVANTAGE_FN.get("grpo")()(copy.deepcopy(experiences))
    by_uid = {e.eid.uid: e for e in theirs}
    for experience in ours:
        assert torch.allclose(
            experience.advantages, by_uid[experience.eid.uid].advantages, atol=1e-5
        )
        assert torch.allclose(
            experience.advantages,
            experience.info[ADVANTAGE] * experience.action_mask.float(),
            atol=1e-6,
        )


def test_an_equal_reward_group_travels_but_is_not_trained(
    tmp_path, tiny_model_dir, quickstart_data, rollout_engine
):
    from .helpers import JUDGERS

    ajet = quickstart_config(
        tiny_model_dir,
        quickstart_data,
        judger={"type": f"{JUDGERS}:ConstantJudger"},
        rollout={"num_repeat": 2},
    )
    _, trinity_config = trinity_config_for(tmp_path, ajet)
    _, runner, status, experiences, _ = run_one_task(trinity_config, rollout_engine)
    # Trinity needs an experience per task, so the group is returned, flagged, with zero advantage.
    assert status.ok, status.message
    assert runner.workflow_instance.last_group.stats.dropped_equal_reward == 1
    assert experiences and all(e.info[TRAIN] is False for e in experiences)
    assert all(float(e.advantages.abs().sum()) == 0.0 for e in experiences)
    # They stay in the batch with advantage 0: trinity's trainer reads whole batches.
    kept, metrics = ADVANTAGE_FN.get(ADVANTAGE_FN_PATH)()(experiences)
    assert len(kept) == len(experiences) and metrics[
        "group_advantages/dropped_experiences/mean"
    ] == len(experiences)
    assert all(float(e.advantages.abs().sum()) == 0.0 for e in kept)


def test_an_eval_task_reports_eval_metrics_and_no_training_data(
    tmp_path, tiny_model_dir, quickstart_data, rollout_engine
):
    ajet = quickstart_config(
        tiny_model_dir, quickstart_data, eval={"before_train": True, "num_repeat": 2}
    )
    config, trinity_config = trinity_config_for(tmp_path, ajet)
    write_taskset(
        components.instantiate(
            validate_plugin_sections(config, get_plugin_manager())["task_reader"]
        ),
        "validation",
        tmp_path / "tasks",
    )
    actor = make_rollout_model_class()(trinity_config.explorer.rollout_model, rollout_engine)

    async def run():
        reader = get_buffer_reader(trinity_config.buffer.explorer_input.eval_tasksets[0])
        (task,) = await reader.read()
        task = replace(task, batch_id=f"{STEP}/ajet_validation", task_id=0)
        runner = WorkflowRunner(trinity_config, rollout_model_id=0)
        return (
            task,
            runner,
            *(await runner.run_task(task, batch_id=task.batch_id, repeat_times=task.repeat_times)),
        )

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            trinity_allocator.ray, "get_actor", lambda name, namespace=None: InProcessActor(actor)
        )
        task, runner, status, payload = asyncio.run(run())
    assert task.is_eval and status.ok, status.message
    assert payload == b""  # trinity keeps eval experiences out of the buffer
    episodes = runner.workflow_instance.last_group.episodes
    assert len(episodes) == 2 and all(e.group_key.startswith("eval/") for e in episodes)
    rewards = sorted(metric["eval/reward_mean"] for metric in status.metrics)
    assert rewards == sorted(e.reward for e in episodes)
    # Eval sampling is the eval config's (greedy by default), not the training temperature.
    assert {r["temperature"] for r in episode_requests(actor)} == {config.eval.temperature}


def test_a_merged_conversation_keeps_the_user_turn_untrained(
    tmp_path, tiny_model_dir, quickstart_data, rollout_engine
):
    workflows = Path(__file__).resolve().parent / "workflows.py"
    ajet = quickstart_config(
        tiny_model_dir,
        quickstart_data,
        workflow={"name": f"{workflows}:TwoTurnAgent"},
        rollout={"num_repeat": 2, "equal_reward_groups": "keep"},
    )
    _, trinity_config = trinity_config_for(tmp_path, ajet)
    _, runner, status, experiences, _ = run_one_task(trinity_config, rollout_engine)
    assert status.ok, status.message
    episodes = {e.episode_id: e for e in runner.workflow_instance.last_group.episodes}
    assert len(experiences) == 2  # one merged sample per episode
    for experience in experiences:
        episode = episodes[experience.info[EPISODE_ID]]
        assert episode.drift_fallbacks == 0
        first, second = episode.calls
        assert second.parent_call_id == first.call_id  # the second prompt reuses the first's tokens
        assert experience.tokens.tolist() == second.prompt_ids + second.response_ids
        assert experience.prompt_length == len(first.prompt_ids)
        between = len(second.prompt_ids) - len(first.prompt_ids) - len(first.response_ids)
        assert between > 0
        assert experience.action_mask.tolist() == (
            [bool(m) for m in first.response_mask]
            + [False] * between
            + [bool(m) for m in second.response_mask]
        )
        expected = (
            [lp if m else 0.0 for lp, m in zip(first.response_logprobs, first.response_mask)]
            + [0.0] * between
            + [lp if m else 0.0 for lp, m in zip(second.response_logprobs, second.response_mask)]
        )
        assert torch.allclose(experience.logprobs, torch.tensor(expected), atol=1e-6)


def test_an_agentscope_1_workflow_runs_unchanged_under_trinity(
    tmp_path, tiny_model_dir, quickstart_data, rollout_engine
):
    """The AgentScope 1.x tutorial agent (ReActAgent, a Python tool) through trinity's runner."""
    ajet = quickstart_config(
        tiny_model_dir,
        quickstart_data,
        workflow={
            "name": "tutorial/example_math_agent_agentscope/math_agent_v1.py:ReActMathAgent",
            "options": {"max_turns": 2},
        },
        rollout={"num_repeat": 2, "equal_reward_groups": "keep", "max_tokens_per_call": 24},
    )
    _, trinity_config = trinity_config_for(tmp_path, ajet)
    _, runner, status, experiences, actor = run_one_task(trinity_config, rollout_engine)
    assert status.ok, status.message
    episodes = {e.episode_id: e for e in runner.workflow_instance.last_group.episodes}
    assert all(e.ok for e in episodes.values()), [e.error for e in episodes.values()]
    assert experiences and len(episode_requests(actor)) == sum(
        len(e.calls) for e in episodes.values()
    )
    for experience in experiences:
        episode = episodes[experience.info[EPISODE_ID]]
        assert 1 <= len(episode.calls) <= 2  # max_turns
        # Each experience is one of the episode's merged chains: it ends with a recorded call.
        tokens = experience.tokens.tolist()
        assert any(tokens == c.prompt_ids + c.response_ids for c in episode.calls)
        assert episode.drift_fallbacks == 0


def test_the_explorer_monitor_logs_our_metrics_and_records_for_the_step(group):
    """Trinity's explorer logging step N makes our monitor log the step's episodes, our way."""
    _, _, runner, _, _, _ = group
    trinity_config = TRINITY_CONFIGS["group"]
    run_dir = Path(trinity_config.monitor.monitor_args["ajet_run_dir"])
    episodes = runner.workflow_instance.last_group.episodes
    assert list((run_dir / "trinity_episodes").glob(f"train_step_{STEP:06d}/*.jsonl"))
    monitor = AjetRunMonitor(
        trinity_config.project,
        trinity_config.group,
        trinity_config.name,
        "explorer",
        trinity_config,
    )
    monitor.log({"rollout/model_version": 0}, step=STEP)
    monitor.close()
    (ours,) = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert ours["step"] == STEP
    assert ours["rollout/reward_mean"] == pytest.approx(
        statistics.fmean(e.reward for e in episodes)
    )
    assert ours["rollout/episodes"] == len(episodes)
    assert ours["samples/count"] == len(episodes)  # the group was kept: one sample per episode
    assert record_path(run_dir, STEP, "train").exists()  # what `ajet view` reads
    assert not (run_dir / "trinity_episodes" / f"train_step_{STEP:06d}").exists()
    (theirs,) = [
        json.loads(line) for line in (run_dir / "trinity_metrics.jsonl").read_text().splitlines()
    ]
    assert theirs == {"step": STEP, "role": "explorer", "rollout/model_version": 0}
