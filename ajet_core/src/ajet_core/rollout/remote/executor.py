"""Episodes run by whoever claims them: remote workers over HTTP, or the run's own local workers.

:class:`RemoteExecutor` is the rollout runner's executor for ``rollout.isolation: remote``: it
queues the episode (with the base URL and API key of its gateway session), waits for a claim, then
for the worker's finish or abort. When the worker's lease runs out, the executor closes the
episode's gateway session (its keys are revoked and its calls, late ones included, discarded),
opens a fresh one under the same episode id and queues the episode again, first in line.

:class:`LocalWorkers` claim from the same queue and run the configured workflow in this process,
so local and remote workers can share one run.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from typing import Any

from ajet_core.rollout.isolation import InProcessExecutor, WorkflowAborted, workflow_failure
from ajet_core.rollout.remote.queue import EpisodeApiError, EpisodeQueue, QueuedEpisode
from ajet_core.workflow import Workflow, WorkflowTask

log = logging.getLogger(__name__)

# How long a local worker waits for an episode before checking whether the run still runs.
LOCAL_CLAIM_WAIT_SECONDS = 5.0


class RemoteExecutor:
    def __init__(self, queue: EpisodeQueue, *, mode: str, episode_timeout: float) -> None:
        self.queue = queue
        self.mode = mode
        self.episode_timeout = episode_timeout
        self.metadata: dict[str, Any] = {}
        self._entry: QueuedEpisode | None = None

    async def claimed(self, workflow_task: WorkflowTask, episode: Any) -> None:
        gateway = episode.gateway
        entry = QueuedEpisode(
            episode_id=episode.episode_id,
            mode=self.mode,
            workflow_task=workflow_task,
            handle=episode,
            base_url=gateway.ensure_http(),
            api_key=gateway.issue_key(episode.session),
            model=gateway.model_name,
            trainable_targets=episode.session.trainable_targets,
            episode_timeout=self.episode_timeout,
            loop=asyncio.get_running_loop(),
        )
        self._entry = entry
        self.queue.submit(entry)
        try:
            await self._wait_claimed(entry)
        except BaseException:
            self._cancel("run_stopped", "the run stopped waiting for this episode")
            raise

    async def execute(self, workflow_task: WorkflowTask, episode: Any) -> Any:
        entry = self._entry
        assert entry is not None, "claimed() comes first"
        try:
            while not entry.outcome.done():
                lease = entry.lease
                assert lease is not None
                remaining = lease.expires_at - self.queue.clock()
                # A local claim's lease never expires; wait for its outcome in long slices.
                await asyncio.wait({entry.outcome}, timeout=min(max(remaining, 0.01), 3600.0))
                if not entry.outcome.done() and self.queue.expire_if_due(entry):
                    self._hand_out_again(entry)
                    await self._wait_claimed(entry)
        except BaseException:
            self._cancel(
                "deadline_passed",
                f"episode {entry.episode_id} is over: its deadline passed "
                "(rollout.episode_timeout) or the run stopped; its result is not wanted",
            )
            raise
        finally:
            self.metadata["remote_workers"] = list(entry.workers)
            self.metadata["leases_expired"] = entry.expiries
        return entry.outcome.result()

    def abandon(self) -> None:
        self._cancel(
            "deadline_passed",
            "the episode's deadline passed (rollout.episode_timeout); its result is not wanted",
        )

    # --------------------------------------------------------------------------- helpers

    async def _wait_claimed(self, entry: QueuedEpisode) -> None:
        while not entry.claimed.done():
            await asyncio.wait({entry.claimed}, timeout=10.0)
            self.queue.warn_if_unclaimed()

    def _hand_out_again(self, entry: QueuedEpisode) -> None:
        """A fresh gateway session under the same id: the vanished worker's keys die with the
        old one, and so do the calls it recorded (a call still in flight is dropped on arrival,
        as for any closed episode)."""
        gateway = entry.handle.gateway
        old = entry.handle.session
        gateway.close_episode(entry.episode_id)
        handle = gateway.open_episode(
            entry.episode_id, trainable_targets=old.trainable_targets, seed=old.seed
        )
        log.warning(
            "episode %s: worker %s stopped sending heartbeats; its lease expired after %g s, "
            "its calls were discarded and the episode is handed out again",
            entry.episode_id,
            entry.workers[-1] if entry.workers else "?",
            self.queue.lease_seconds,
        )
        self.queue.requeue(entry, handle, gateway.issue_key(handle.session))

    def _cancel(self, code: str, message: str) -> None:
        if self._entry is not None:
            self.queue.cancel(self._entry, code, message)


class LocalWorkers:
    """``rollout.remote.local_workers`` coroutines that claim episodes and run the workflow here."""

    def __init__(self, queue: EpisodeQueue, make_workflow: Callable[[], Workflow], count: int):
        self.queue = queue
        self.make_workflow = make_workflow
        self.count = count
        self._tasks: list[asyncio.Task] = []

    def start(self) -> None:
        self._tasks = [
            asyncio.ensure_future(self._work(f"local-{index}")) for index in range(self.count)
        ]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    async def _work(self, name: str) -> None:
        while not self.queue.closed:
            # The queue cancels a claim's job when the episode's deadline passes.
            jobs: list[asyncio.Future] = []
            try:
                entry = await self.queue.next_claim(
                    name, LOCAL_CLAIM_WAIT_SECONDS, local_cancel=functools.partial(_cancel, jobs)
                )
            except EpisodeApiError:
                return  # the run has finished
            if entry is None:
                continue
            job = asyncio.ensure_future(
                InProcessExecutor(self.make_workflow).execute(entry.workflow_task, entry.handle)
            )
            jobs.append(job)
            try:
                output = await job
            except asyncio.CancelledError:
                if job.cancelled() and not _being_cancelled():
                    continue  # the episode was cancelled (deadline); take the next one
                raise
            except BaseException as exc:  # noqa: BLE001 - the episode's failure, not the worker's
                self._report(entry, None, workflow_failure(exc))
                continue
            self._report(entry, output, None)

    def _report(self, entry: QueuedEpisode, output: Any, failure: WorkflowAborted | None) -> None:
        token = entry.lease.token if entry.lease is not None else None
        try:
            if failure is not None:
                self.queue.abort(entry.episode_id, token, failure)
            else:
                self.queue.finish(entry.episode_id, token, output)
        except EpisodeApiError:
            pass  # the episode ended meanwhile (deadline, run stopped): nobody wants it


def _cancel(jobs: list[asyncio.Future]) -> None:
    for job in jobs:
        job.cancel()


def _being_cancelled() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0
