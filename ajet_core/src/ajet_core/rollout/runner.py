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
import time
import traceback
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ajet_core.judging import Judger
from ajet_core.readers import TaskReader
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
    """An episode-level problem with a message meant for the user (no traceback needed)."""


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
    ) -> None:
        self.gateway = gateway
        self.make_workflow = make_workflow
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
    ) -> list[EpisodeRecord]:
        """Run every task ``num_repeat`` times; return one record per episode, failures included."""
        repeats = num_repeat or self.settings.num_repeat
        limit = asyncio.Semaphore(self.settings.max_concurrency)

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
                record.error = f"episode environment failed: {type(exc).__name__}: {exc}"
                record.error_traceback = traceback.format_exc()
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
        environment, so an env-service judger can still evaluate the instance)."""
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
        output: Any = None
        error: BaseException | None = None
        try:
            workflow = self.make_workflow()
            output = await asyncio.wait_for(
                workflow.execute(workflow_task, session.tuner),
                timeout=self.settings.episode_timeout,
            )
        except asyncio.TimeoutError as exc:
            error = exc
            record.error = (
                f"timed out after {self.settings.episode_timeout:g} s (rollout.episode_timeout)"
            )
            record.metadata["timed_out"] = True
        except Exception as exc:  # noqa: BLE001 - a failing episode never takes the run down
            error = exc
            record.error = f"workflow raised {type(exc).__name__}: {exc}"
            record.error_traceback = traceback.format_exc()
        finally:
            recording = self.gateway.close_episode(record.episode_id)
            record.calls = list(recording.calls)
            record.drift_fallbacks = recording.drift_fallbacks
            record.metadata["gateway"] = recording.summary()
        if record.error is None:
            await self._finish(record, output)
        return error is not None and self.is_engine_error(error, recording)

    async def _finish(self, record: EpisodeRecord, output: Any) -> None:
        """Judge the output and build samples; any problem becomes the episode's error."""
        try:
            if not isinstance(output, WorkflowOutput):
                raise EpisodeFailure(
                    f"workflow returned {type(output).__name__} ({output!r:.80}); "
                    "return ajet_core.WorkflowOutput(reward=..., metadata=...)"
                )
            record.metadata.update(output.metadata)
            record.log_metrics = dict(output.log_metrics)
            if output.reward is not None:
                record.reward = _final_reward(output.reward)
                record.is_success = (
                    output.is_success if output.is_success is not None else record.reward > 0
                )
            elif self.judger is not None:
                result = await self.judger.ajudge(record.task, output)
                record.reward, record.is_success = float(result.reward), bool(result.is_success)
                record.judger_metrics = dict(result.metrics)
            else:
                raise EpisodeFailure(
                    "no reward: the workflow returned reward=None and no judger is configured; "
                    "set judger.type in the config or return WorkflowOutput(reward=...)"
                )
            if self.tracker is not None:
                record.samples = self.tracker.build_samples(record)
                for sample in record.samples:
                    sample.reward = record.reward
                    sample.group_key = record.group_key
                    sample.episode_id = record.episode_id
        except EpisodeFailure as exc:
            record.error = str(exc)
        except Exception as exc:  # noqa: BLE001 - a judger bug fails this episode only
            record.error = f"judging failed: {type(exc).__name__}: {exc}"
            record.error_traceback = traceback.format_exc()
