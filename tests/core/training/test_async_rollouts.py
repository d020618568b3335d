"""AsyncRollouts alone: which groups start when, and which a step takes (no model: each group's
episodes end when the test says so)."""

from __future__ import annotations

import asyncio

from ajet_core.rollout.advantages import assign_grpo_advantages
from ajet_core.schema import EpisodeRecord, Task
from ajet_core.training.async_rollouts import AsyncRollouts

# Tasks whose two draws get equal rewards (no signal); the others differ.
FLAT = {"flat0", "flat1", "flat2"}


class Groups:
    """run_group for AsyncRollouts: each group waits until released, then returns two episodes."""

    def __init__(self) -> None:
        self.started: list[tuple[str, int, int]] = []  # (task, nominal step, version at start)
        self.release: dict[str, asyncio.Event] = {}
        self.rollouts: AsyncRollouts | None = None

    async def run(self, task: Task, nominal_step: int) -> list[EpisodeRecord]:
        assert self.rollouts is not None
        self.started.append((task.task_id, nominal_step, self.rollouts.version))
        event = self.release.setdefault(task.task_id, asyncio.Event())
        await event.wait()
        rewards = (1.0, 1.0) if task.task_id in FLAT else (0.0, 1.0)
        key = f"train/{nominal_step}/{task.task_id}"
        return [
            EpisodeRecord(episode_id=f"{task.task_id}-{d}", task=task, group_key=key, reward=r)
            for d, r in enumerate(rewards)
        ]

    def done(self, *task_ids: str) -> None:
        for task_id in task_ids:
            self.release.setdefault(task_id, asyncio.Event()).set()


def make(task_ids: list[str], *, batch_size: int, max_staleness: int, refill: bool = False):
    groups, pending = Groups(), [Task(task_id=t) for t in task_ids]
    rollouts = AsyncRollouts(
        run_group=groups.run,
        judge_group=lambda episodes: assign_grpo_advantages(episodes, equal_reward_groups="drop"),
        take_task=lambda: pending.pop(0) if pending else None,
        batch_size=batch_size,
        max_staleness=max_staleness,
        refill=refill,
    )
    groups.rollouts = rollouts
    return groups, rollouts


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


def ids(groups) -> list[str]:
    return [g.task.task_id for g in groups]


def test_no_staleness_starts_the_next_batch_only_on_the_new_weights():
    async def scenario():
        groups, rollouts = make(["a", "b", "c", "d"], batch_size=2, max_staleness=0)
        rollouts.start()
        await settle()
        assert [s[0] for s in groups.started] == ["a", "b"]  # one batch, no more
        groups.done("b", "a")
        batch = await rollouts.next_batch()
        assert ids(batch.groups) == ["a", "b"]  # start order inside the step
        await settle()
        assert len(groups.started) == 2  # still version 0: nothing new starts
        await rollouts.finish_step(1)
        await settle()
        assert groups.started[2:] == [("c", 2, 1), ("d", 2, 1)]
        await rollouts.close()

    asyncio.run(scenario())


def test_a_slow_group_holds_back_only_itself_and_others_run_ahead():
    async def scenario():
        groups, rollouts = make(["slow", "b", "c", "d", "e"], batch_size=1, max_staleness=1)
        rollouts.start()
        await settle()
        assert [s[0] for s in groups.started] == ["slow", "b"]  # (k + 1) * batch_size places
        groups.done("b")
        assert ids((await rollouts.next_batch()).groups) == ["b"]
        await rollouts.finish_step(1)
        await settle()
        groups.done("c")
        assert ids((await rollouts.next_batch()).groups) == ["c"]
        await rollouts.finish_step(2)
        await settle()
        # The slow group still holds a place; its tasks are what a checkpoint would keep.
        assert rollouts.state_dict()["outstanding_tasks"][0]["task_id"] == "slow"
        groups.done("slow")
        batch = await rollouts.next_batch()
        assert ids(batch.groups) == ["slow"] and batch.groups[0].started_version == 0
        await rollouts.close()

    asyncio.run(scenario())


def test_a_step_is_batch_size_groups_as_in_sync_mode_and_refill_waits_for_signal():
    async def scenario(refill: bool):
        groups, rollouts = make(
            ["flat0", "b", "flat1", "c"], batch_size=2, max_staleness=1, refill=refill
        )
        rollouts.start()
        await settle()
        groups.done("flat0", "b", "flat1", "c")
        await settle()
        batch = await rollouts.next_batch()
        await rollouts.close()
        return ids(batch.groups), ids(batch.discarded)

    # drop: the first two to complete, of which one has signal (as a sync step of two tasks).
    assert asyncio.run(scenario(False)) == (["b"], ["flat0"])
    # refill: groups until two have signal; the flat ones in between are counted as discarded.
    assert asyncio.run(scenario(True)) == (["b", "c"], ["flat0", "flat1"])


def test_the_last_short_step_and_then_the_end():
    async def scenario():
        groups, rollouts = make(["a", "b", "c"], batch_size=2, max_staleness=1)
        rollouts.start()
        groups.done("a", "b", "c")
        first = await rollouts.next_batch()
        await rollouts.finish_step(1)
        last = await rollouts.next_batch()
        await rollouts.finish_step(2)
        end = await rollouts.next_batch()
        await rollouts.close()
        return ids(first.groups), ids(last.groups), end

    assert asyncio.run(scenario()) == (["a", "b"], ["c"], None)
