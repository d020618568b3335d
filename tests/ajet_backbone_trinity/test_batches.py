"""Failed episodes never leave a trainer step short: trinity's own buffer, end to end, on CPU.

Trinity's trainer reads exactly ``buffer.train_batch_size`` experiences per step from its queue
and, when fewer ever come, waits ``max_read_timeout`` (30 minutes by default), then ends training
as if it had finished. Here real episode groups (the tiny model, trinity's WorkflowRunner, see
trinity_run.py) go through trinity's real ``ExperiencePipeline`` (our advantage operator) into
trinity's real queue (``QueueStorage``, a Ray actor on a local Ray), and come out through the
trainer's real sample strategy and ``QueueReader``, then trinity's ``to_data_proto`` (the verl
trainer's batch). Stood in for: as in trinity_run.py, the vLLM rollout actor only.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest
import torch
from ajet_backbone_trinity.experiences import ADVANTAGE, PLACEHOLDER, TRAIN
from ajet_backbone_trinity.monitor import AjetRunMonitor
from trinity.algorithm import SAMPLE_STRATEGY
from trinity.buffer.pipelines.experience_pipeline import ExperiencePipeline
from trinity.common.experience import Experience

from ajet_core.cluster.ray_head import LocalRayHead

from .helpers import quickstart_config
from .trinity_run import run_one_task, run_tasks, trinity_config_for

# The module's Ray head starts in a fixture that the first test pays for: LocalRayHead allows
# 3 attempts of up to 300 s each on a loaded machine (the test command runs four suites on two
# cores), so the default 300 s per test would cut its first attempt short.
pytestmark = pytest.mark.timeout(1500)

WORKFLOWS = Path(__file__).resolve().parent / "workflows.py"
# A short batch then fails the read in seconds rather than trinity's 30 minutes; a whole batch is
# read at once, without waiting.
READ_TIMEOUT_S = 20


@pytest.fixture(scope="module")
def local_ray():
    """trinity's queue is a Ray actor. A head of our own (own temp dir and ports, Ray's start-up
    waits stretched): a bare ``ray.init()`` shares Ray's default ports and waits with the other
    clusters the test suites start, and on a loaded machine its queue actor once never started."""
    import ray

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    with LocalRayHead(num_cpus=2) as head:
        ray.init(address=head.address, log_to_driver=False)
        try:
            yield ray
        finally:
            ray.shutdown()


def trainer_reads(trinity_config, steps) -> list[tuple[list[Experience], dict]]:
    """Each explorer step's payloads through trinity's pipeline into its queue, then one trainer
    step's read through the trainer's sample strategy (as ``Trainer._sample_data`` does)."""

    async def run():
        pipeline = ExperiencePipeline(trinity_config)
        await pipeline.prepare()
        strategy = SAMPLE_STRATEGY.get(trinity_config.algorithm.sample_strategy)(
            trinity_config.buffer, **trinity_config.algorithm.sample_strategy_args
        )
        reads = []
        try:
            for train_step, step in enumerate(steps, start=1):
                await pipeline.process_serialized_chunks([payload for *_, payload in step])
                batch, metrics, _ = await strategy.sample(train_step)
                reads.append((batch, metrics))
        finally:
            await pipeline.close()
        return reads

    return asyncio.run(run())


def test_one_failed_episode_in_four_keeps_every_trainer_batch_whole(
    tmp_path, local_ray, tiny_model_dir, quickstart_data, rollout_engine
):
    from trinity.trainer.verl.utils import to_data_proto

    ajet = quickstart_config(
        tiny_model_dir,
        quickstart_data,
        workflow={"name": f"{WORKFLOWS}:FlakyAgent"},
        rollout={"equal_reward_groups": "keep"},
        trainer={"total_epochs": 2},  # 3 tasks, 2 per step: the second step crosses an epoch
    )
    config, trinity_config = trinity_config_for(tmp_path, ajet)
    buffer = trinity_config.buffer.trainer_input.experience_buffer
    assert buffer.storage_type == "queue"  # what every translated mode trains from
    buffer.max_read_timeout = READ_TIMEOUT_S
    train_batch_size = trinity_config.buffer.train_batch_size
    assert train_batch_size == config.rollout.batch_size * config.rollout.num_repeat == 8

    steps, _ = run_tasks(trinity_config, rollout_engine, step=1, batches=2)
    for step in steps:
        for _, runner, status, _ in step:
            episodes = runner.workflow_instance.last_group.episodes
            assert [e.ok for e in episodes] == [True, False, True, True]
            assert status.ok, status.message
    reads = trainer_reads(trinity_config, steps)

    assert [len(batch) for batch, _ in reads] == [train_batch_size, train_batch_size]
    for explorer_step, (batch, _) in enumerate(reads, start=1):
        assert {e.eid.batch for e in batch} == {explorer_step}
        placeholders = [e for e in batch if e.info.get(PLACEHOLDER)]
        assert len(placeholders) == config.rollout.batch_size  # one failed draw per group
        for placeholder in placeholders:
            assert placeholder.info[TRAIN] is False and placeholder.info[ADVANTAGE] == 0.0
            assert "the flaky agent fails its second draw" in placeholder.info["ajet_error"]
            assert not placeholder.action_mask.any() and not placeholder.advantages.any()
            assert placeholder.eid.run == 1  # the failed draw
        trained = [e for e in batch if not e.info.get(PLACEHOLDER)]
        assert all(e.info[TRAIN] for e in trained) and any(e.advantages.any() for e in trained)
        # The verl trainer's batch: the placeholders pad like any row and train no token.
        data = to_data_proto(batch, rollout_engine.tokenizer.pad_token_id or 0, None, None)
        assert len(data) == train_batch_size
        assert int(data.batch["response_mask"].sum()) == sum(
            int(e.action_mask.sum()) for e in trained
        )

    # Our metrics count them, step by step, when the explorer logs the step.
    run_dir = Path(trinity_config.monitor.monitor_args["ajet_run_dir"])
    names = (trinity_config.project, trinity_config.group, trinity_config.name)
    monitor = AjetRunMonitor(*names, "explorer", trinity_config)
    for explorer_step in (1, 2):
        monitor.log({"rollout/model_version": explorer_step - 1}, step=explorer_step)
    monitor.close()
    ours = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [line["step"] for line in ours] == [1, 2]
    for line in ours:
        assert line["samples/placeholders"] == config.rollout.batch_size
        assert line["rollout/episodes_failed"] == config.rollout.batch_size
        assert line["rollout/episodes"] == train_batch_size


def test_a_group_whose_every_episode_fails_still_sends_its_share(
    tmp_path, tiny_model_dir, quickstart_data, rollout_engine
):
    """No episode of the task produced a sample: the group sends one placeholder per draw (it
    used to raise, and trinity's retries end with no experience for the task)."""
    ajet = quickstart_config(
        tiny_model_dir, quickstart_data, workflow={"name": f"{WORKFLOWS}:BrokenAgent"}
    )
    config, trinity_config = trinity_config_for(tmp_path, ajet)
    _, runner, status, experiences, _ = run_one_task(trinity_config, rollout_engine)
    assert status.ok, status.message
    episodes = runner.workflow_instance.last_group.episodes
    assert len(episodes) == config.rollout.num_repeat and not any(e.ok for e in episodes)
    assert len(experiences) == config.rollout.num_repeat
    assert all(e.info[PLACEHOLDER] and not e.action_mask.any() for e in experiences)
    assert sorted(e.eid.run for e in experiences) == list(range(config.rollout.num_repeat))
    # trinity's trainer can batch them even alone.
    assert all(e.tokens.dtype == torch.int32 and len(e.tokens) == 2 for e in experiences)


def test_multi_sample_surplus_does_not_pile_up_in_sync_mode(
    tmp_path, local_ray, tiny_model_dir, quickstart_data, rollout_engine
):
    """Two samples per episode: each step sends 16 experiences for a batch of 8. Read through
    trinity's queue by the trainer's sample strategy, step 2 trains on step 2's rollouts (the
    surplus of step 1, one weight version old, is dropped), and the staleness is measured."""
    ajet = quickstart_config(
        tiny_model_dir,
        quickstart_data,
        workflow={"name": f"{WORKFLOWS}:TwoConversationsAgent"},
        rollout={"equal_reward_groups": "keep"},
        trainer={"total_epochs": 2},
        backbone={"mode": "sync"},
    )
    config, trinity_config = trinity_config_for(tmp_path, ajet)
    trinity_config.buffer.trainer_input.experience_buffer.max_read_timeout = READ_TIMEOUT_S
    steps, _ = run_tasks(trinity_config, rollout_engine, step=1, batches=2)
    sent = [sum(len(Experience.deserialize_many(p)) for *_, p in step) for step in steps]
    assert sent == [16, 16]
    reads = trainer_reads(trinity_config, steps)
    for explorer_step, (batch, metrics) in enumerate(reads, start=1):
        assert len(batch) == trinity_config.buffer.train_batch_size
        assert {e.eid.batch for e in batch} == {explorer_step}  # this step's own rollouts
        assert metrics["samples/staleness_max"] == metrics["samples/staleness_mean"] == 0
