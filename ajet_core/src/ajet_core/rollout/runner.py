"""The rollout runner: tasks x num_repeat episodes, bounded concurrency, a timeout per episode.

Rules (issue 5, DESIGN section 3):

* every episode runs its workflow against its own gateway session (its own API keys);
* an episode that raises, hangs past ``rollout.episode_timeout``, returns the wrong type, or has
  no reward is recorded with its error and traceback, counted, and left out of the batch — it
  never stops the run;
* only engine errors are retried (``rollout.engine_error_retries``): a workflow bug would fail
  the same way again;
* a workflow that sets its own reward skips the judger.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import numbers
import time
import traceback
import uuid
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ajet_core import metrics as m
from ajet_core.judging import Judger, JudgeResult
from ajet_core.readers import TaskReader
from ajet_core.rollout.isolation import InProcessExecutor, WorkflowExecutor, workflow_failure
from ajet_core.schema import EpisodeRecord, Sample, Task
from ajet_core.workflow import Workflow, WorkflowOutput, WorkflowTask

log = logging.getLogger(__name__)

TRAIN_MODE = "train"
EVAL_MODE = "eval"
ROLLOUT_MODE = "rollout"


class EpisodeGateway(Protocol):
    """What the runner needs from the gateway (:class:`ajet_core.gateway.core.Gateway`)."""

    def open_episode(
        self,
        episode_id: str | None = None,
        *,
        trainable_targets: list[str] | None = None,
        record: EpisodeRecord | None = None,
        seed: int | None = None,
    ) -> Any: ...

    def close_episode(self, episode_id: str) -> Any: ...


def recorded_engine_error(error: BaseException, recording: Any) -> bool:
    """True when the gateway recorded an engine failure during the episode: the workflow's
    exception is then a consequence of the engine, and retrying the episode is worthwhile."""
    return any(e.get("code") == "engine_error" for e in getattr(recording, "errors", []))


class SampleBuilder(Protocol):
    def build_samples(self, episode: EpisodeRecord) -> list[Sample]: ...


class EpisodeFailure(Exception):
    """An episode-level problem with a message meant for the user and a failure reason."""

    def __init__(self, reason: str, message: str, details: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.details = details


class EpisodeTimeout(Exception):
    """The episode ran past ``rollout.episode_timeout``."""


# Engines already warmed up in this process.
_WARMED_ENGINES: weakref.WeakSet = weakref.WeakSet()

# How long a timed-out episode may take to honour its cancellation before it is abandoned.
CANCEL_GRACE_SECONDS = 2.0


@dataclass
class RolloutSettings:
    num_repeat: int
    max_concurrency: int
    episode_timeout: float
    engine_error_retries: int
    seed: int
    trainable_targets: list[str] | None


def group_key_for(step: int, task: Task, mode: str) -> str:
    # One group = one task's draws at one step; the mode keeps eval draws apart from training.
    return f"{mode}/{step}/{task.task_id}"


def episode_seed(run_seed: int, group_key: str, draw: int, attempt: int) -> int:
    """A per-episode seed independent of scheduling order, so a resumed run samples the same."""
    digest = hashlib.sha256(f"{run_seed}|{group_key}|{draw}|{attempt}".encode()).digest()
    return int.from_bytes(digest[:4], "little")


def _final_reward(reward: float | list[float]) -> float:
    # AgentJet lets a workflow return per-step rewards; the episode's return is their sum.
    return float(sum(reward)) if isinstance(reward, list) else float(reward)


class RolloutRunner:
    def __init__(
        self,
        *,
        gateway: EpisodeGateway,
        make_workflow: Callable[[], Workflow],
        judger: Judger | None,
        tracker: SampleBuilder | None,
        settings: RolloutSettings,
        on_episode_end: Callable[[EpisodeRecord], None] | None = None,
        is_engine_error: Callable[[BaseException, Any], bool] | None = None,
        reader: TaskReader | None = None,
        make_executor: Callable[[], WorkflowExecutor] | None = None,
    ) -> None:
        self.gateway = gateway
        self.make_workflow = make_workflow
        # Where each episode's workflow runs (rollout.isolation); in this process by default.
        self.make_executor = make_executor or (lambda: InProcessExecutor(make_workflow))
        self.judger = judger
        self.tracker = tracker
        self.settings = settings
        self.on_episode_end = on_episode_end
        self.is_engine_error = is_engine_error or recorded_engine_error
        # The reader may give each episode an environment instance (env-service readers).
        self.reader = reader if reader is not None else TaskReader()

    async def run_tasks(
        self,
        tasks: Sequence[Task],
        *,
        step: int,
        mode: str = TRAIN_MODE,
        num_repeat: int | None = None,
        limit: asyncio.Semaphore | None = None,
    ) -> list[EpisodeRecord]:
        """Run every task ``num_repeat`` times; return one record per episode, failures included.

        ``limit`` bounds the episodes running at once across several concurrent calls (the
        asynchronous loop starts one call per group); by default each call has its own bound
        of ``rollout.max_concurrency``."""
        await self.warm_up()
        repeats = num_repeat or self.settings.num_repeat
        limit = limit or asyncio.Semaphore(self.settings.max_concurrency)

        async def bounded(task: Task, batch_index: int, draw: int) -> EpisodeRecord:
            async with limit:
                return await self.run_episode(
                    task,
                    step=step,
                    mode=mode,
                    draw=draw,
                    batch_index=batch_index,
                    thread_index=batch_index * repeats + draw,
                )

        jobs = [bounded(task, i, draw) for i, task in enumerate(tasks) for draw in range(repeats)]
        return list(await asyncio.gather(*jobs))

    async def warm_up(self) -> None:
        """One tiny generation before the first episode, outside every episode's timeout: the
        engine's first call (allocation, compilation, a cold server) must not time out the
        episodes of the first step. Once per engine; an engine that fails here is left for the
        episodes to report."""
        engine = getattr(self.gateway, "engine", None)
        try:
            if engine is None or engine in _WARMED_ENGINES:
                return
            _WARMED_ENGINES.add(engine)
        except TypeError:  # an engine that cannot be weakly referenced: warm it every time
            pass
        from ajet_core.engine import SamplingParams

        started = time.perf_counter()
        try:
            prompt = list(engine.tokenizer.encode("Hello"))[:8] or [0]
            await engine.generate(prompt, SamplingParams(max_tokens=1, seed=0))
        except Exception as exc:  # noqa: BLE001 - the episodes will say what is wrong
            log.warning("engine warm-up failed (%s: %s)", type(exc).__name__, exc)
            return
        log.info(
            "engine warmed up in %.1f s (not counted against episodes)",
            time.perf_counter() - started,
        )

    async def run_episode(
        self,
        task: Task,
        *,
        step: int,
        mode: str,
        draw: int,
        batch_index: int = 0,
        thread_index: int = 0,
    ) -> EpisodeRecord:
        group_key = group_key_for(step, task, mode)
        retries_left = self.settings.engine_error_retries
        attempt = 0
        while True:
            record, engine_failed = await self._attempt(
                task,
                group_key=group_key,
                step=step,
                draw=draw,
                attempt=attempt,
                batch_index=batch_index,
                thread_index=thread_index,
            )
            if engine_failed and retries_left > 0:
                retries_left -= 1
                attempt += 1
                log.warning(
                    "episode %s hit an engine error; retrying (%s)", record.episode_id, record.error
                )
                continue
            record.metadata["attempts"] = attempt + 1
            if self.on_episode_end is not None:
                self.on_episode_end(record)
            return record

    async def _attempt(
        self,
        task: Task,
        *,
        group_key: str,
        step: int,
        draw: int,
        attempt: int,
        batch_index: int,
        thread_index: int,
    ) -> tuple[EpisodeRecord, bool]:
        record = EpisodeRecord(
            episode_id=uuid.uuid4().hex, task=task, group_key=group_key, step=step
        )
        record.metadata["draw"] = draw
        engine_failed = False
        try:
            async with self.reader.episode_env(task, record.episode_id) as (episode_task, gym_env):
                record.task = episode_task
                engine_failed = await self._run_workflow(
                    record,
                    gym_env,
                    group_key=group_key,
                    draw=draw,
                    attempt=attempt,
                    batch_index=batch_index,
                    thread_index=thread_index,
                )
        except Exception as exc:  # noqa: BLE001 - an environment that fails fails this episode only
            if record.error is None:
                fail(
                    record,
                    m.FAILED_ENVIRONMENT_ERROR,
                    f"episode environment failed: {type(exc).__name__}: {exc}",
                    traceback.format_exc(),
                )
        if engine_failed:
            record.metadata["failure_reason"] = m.FAILED_ENGINE_ERROR
        record.finished_at = time.time()
        return record, engine_failed

    async def _run_workflow(
        self,
        record: EpisodeRecord,
        gym_env: Any,
        *,
        group_key: str,
        draw: int,
        attempt: int,
        batch_index: int,
        thread_index: int,
    ) -> bool:
        """Run the workflow against its own gateway session, then judge it (inside the episode's
        environment, so an env-service judger can still evaluate the instance). The workflow and
        its judging share one deadline: a judger that never returns fails its episode only."""
        task = record.task
        session = self.gateway.open_episode(
            record.episode_id,
            trainable_targets=self.settings.trainable_targets,
            seed=episode_seed(self.settings.seed, group_key, draw, attempt),
        )
        workflow_task = WorkflowTask(
            env_type=task.env_type,
            task_id=task.task_id,
            task_thread_index=thread_index,
            task_batch_index=batch_index,
            episode_uuid=record.episode_id,
            task=task,
            gym_env=gym_env,
        )
        executor = self.make_executor()
        output: Any = None
        workflow_failed = True
        deadline = math.inf
        try:
            await executor.claimed(workflow_task, session)
            deadline = asyncio.get_running_loop().time() + self.settings.episode_timeout
            output = await self._before_deadline(
                record, executor.execute(workflow_task, session), deadline, executor
            )
            workflow_failed = False
        except EpisodeTimeout as exc:
            fail(record, m.FAILED_TIMEOUT, str(exc))
            record.metadata["timed_out"] = True
        except BaseException as exc:  # noqa: BLE001 - a failing episode never takes the run down
            if isinstance(exc, asyncio.CancelledError) and _being_cancelled():
                raise  # the run itself is stopping
            failure = workflow_failure(exc)
            fail(record, failure.reason, str(failure), failure.details)
        finally:
            record.metadata.update(executor.metadata)
            recording = self.gateway.close_episode(record.episode_id)
            record.calls = list(recording.calls)
            record.drift_fallbacks = recording.drift_fallbacks
            record.metadata["gateway"] = recording.summary()
        if record.error is None:
            try:
                await self._before_deadline(record, self._finish(record, output), deadline, None)
            except EpisodeTimeout as exc:
                fail(record, m.FAILED_TIMEOUT, f"{exc} while judging")
                record.metadata["timed_out"] = True
        # A workflow that failed after the engine failed under it is worth another attempt.
        return workflow_failed and self.is_engine_error(RuntimeError(record.error), recording)

    async def _before_deadline(
        self, record: EpisodeRecord, work: Any, deadline: float, executor: Any
    ) -> Any:
        """Await ``work`` until ``deadline``. At the deadline it is cancelled and, if it ignores
        the cancellation, abandoned rather than waited for (``asyncio.wait_for`` waits, and would
        return the late result as if it were on time)."""
        loop = asyncio.get_running_loop()
        job = asyncio.ensure_future(work)
        try:
            done, _ = await asyncio.wait({job}, timeout=max(0.0, deadline - loop.time()))
        except asyncio.CancelledError:
            job.cancel()
            if executor is not None:
                executor.abandon()
            raise
        if job in done:
            return job.result()
        job.cancel()
        if executor is not None:
            executor.abandon()
        done, _ = await asyncio.wait({job}, timeout=CANCEL_GRACE_SECONDS)
        if not done:
            record.metadata["abandoned"] = True
            log.warning(
                "episode %s ignored its cancellation at the timeout; abandoned (its result is "
                "discarded). rollout.isolation=process stops such workflows for good",
                record.episode_id,
            )
        job.add_done_callback(_consume_result)
        raise EpisodeTimeout(
            f"timed out after {self.settings.episode_timeout:g} s (rollout.episode_timeout)"
        )

    async def _finish(self, record: EpisodeRecord, output: Any) -> None:
        """Judge the output and build samples; any problem becomes the episode's error."""
        try:
            if not isinstance(output, WorkflowOutput):
                raise EpisodeFailure(
                    m.FAILED_BAD_OUTPUT,
                    f"workflow returned {type(output).__name__} ({output!r:.80}); "
                    "return ajet_core.WorkflowOutput(reward=..., metadata=...)",
                )
            record.metadata.update(output.metadata)
            record.log_metrics = dict(output.log_metrics)
            if output.reward is not None:
                record.reward = checked_reward(output.reward, "the workflow's reward")
                record.is_success = (
                    checked_success(output.is_success, "the workflow's is_success")
                    if output.is_success is not None
                    else record.reward > 0
                )
            elif self.judger is not None:
                try:
                    result = await self.judger.ajudge(record.task, output)
                except Exception as exc:  # noqa: BLE001 - a judger bug fails this episode only
                    raise EpisodeFailure(
                        m.FAILED_JUDGER_ERROR,
                        f"judging failed: {type(exc).__name__}: {exc}",
                        traceback.format_exc(),
                    ) from None
                who = f"judger {type(self.judger).__name__}"
                if not isinstance(result, JudgeResult):
                    raise EpisodeFailure(
                        m.FAILED_JUDGER_ERROR,
                        f"{who} returned {type(result).__name__} ({result!r:.80}); a judger "
                        "returns ajet_core.judging.JudgeResult(reward=..., is_success=...)",
                    )
                record.reward = checked_reward(result.reward, f"{who}'s reward")
                record.is_success = checked_success(result.is_success, f"{who}'s is_success")
                record.judger_metrics = dict(result.metrics)
            else:
                raise EpisodeFailure(
                    m.FAILED_NO_REWARD,
                    "no reward: the workflow returned reward=None and no judger is configured; "
                    "set judger.type in the config or return WorkflowOutput(reward=...)",
                )
            if self.tracker is not None:
                record.samples = self.tracker.build_samples(record)
                for sample in record.samples:
                    sample.reward = record.reward
                    sample.group_key = record.group_key
                    sample.episode_id = record.episode_id
        except EpisodeFailure as exc:
            fail(record, exc.reason, str(exc), exc.details)
        except Exception as exc:  # noqa: BLE001 - a tracker bug fails this episode only
            fail(
                record,
                m.FAILED_JUDGER_ERROR,
                f"building samples failed: {type(exc).__name__}: {exc}",
                traceback.format_exc(),
            )


def fail(record: EpisodeRecord, reason: str, message: str, details: str | None = None) -> None:
    """Mark the episode failed with one of ``metrics.FAILURE_REASONS`` (counted per reason)."""
    record.error = message
    record.error_traceback = details
    record.metadata["failure_reason"] = reason
    # A failed episode trains nothing, whatever it had produced before failing.
    record.reward = None
    record.samples = []


def failure_reason(record: EpisodeRecord) -> str:
    """Why a failed episode failed (records written before reasons existed: workflow_error)."""
    return record.metadata.get("failure_reason") or m.FAILED_WORKFLOW_ERROR


def checked_reward(value: Any, what: str) -> float:
    """A finite float, or an EpisodeFailure: a NaN would poison the group's advantages and a
    string like '0.5' is a bug in the workflow or judger, not a reward."""
    parts = value if isinstance(value, list) else [value]
    for part in parts:
        if isinstance(part, (str, bytes, bool)) or not isinstance(part, numbers.Real):
            raise EpisodeFailure(
                m.FAILED_BAD_REWARD,
                f"{what} is {part!r} ({type(part).__name__}); a reward must be a number",
            )
    reward = _final_reward([float(p) for p in parts]) if isinstance(value, list) else float(value)
    if not math.isfinite(reward):
        raise EpisodeFailure(
            m.FAILED_BAD_REWARD, f"{what} is {reward!r}; a reward must be a finite number"
        )
    return reward


def checked_success(value: Any, what: str) -> bool:
    # numpy's bool scalars (np.bool_, named np.bool in numpy 2) are not bool subclasses but are
    # honest truth values, known by their dtype without importing numpy; strings are not.
    dtype = getattr(value, "dtype", None)
    if isinstance(value, bool) or (
        getattr(dtype, "kind", None) == "b" and getattr(value, "ndim", None) == 0
    ):
        return bool(value)
    raise EpisodeFailure(
        m.FAILED_BAD_REWARD, f"{what} is {value!r} ({type(value).__name__}); it must be a bool"
    )


def _being_cancelled() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


def _consume_result(job: asyncio.Future) -> None:
    # An abandoned episode's late exception is not news; reading it keeps asyncio quiet.
    if not job.cancelled():
        job.exception()
