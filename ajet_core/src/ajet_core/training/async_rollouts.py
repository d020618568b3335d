"""Rollouts that run ahead of the trainer, at most ``trainer.max_staleness`` versions ahead.

The asynchronous training loop (``trainer.mode: async``) takes its batches from here. Groups (one
task's ``num_repeat`` episodes) are started one by one as long as the groups *outstanding* —
started and neither trained yet nor discarded — number fewer than ``(max_staleness + 1) *
batch_size``. A step's groups stay outstanding until the trainer has published the new weights
(:meth:`AsyncRollouts.finish_step`), so with ``max_staleness = 0`` the next batch starts only on
the new weights and the loop trains exactly what the synchronous loop trains; with ``k > 0`` up
to ``k`` further batches are already rolling out while the trainer trains.

A group is judged (GRPO advantages) the moment its last episode ends, and a step takes groups
in the order they completed: a slow episode holds back only its own group. As in the
synchronous loop, a step is ``batch_size`` groups, of which those without signal (equal
rewards, too few valid episodes) train nothing and free their place at once. With ``refill``
(``rollout.equal_reward_groups: refill``) a step instead waits for ``batch_size`` groups with
signal, closing after ``MAX_GROUPS_PER_STEP`` batches' worth of groups (the synchronous refill's
bound), so a run where every episode fails still makes steps (and fails as sync mode does).

State for checkpoints (:meth:`state_dict`): the tasks of every outstanding group, which a resumed
run starts again before it reads on — a crash loses the in-flight episodes, never their tasks.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from ajet_core.rollout.advantages import GroupStats
from ajet_core.schema import EpisodeRecord, Task

log = logging.getLogger(__name__)

# A step closes once this many batches' worth of groups completed without enough signal (the
# synchronous loop's refill asks for at most two extra rounds: three in all).
MAX_GROUPS_PER_STEP = 3

RunGroup = Callable[[Task, int], Awaitable[list[EpisodeRecord]]]
JudgeGroup = Callable[[list[EpisodeRecord]], tuple[list[EpisodeRecord], GroupStats]]


@dataclass
class Group:
    """One task's draws, from start to training."""

    index: int  # the order it was started in, over the whole run
    task: Task
    started_version: int
    episodes: list[EpisodeRecord] = field(default_factory=list)
    kept: list[EpisodeRecord] = field(default_factory=list)  # with advantages; [] = no signal
    stats: GroupStats = field(default_factory=GroupStats)


@dataclass
class AsyncBatch:
    """What one training step takes: its groups with signal, and the groups discarded since the
    last step (their episodes count in the step's rollout metrics)."""

    groups: list[Group]
    discarded: list[Group]
    # How long the trainer waited for this batch, and the time since the last batch was handed
    # out (the step's rollout window).
    waited_seconds: float
    window_seconds: float

    @property
    def episodes(self) -> list[EpisodeRecord]:
        return [e for g in self.groups + self.discarded for e in g.episodes]

    @property
    def kept(self) -> list[EpisodeRecord]:
        return [e for g in self.groups for e in g.kept]

    @property
    def stats(self) -> GroupStats:
        return GroupStats.combined(group.stats for group in self.groups + self.discarded)


class AsyncRollouts:
    def __init__(
        self,
        *,
        run_group: RunGroup,
        judge_group: JudgeGroup,
        take_task: Callable[[], Task | None],
        batch_size: int,
        max_staleness: int,
        version: int = 0,
        state: dict[str, Any] | None = None,
        refill: bool = False,
    ) -> None:
        self.run_group = run_group
        self.judge_group = judge_group
        self.take_task = take_task
        self.batch_size = batch_size
        self.max_staleness = max_staleness
        self.version = version
        self.refill = refill
        state = state or {}
        # Tasks of a resumed run's outstanding groups: started again before reading on.
        self._restart = [Task.model_validate(t) for t in state.get("outstanding_tasks", [])]
        self._next_index = int(state.get("next_group", 0))
        self._running: dict[int, Group] = {}
        # Complete and not yet handed to the trainer, in completion order. One without signal
        # (``kept`` empty) is no longer outstanding; it only counts toward the next step.
        self._completed: list[Group] = []
        self._training: list[Group] = []  # handed to the trainer, weights not yet published
        self._tasks: set[asyncio.Task] = set()
        self._changed = asyncio.Condition()
        self._exhausted = False
        self._error: BaseException | None = None
        self._producer: asyncio.Task | None = None
        self._last_handout = time.perf_counter()

    # ------------------------------------------------------------------------ the producer

    @property
    def capacity(self) -> int:
        return (self.max_staleness + 1) * self.batch_size

    @property
    def outstanding(self) -> int:
        waiting = sum(1 for group in self._completed if group.kept)
        return len(self._running) + waiting + len(self._training)

    def start(self) -> None:
        self._last_handout = time.perf_counter()
        self._producer = asyncio.create_task(self._produce(), name="ajet-async-rollouts")

    async def _produce(self) -> None:
        try:
            while True:
                async with self._changed:
                    await self._changed.wait_for(lambda: self.outstanding < self.capacity)
                    task = self._restart.pop(0) if self._restart else self.take_task()
                    if task is None:
                        self._exhausted = True
                        self._changed.notify_all()
                        return
                    group = Group(self._next_index, task, started_version=self.version)
                    self._next_index += 1
                    self._running[group.index] = group
                job = asyncio.create_task(self._run(group), name=f"ajet-group-{group.index}")
                self._tasks.add(job)
                job.add_done_callback(self._tasks.discard)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # noqa: BLE001 - handed to the trainer's next_batch
            await self._fail(exc)

    async def _run(self, group: Group) -> None:
        nominal_step = group.index // self.batch_size + 1
        try:
            group.episodes = await self.run_group(group.task, nominal_step)
            group.kept, group.stats = self.judge_group(group.episodes)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # noqa: BLE001 - the runner records episode failures;
            await self._fail(exc)  # anything else is a bug the trainer must report
            return
        async with self._changed:
            self._running.pop(group.index, None)
            self._completed.append(group)
            self._changed.notify_all()

    async def _fail(self, exc: BaseException) -> None:
        async with self._changed:
            self._error = exc
            self._changed.notify_all()

    # ------------------------------------------------------------------------- the trainer

    def _step_size(self) -> int | None:
        """How many of the completed groups the next step takes; None: not ready yet."""
        if not self.refill:
            if len(self._completed) >= self.batch_size:
                return self.batch_size
        else:
            with_signal = 0
            for taken, group in enumerate(self._completed, start=1):
                with_signal += bool(group.kept)
                if with_signal == self.batch_size:
                    return taken
            if len(self._completed) >= MAX_GROUPS_PER_STEP * self.batch_size:
                return MAX_GROUPS_PER_STEP * self.batch_size
        if self._exhausted and not self._running and not self._restart:
            return len(self._completed)  # the last, short step (0: nothing left)
        return None

    def _step_ready(self) -> bool:
        return self._error is not None or self._step_size() is not None

    async def next_batch(self) -> AsyncBatch | None:
        """The next step's groups (at most ``batch_size``, in the order they started); None
        when the tasks are done and nothing is left to train."""
        waited = time.perf_counter()
        async with self._changed:
            await self._changed.wait_for(self._step_ready)
            if self._error is not None:
                raise self._error
            size = self._step_size() or 0
            if size == 0:
                return None
            step, self._completed = self._completed[:size], self._completed[size:]
            self._training = [group for group in step if group.kept]
        now = time.perf_counter()
        batch = AsyncBatch(
            groups=sorted(self._training, key=lambda g: g.index),
            discarded=[group for group in step if not group.kept],
            waited_seconds=now - waited,
            window_seconds=now - self._last_handout,
        )
        self._last_handout = now
        return batch

    async def finish_step(self, version: int) -> None:
        """The trainer published ``version``: the step's groups leave, new ones may start."""
        async with self._changed:
            self._training = []
            self.version = version
            self._changed.notify_all()

    # ---------------------------------------------------------------------------- state

    def state_dict(self) -> dict[str, Any]:
        """The tasks of every outstanding group, oldest first, and the group counter."""
        outstanding = sorted(
            [*self._running.values(), *self._completed, *self._training], key=lambda g: g.index
        )
        return {
            "outstanding_tasks": [g.task.model_dump() for g in outstanding]
            + [t.model_dump() for t in self._restart],
            "next_group": self._next_index,
        }

    async def close(self) -> None:
        """Cancel the producer and every running group (their episodes are lost, their tasks
        are in the last checkpoint's state)."""
        jobs = [job for job in (self._producer, *self._tasks) if job is not None]
        for job in jobs:
            job.cancel()
        for job in jobs:
            try:
                await asyncio.wait_for(asyncio.shield(job), timeout=10)
            except (asyncio.CancelledError, asyncio.TimeoutError):
                pass
            except Exception as exc:  # noqa: BLE001 - closing must not mask the run's outcome
                log.warning("a rollout group failed while closing: %s", exc)
