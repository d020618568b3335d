"""The run's queue of episodes for workers that claim them, each claim held by a lease.

An episode waits in the queue until a worker claims it; the claim is a lease the worker keeps
alive with heartbeats. A lease that runs out (the worker vanished) ends that claim: the run
discards the episode's calls and puts it back at the head of the queue (see
:mod:`ajet_core.rollout.remote.executor`). Finishing, aborting or heartbeating with a lease that
ended is answered with why it ended, never silently accepted.

Threads: the run's loop submits, re-queues and cancels episodes; the episode API's handlers claim,
heartbeat, finish and abort them on the gateway's loop thread. Every change of state happens under
one lock, and results reach the run's loop with ``call_soon_threadsafe``.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import secrets
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ajet_core.rollout.isolation import WorkflowAborted
from ajet_core.workflow import WorkflowOutput, WorkflowTask

log = logging.getLogger(__name__)

QUEUED, CLAIMED, RESETTING, DONE = "queued", "claimed", "resetting", "done"
# Ended leases remembered to answer a late finish or heartbeat with the reason (bounded).
ENDED_LEASES_KEPT = 100_000
# How often, at most, the run says that episodes wait with no worker claiming them.
IDLE_WARNING_SECONDS = 60.0


class EpisodeApiError(Exception):
    """A request the episode API refuses: an HTTP status, a stable code and what to do."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message}}


@dataclass
class Lease:
    token: str
    worker: str
    expires_at: float  # on the queue's clock
    # A claim by the run's own local workers: never expires, cancelled with the episode.
    cancel: Callable[[], None] | None = None


@dataclass(eq=False)
class QueuedEpisode:
    """One episode as the queue holds it; the executor that submitted it owns the futures."""

    episode_id: str
    mode: str
    workflow_task: WorkflowTask
    handle: Any  # the gateway's open episode (``EpisodeHandle``): the session calls record into
    base_url: str
    api_key: str
    model: str
    trainable_targets: list[str] | None
    episode_timeout: float
    loop: asyncio.AbstractEventLoop
    claimed: asyncio.Future = field(init=False)
    outcome: asyncio.Future = field(init=False)
    state: str = QUEUED
    lease: Lease | None = None
    deadline_at: float | None = None  # set by the first claim (the episode's clock starts there)
    expiries: int = 0
    workers: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.claimed = self.loop.create_future()
        self.outcome = self.loop.create_future()


def _resolve(future: asyncio.Future, value: Any, error: BaseException | None = None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(value)


class EpisodeQueue:
    def __init__(
        self,
        run_token: str,
        *,
        lease_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._run_token = run_token
        self.lease_seconds = lease_seconds
        self.clock = clock
        self._lock = threading.Lock()
        self._queued: deque[QueuedEpisode] = deque()
        self._episodes: dict[str, QueuedEpisode] = {}  # not yet done
        self._leases: dict[str, QueuedEpisode] = {}  # live lease token -> its episode
        self._ended: OrderedDict[str, tuple[str, EpisodeApiError]] = OrderedDict()
        self._listeners: set[Callable[[], None]] = set()
        self.closed = False
        self.finished = False
        self.claims = 0
        self.expired = 0
        self._last_claim = clock()
        self._last_idle_warning = clock()

    # ------------------------------------------------------------------ the run's side

    def submit(self, entry: QueuedEpisode) -> None:
        with self._lock:
            if entry.episode_id in self._episodes:
                raise ValueError(f"episode {entry.episode_id!r} is already in the queue")
            self._episodes[entry.episode_id] = entry
            self._queued.append(entry)
        self._notify()

    def expire_if_due(self, entry: QueuedEpisode) -> bool:
        """End a claim whose lease ran out; the caller then re-queues the episode."""
        with self._lock:
            lease = entry.lease
            if entry.state != CLAIMED or lease is None or self.clock() < lease.expires_at:
                return False
            entry.state = RESETTING
            entry.expiries += 1
            self.expired += 1
            self._end_lease(
                entry,
                EpisodeApiError(
                    409,
                    "lease_expired",
                    f"the lease on episode {entry.episode_id} expired: no heartbeat for "
                    f"{self.lease_seconds:g} s (rollout.remote.lease_seconds). Its calls were "
                    "discarded and it was handed out again; claim a new episode",
                ),
            )
            return True

    def requeue(self, entry: QueuedEpisode, handle: Any, api_key: str) -> None:
        """Put an expired episode back at the head of the queue with a fresh gateway session."""
        with self._lock:
            if entry.state != RESETTING:
                return  # cancelled meanwhile
            entry.handle, entry.api_key = handle, api_key
            entry.state = QUEUED
            entry.claimed = entry.loop.create_future()
            self._queued.appendleft(entry)  # it was handed out first: it goes first again
        self._notify()

    def cancel(self, entry: QueuedEpisode, code: str, message: str) -> None:
        """The run no longer waits for the episode (its deadline passed, or the run ends)."""
        cancel_local = None
        with self._lock:
            if entry.state == DONE:
                return
            if entry.state == QUEUED:
                self._queued.remove(entry)
            if entry.lease is not None:
                cancel_local = entry.lease.cancel
                if entry.state == CLAIMED:
                    self._end_lease(entry, EpisodeApiError(409, code, message))
            entry.state = DONE
            self._episodes.pop(entry.episode_id, None)
        if cancel_local is not None:
            entry.loop.call_soon_threadsafe(cancel_local)

    def close(self, *, finished: bool = True) -> None:
        """The run is ending: claims get 410 when it finished, 503 when it stopped early (a
        ``--resume`` will hand out episodes again, so workers should keep trying)."""
        with self._lock:
            self.closed = True
            self.finished = finished
        self._notify()

    def counts(self) -> dict[str, int]:
        with self._lock:
            return {
                "queued": len(self._queued),
                "claimed": len(self._leases),
                "claims": self.claims,
                "expired": self.expired,
            }

    # ---------------------------------------------------------------- the workers' side

    def check_run_token(self, token: str | None) -> None:
        if not token:
            raise EpisodeApiError(
                401,
                "missing_run_token",
                "no run token: send 'Authorization: Bearer <run token>' (the run's "
                "<run folder>/remote/token, or the value of rollout.remote.token_env)",
            )
        if not secrets.compare_digest(token.encode(), self._run_token.encode()):
            raise EpisodeApiError(
                401,
                "wrong_run_token",
                "wrong run token: use the run's <run folder>/remote/token, or the value of "
                "rollout.remote.token_env the run started with",
            )

    def try_claim(self, worker: str, *, local_cancel: Callable[[], None] | None = None) -> Any:
        """The next queued episode, now leased to ``worker``; None when nothing is queued."""
        self._check_open()
        with self._lock:
            if not self._queued:
                return None
            entry = self._queued.popleft()
            now = self.clock()
            expires = float("inf") if local_cancel is not None else now + self.lease_seconds
            entry.lease = Lease(secrets.token_urlsafe(24), worker, expires, local_cancel)
            entry.state = CLAIMED
            if entry.deadline_at is None:
                entry.deadline_at = now + entry.episode_timeout
            entry.workers.append(worker)
            self._leases[entry.lease.token] = entry
            self.claims += 1
            self._last_claim = now
        entry.loop.call_soon_threadsafe(_resolve, entry.claimed, entry)
        return entry

    async def next_claim(
        self, worker: str, wait_seconds: float, *, local_cancel: Callable[[], None] | None = None
    ) -> QueuedEpisode | None:
        """Claim, waiting up to ``wait_seconds`` for an episode to be queued (on any loop)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_seconds
        while True:
            woken = asyncio.Event()
            wake = functools.partial(loop.call_soon_threadsafe, woken.set)
            with self._lock:
                self._listeners.add(wake)
            try:
                entry = self.try_claim(worker, local_cancel=local_cancel)
                remaining = deadline - loop.time()
                if entry is not None or remaining <= 0:
                    return entry
                try:
                    await asyncio.wait_for(woken.wait(), remaining)
                except asyncio.TimeoutError:
                    pass
            finally:
                with self._lock:
                    self._listeners.discard(wake)

    def heartbeat(self, episode_id: str, token: str | None) -> dict[str, float]:
        with self._lock:
            entry = self._live(episode_id, token)
            lease = entry.lease
            assert lease is not None and entry.deadline_at is not None
            now = self.clock()
            if lease.cancel is None:
                lease.expires_at = now + self.lease_seconds
            return {
                "expires_in": min(lease.expires_at - now, 1e9),
                "deadline_in": entry.deadline_at - now,
            }

    def finish(self, episode_id: str, token: str | None, output: WorkflowOutput) -> None:
        self._end(episode_id, token, output, None, "finished")

    def abort(self, episode_id: str, token: str | None, failure: WorkflowAborted) -> None:
        self._end(episode_id, token, None, failure, "aborted")

    def episode(self, episode_id: str, token: str | None) -> QueuedEpisode:
        """The episode a live lease holds (for issuing its agents' keys)."""
        with self._lock:
            return self._live(episode_id, token)

    # ------------------------------------------------------------------------ internals

    def _end(
        self,
        episode_id: str,
        token: str | None,
        output: WorkflowOutput | None,
        failure: WorkflowAborted | None,
        how: str,
    ) -> None:
        with self._lock:
            entry = self._live(episode_id, token)
            entry.state = DONE
            self._episodes.pop(entry.episode_id, None)
            self._end_lease(
                entry,
                EpisodeApiError(
                    409, f"already_{how}", f"episode {episode_id} was already {how} by its worker"
                ),
            )
        entry.loop.call_soon_threadsafe(_resolve, entry.outcome, output, failure)

    def _live(self, episode_id: str, token: str | None) -> QueuedEpisode:
        """The episode ``token`` leases, or the error that says why it does not (under lock)."""
        if not token:
            raise EpisodeApiError(
                401,
                "missing_lease_token",
                "no lease token: send 'Authorization: Bearer <lease token>' with the token the "
                "claim returned",
            )
        entry = self._leases.get(token)
        if entry is not None:
            if entry.episode_id != episode_id:
                raise EpisodeApiError(
                    403,
                    "not_your_episode",
                    f"this lease is for episode {entry.episode_id}, not {episode_id}",
                )
            return entry
        ended = self._ended.get(token)
        if ended is not None:
            ended_id, error = ended
            if ended_id != episode_id:
                raise EpisodeApiError(
                    403,
                    "not_your_episode",
                    f"this lease was for episode {ended_id}, not {episode_id}",
                )
            raise error
        if episode_id in self._episodes:
            raise EpisodeApiError(
                403,
                "not_your_episode",
                f"episode {episode_id} is not leased with this token; only the worker that "
                "claimed it may report on it",
            )
        raise EpisodeApiError(404, "unknown_episode", f"this run has no episode {episode_id}")

    def _end_lease(self, entry: QueuedEpisode, error: EpisodeApiError) -> None:
        lease = entry.lease
        if lease is None:
            return
        self._leases.pop(lease.token, None)
        self._ended[lease.token] = (entry.episode_id, error)
        while len(self._ended) > ENDED_LEASES_KEPT:
            self._ended.popitem(last=False)

    def _check_open(self) -> None:
        if not self.closed:
            return
        if self.finished:
            raise EpisodeApiError(
                410, "run_finished", "the run has finished: it hands out no more episodes"
            )
        raise EpisodeApiError(
            503,
            "run_stopped",
            "the run has stopped before its end (Ctrl-C, SIGTERM or a failure); a --resume of "
            "it hands out episodes again: retry later",
        )

    def warn_if_unclaimed(self) -> None:
        """Say (at most once a minute) that episodes wait and no worker has claimed one lately."""
        with self._lock:
            now = self.clock()
            waiting = len(self._queued)
            if (
                not waiting
                or now - self._last_claim < IDLE_WARNING_SECONDS
                or now - self._last_idle_warning < IDLE_WARNING_SECONDS
            ):
                return
            self._last_idle_warning = now
        log.warning(
            "%d episode(s) wait for a remote worker and none was claimed for %.0f s; start "
            "one with 'ajet worker --url URL --token-file <run folder>/remote/token ...' "
            "(docs/remote_agents.md)",
            waiting,
            now - self._last_claim,
        )

    def _notify(self) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for wake in listeners:
            wake()
