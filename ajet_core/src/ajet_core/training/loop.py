"""The on-policy training loop behind ``ajet train`` for in-process backbones (``debug``).

Read it top to bottom; each numbered stage says why it is there. The backbone provides the
engine (generation) and the trainer (weight updates); everything else — gateway, rollout,
judging, samples, advantages, metrics, checkpoints — is the core's, so every backbone trains the
same samples with the same advantages.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ajet_core import metrics as m
from ajet_core.backbone import TrainedRun
from ajet_core.config.models import AjetConfig
from ajet_core.config.plugin_sections import RunPlan
from ajet_core.data.task_stream import TaskStream
from ajet_core.engine import Engine
from ajet_core.errors import AjetError, ConfigError
from ajet_core.loggers import LoggerSet
from ajet_core.plugins.manager import PluginManager
from ajet_core.readers import TRAIN_SPLIT, VALIDATION_SPLIT, TaskReader
from ajet_core.rollout.advantages import assign_grpo_advantages
from ajet_core.rollout.isolation import REMOTE
from ajet_core.rollout.remote.service import RemoteEpisodes
from ajet_core.rollout.runner import EVAL_MODE, TRAIN_MODE, RolloutRunner, failure_reason
from ajet_core.rollout.summary import (
    eval_metrics,
    group_metrics,
    rollout_metrics,
    sample_metrics,
    staleness_summary,
)
from ajet_core.schema import EpisodeRecord, Sample
from ajet_core.training import components
from ajet_core.training.async_rollouts import AsyncBatch, AsyncRollouts
from ajet_core.training.checkpoints import (
    CheckpointError,
    CheckpointManager,
    load_trainer_state,
    read_loop_state,
    verify_checkpoint,
)
from ajet_core.training.records import write_step_records
from ajet_core.training.run_dir import RunLock, create_run_dir, latest_run_dir

log = logging.getLogger(__name__)

# How many distinct episode-failure causes a run prints on the console.
MAX_FAILURES_SHOWN = 3
# The refill policy asks for at most this many extra rounds of tasks per step.
MAX_REFILL_ROUNDS = 2


@dataclass
class LoopResult(TrainedRun):
    """What an in-process training run returns (``Backbone.train``)."""

    last_step: int
    interrupted: bool = False
    history: list[dict[str, Any]] = field(default_factory=list)


def _json_rng_state() -> list[Any]:
    version, internal, gauss = random.getstate()
    return [version, list(internal), gauss]


def _restore_rng_state(state: list[Any]) -> None:
    version, internal, gauss = state
    random.setstate((version, tuple(internal), gauss))


class RunFailed(AjetError):
    """The run cannot make progress (every episode failing); a checkpoint was kept."""


def _all_failed(metrics: dict[str, Any]) -> bool:
    episodes = metrics.get(m.EPISODES, 0)
    return episodes > 0 and metrics.get(m.EPISODES_FAILED, 0) >= episodes


def _failure_summary(metrics: dict[str, Any]) -> str:
    reasons = {
        reason: metrics.get(m.failed_metric(reason), 0)
        for reason in m.FAILURE_REASONS
        if metrics.get(m.failed_metric(reason), 0)
    }
    return "failure reasons in the last step: " + (
        ", ".join(f"{reason} {count}" for reason, count in reasons.items()) or "unknown"
    )


def _read_every_row(reader: TaskReader, splits: list[str]) -> None:
    for split in splits:
        count = sum(1 for _ in reader.iter_tasks(split))
        log.info("task reader: %d valid tasks in split %r", count, split)


def _closing_eval_logged(run_dir: Path, step: int) -> bool:
    """True when a resumed run had already finished: its last metrics line is the closing
    evaluation of this step, which running again would only duplicate."""
    path = run_dir / "metrics.jsonl"
    lines = [ln for ln in path.read_text().splitlines() if ln.strip()] if path.exists() else []
    if not lines:
        return False
    last = json.loads(lines[-1])
    return last.get("step") == step and m.EVAL_PASS_AT_1 in last and m.EPISODES not in last


def resolve_resume(config: AjetConfig, resume: str | None) -> tuple[Path, Path] | None:
    """``--resume`` takes 'latest' (this experiment's newest run), a run folder, or a checkpoint
    folder. Returns (run_dir, checkpoint) or None to start fresh."""
    if resume is None:
        return None
    if resume == "latest":
        run_dir = latest_run_dir(config)
        if run_dir is None:
            raise CheckpointError(
                f"--resume latest: no run of experiment {config.experiment.name!r} under "
                f"{config.experiment.output_dir!r}; pass a run folder or drop --resume"
            )
    else:
        path = Path(resume)
        if not path.exists():
            raise CheckpointError(f"--resume {resume!r}: no such folder")
        if (path / "loop_state.json").exists():
            # The checkpoint the user named: a corrupt one is an error, not a silent substitute.
            verify_checkpoint(path)
            return path.parent.parent, path
        run_dir = path
    manager = CheckpointManager(run_dir)
    checkpoint, passed_over = manager.latest_verified()
    for reason in passed_over:
        print(f"ajet: warning: {reason}; trying the checkpoint before it", file=sys.stderr)
    if checkpoint is None:
        raise CheckpointError(
            f"--resume: run folder {str(run_dir)!r} has no complete checkpoint that verifies"
            + (f" ({'; '.join(passed_over)})" if passed_over else "")
            + "; start a new run, or set checkpoint.every_n_steps so the next one leaves some"
        )
    return run_dir, checkpoint


class TrainingLoop:
    def __init__(
        self,
        config: AjetConfig,
        resolved: RunPlan,
        plugins: PluginManager,
        *,
        engine: Engine,
        trainer: Any,
        resume: str | None = None,
        show_progress: bool = True,
    ) -> None:
        self.config = config
        self.resolved = resolved
        self.plugins = plugins
        self.engine = engine
        self.trainer = trainer
        self.resume = resume
        self.show_progress = show_progress
        self._stop_requested = False
        self._run_lock: RunLock | None = None
        # Training episodes of this launch that succeeded, and the failure causes shown so far.
        self._episodes_ok = 0
        self._failures_shown: list[str] = []
        # trainer.mode=async: the rollouts running ahead of the trainer (None in sync mode).
        self._async: AsyncRollouts | None = None
        # rollout.isolation=remote: the episode queue that workers claim from (None otherwise).
        self._remote: RemoteEpisodes | None = None
        self._step_ended: float | None = None
        self._engine_busy = 0.0

    # ------------------------------------------------------------------------------- setup

    def _open_run(self) -> tuple[Path, dict[str, Any] | None]:
        """Stage 1: the run folder — a new one, or the resumed run's own."""
        resumed = resolve_resume(self.config, self.resume)
        if resumed is None:
            run_dir = create_run_dir(self.config)
            self._run_lock = RunLock(run_dir)
            return run_dir, None
        run_dir, checkpoint = resumed
        # Before anything is read or truncated: a second writer stops here.
        self._run_lock = RunLock(run_dir)
        state = read_loop_state(checkpoint)
        # resolve_resume verified it: named, or the newest one that verifies.
        load_trainer_state(checkpoint, self.trainer, verified=True)
        _restore_rng_state(state["python_rng"])
        self._truncate_metrics(run_dir, state["step"])
        log.info("resuming %s from step %d", run_dir, state["step"])
        return run_dir, state

    @staticmethod
    def _truncate_metrics(run_dir: Path, step: int) -> None:
        # Steps after the checkpoint are re-run; their earlier lines would be duplicates.
        # A line torn by a crash mid-write (the last one) is dropped, not a reason to refuse.
        path = run_dir / "metrics.jsonl"
        if path.exists():
            kept = []
            for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
                if not line.strip():
                    continue
                try:
                    entry = json.loads(line)
                except json.JSONDecodeError:
                    log.warning("%s:%d is torn (a crash mid-write); dropped", path, number)
                    continue
                if isinstance(entry, dict) and entry.get("step", 0) <= step:
                    kept.append(line)
            path.write_text("".join(line + "\n" for line in kept))

    def _streams(self, reader: TaskReader) -> tuple[TaskStream, TaskStream | None]:
        train = TaskStream(
            reader,
            TRAIN_SPLIT,
            batch_size=self.config.rollout.batch_size,
            shuffle=True,
            seed=self.config.experiment.seed,
            num_epochs=self.config.trainer.total_epochs,
        )
        wants_eval = (
            self.config.eval.every_n_steps
            or self.config.eval.before_train
            or self.config.eval.after_train
        )
        validation = None
        if wants_eval:
            if VALIDATION_SPLIT not in reader.splits():
                raise ConfigError(
                    f"eval is configured but task reader {self.config.task_reader.type!r} has no "
                    f"{VALIDATION_SPLIT!r} split; give it validation data or set "
                    "eval.every_n_steps=0"
                )
            validation = TaskStream(
                reader,
                VALIDATION_SPLIT,
                batch_size=self.config.eval.max_tasks or 1_000_000,
                shuffle=False,
                num_epochs=1,
            )
        return train, validation

    def _runner(self, gateway: Any, mode: str) -> RolloutRunner:
        training = mode == TRAIN_MODE
        return self.parts.runner(
            gateway,
            num_repeat=self.config.rollout.num_repeat if training else self.config.eval.num_repeat,
            reader=self.reader,
            build_samples=training,
            on_episode_end=self.plugins.episode_end,
            make_executor=self._remote.executor_factory(mode) if self._remote else None,
        )

    # -------------------------------------------------------------------------------- run

    def run(self) -> LoopResult:
        try:
            return asyncio.run(self._run())
        finally:
            if self._run_lock is not None:
                self._run_lock.release()

    async def _run(self) -> LoopResult:
        from ajet_core.gateway.core import Gateway

        # 1. Run folder (and, on --resume, the trainer's and the loop's saved state).
        run_dir, resumed_state = self._open_run()
        checkpoints = CheckpointManager(run_dir, self.config.checkpoint.keep_last)

        # 2. Plugins: where tasks come from, who scores them, how calls become samples.
        reader = self.reader = components.instantiate(self.resolved.task_reader)
        self.parts = components.EpisodeParts.build(self.config, self.resolved, self.plugins)
        train_stream, validation_stream = self._streams(reader)
        if getattr(reader, "validate_before_run", False):
            # Readers of local files opt in: every row is read once now, so a bad line fails
            # the run before step 1 (exit 2, file:line) instead of after hours of training.
            splits = [TRAIN_SPLIT] + ([VALIDATION_SPLIT] if validation_stream else [])
            await asyncio.to_thread(_read_every_row, reader, splits)
        loggers = components.build_loggers(self.config, self.plugins, run_dir)
        start_step = 0
        if resumed_state is not None:
            train_stream.load_state_dict(resumed_state["train_stream"])
            start_step = resumed_state["step"]

        # 3. Gateways: training samples from the rollout config; eval honours eval sampling.
        train_gateway = Gateway(self.engine, self.config, mode="train", plugins=self.plugins)
        eval_gateway = Gateway(self.engine, self.config, mode="eval", plugins=self.plugins)
        if self.config.rollout.isolation == REMOTE:
            local = self.config.rollout.remote.local_workers
            self._remote = RemoteEpisodes(
                self.config, run_dir, self.parts.make_workflow if local else None
            )
            self._remote.serve(train_gateway)
            self._remote.start()
        train_runner = self._runner(train_gateway, TRAIN_MODE)
        eval_runner = self._runner(eval_gateway, EVAL_MODE)
        self._install_interrupt_handler()
        if self.config.trainer.mode == "async":
            self._async = self._async_rollouts(train_runner, train_stream, resumed_state)

        result = LoopResult(run_dir=run_dir, last_step=start_step)
        total_steps = self.config.trainer.total_steps
        step = start_step
        # The loop's state as of the last completed step: what a checkpoint after a crash holds.
        self._last_good_state = self._loop_state(train_stream)
        self._updating = False
        failed_in_a_row = 0
        finished = False  # the run reached its end (not stopped, not failed)
        try:
            with self._progress(total_steps, start_step) as progress:
                # 4. Baseline evaluation, so improvement is measured against the untrained model.
                if (
                    self.config.eval.before_train
                    and start_step == 0
                    and validation_stream is not None
                ):
                    metrics = await self._evaluate(
                        eval_runner, validation_stream, step=0, run_dir=run_dir
                    )
                    self._log(loggers, 0, metrics, result)

                # 5. Steps: rollout -> advantages -> update -> log -> eval -> checkpoint.
                # (In async mode the rollouts run on meanwhile; see _train_async_step.)
                if self._async is not None:
                    self._async.start()
                self._step_ended = time.perf_counter()
                self._engine_busy = getattr(self.engine, "busy_seconds", 0.0)
                while not self._stop_requested and (total_steps is None or step < total_steps):
                    if self._async is not None:
                        batch = await self._async.next_batch()
                        if batch is None:
                            break  # trainer.total_epochs done
                        step += 1
                        metrics = await self._train_async_step(step, batch, run_dir)
                    else:
                        tasks = train_stream.next_batch()
                        if tasks is None:
                            break  # trainer.total_epochs done
                        step += 1
                        metrics = await self._train_step(
                            step, tasks, train_runner, train_stream, run_dir
                        )
                    failed_in_a_row = failed_in_a_row + 1 if _all_failed(metrics) else 0
                    metrics[m.FAILED_STEPS_IN_A_ROW] = failed_in_a_row
                    if (
                        validation_stream is not None
                        and self.config.eval.every_n_steps
                        and step % self.config.eval.every_n_steps == 0
                    ):
                        metrics.update(
                            await self._evaluate(
                                eval_runner, validation_stream, step=step, run_dir=run_dir
                            )
                        )
                    self._log(loggers, step, metrics, result)
                    progress(step, metrics)
                    if (
                        self.config.checkpoint.every_n_steps
                        and step % self.config.checkpoint.every_n_steps == 0
                    ):
                        checkpoints.save(step, self.trainer, self._loop_state(train_stream))
                    result.last_step = step
                    self._last_good_state = self._loop_state(train_stream)
                    limit = self.config.rollout.max_failed_steps
                    if limit and failed_in_a_row >= limit:
                        raise RunFailed(
                            f"every episode failed in {failed_in_a_row} consecutive steps "
                            f"(rollout.max_failed_steps={limit}); {_failure_summary(metrics)}. "
                            "Fix the workflow/judger/engine (see records/ or `ajet view`), then "
                            "--resume from the checkpoint kept"
                        )

                if step > start_step and self._episodes_ok == 0 and not self._stop_requested:
                    raise RunFailed(
                        f"no training episode of this run succeeded in {step - start_step} "
                        f"steps; first causes: {'; '.join(self._failures_shown) or 'unknown'}. "
                        "Fix the workflow/judger/engine (see records/ or `ajet view`), then "
                        "--resume"
                    )
                # 6. The end (or Ctrl-C): a final checkpoint, then the closing evaluation.
                last = checkpoints.latest()
                if step > start_step and (last is None or last.name != f"step_{step:06d}"):
                    checkpoints.save(step, self.trainer, self._loop_state(train_stream))
                result.interrupted = self._stop_requested
                if (
                    self.config.eval.after_train
                    and validation_stream is not None
                    and not self._stop_requested
                    and not (step == start_step and _closing_eval_logged(run_dir, step))
                ):
                    metrics = await self._evaluate(
                        eval_runner, validation_stream, step=step, run_dir=run_dir
                    )
                    self._log(loggers, step, metrics, result)
            finished = not self._stop_requested
        except BaseException:
            self._save_after_crash(checkpoints, result.last_step, start_step)
            raise
        finally:
            if self._async is not None:
                await self._async.close()
            if self._remote is not None:
                # A run that stops early may be resumed: its workers should wait, not leave.
                await self._remote.close(finished=finished)
            for gateway in (train_gateway, eval_gateway):
                await gateway.stop_http()
            loggers.close()
            reader.close()
        return result

    def _show_failures(self, step: int, episodes: list[EpisodeRecord]) -> None:
        """The first few distinct failure causes of the run, on the console: a count in the
        progress line says that episodes fail, not why (records/ and `ajet view` hold all)."""
        for episode in episodes:
            if episode.ok or len(self._failures_shown) >= MAX_FAILURES_SHOWN:
                continue
            cause = (episode.error or "").strip().splitlines()[0][:300] if episode.error else ""
            if cause in self._failures_shown:
                continue
            self._failures_shown.append(cause)
            print(
                f"ajet: step {step}: an episode of task {episode.task.task_id!r} failed "
                f"({failure_reason(episode)}): {cause}",
                file=sys.stderr,
            )

    def _save_after_crash(self, checkpoints: CheckpointManager, step: int, start_step: int) -> None:
        """A fatal error (bad data, a full disk, every episode failing) must not lose the steps
        already trained: save the last completed step, unless the trainer was mid-update (its
        weights or optimizer may then be half-written) or that step is already saved."""
        last = checkpoints.latest()
        if self._updating or step <= start_step or (last and last.name == f"step_{step:06d}"):
            return
        try:
            checkpoints.save(step, self.trainer, self._last_good_state)
            log.warning("the run failed; saved a checkpoint of step %d to resume from", step)
        except Exception as exc:  # noqa: BLE001 - the original error is the one to report
            log.error("the run failed and its checkpoint could not be saved either: %s", exc)

    async def _train_step(
        self, step: int, tasks: list, runner: RolloutRunner, stream: TaskStream, run_dir: Path
    ) -> dict[str, Any]:
        started = time.perf_counter()
        # a. Rollout: each task num_repeat times (one GRPO group per task).
        episodes = await runner.run_tasks(tasks, step=step)
        # b. Advantages per group; useless groups handled as configured.
        kept, stats = assign_grpo_advantages(
            episodes,
            equal_reward_groups=self.config.rollout.equal_reward_groups,
            min_valid_group_size=self.config.rollout.min_valid_group_size,
        )
        rounds = 0
        while (
            self.config.rollout.equal_reward_groups == "refill"
            and stats.kept < len(tasks)
            and rounds < MAX_REFILL_ROUNDS
        ):
            # Replace groups without signal by fresh tasks so the batch keeps its size.
            extra = stream.take(len(tasks) - stats.kept)
            if not extra:
                break
            rounds += 1
            more = await runner.run_tasks(extra, step=step)
            episodes.extend(more)
            kept, stats = assign_grpo_advantages(
                episodes,
                equal_reward_groups="drop",
                min_valid_group_size=self.config.rollout.min_valid_group_size,
            )
        rollout_seconds = time.perf_counter() - started
        self._episodes_ok += sum(1 for episode in episodes if episode.ok)
        self._show_failures(step, episodes)
        samples: list[Sample] = [s for episode in kept for s in episode.samples]
        metrics: dict[str, Any] = {}
        metrics.update(rollout_metrics(episodes, rollout_seconds))
        metrics.update(group_metrics(stats))
        metrics.update(sample_metrics(samples, len(kept)))
        # c. Update the policy (the trainer publishes the new version to the engine).
        metrics.update(await self._update(samples))
        step_seconds = time.perf_counter() - started
        metrics[m.STEP_SECONDS] = step_seconds
        metrics[m.TRAINER_IDLE_SHARE] = rollout_seconds / step_seconds if step_seconds else 0.0
        metrics.update(self._engine_idle(step_seconds))
        write_step_records(run_dir, step, "train", episodes, self.config.logging)
        return metrics

    async def _update(self, samples: list[Sample]) -> dict[str, Any]:
        train_started = time.perf_counter()
        metrics: dict[str, Any] = {}
        if samples:
            self._updating = True
            metrics.update(await asyncio.to_thread(self.trainer.train_step, samples))
            self._updating = False
        metrics[m.TRAIN_SECONDS] = time.perf_counter() - train_started
        return metrics

    def _engine_idle(self, seconds: float) -> dict[str, Any]:
        """The engine's idle share since the last call, for engines that count busy time."""
        busy = getattr(self.engine, "busy_seconds", None)
        if busy is None or seconds <= 0:
            return {}
        previous, self._engine_busy = self._engine_busy, busy
        return {m.ENGINE_IDLE_SHARE: max(0.0, 1.0 - (busy - previous) / seconds)}

    # ------------------------------------------------------------------------- async mode

    def _async_rollouts(
        self, runner: RolloutRunner, stream: TaskStream, resumed: dict[str, Any] | None
    ) -> AsyncRollouts:
        rollout = self.config.rollout
        # Every group's episodes share one bound, as one synchronous batch's do.
        limit = asyncio.Semaphore(rollout.max_concurrency)

        async def run_group(task: Any, nominal_step: int) -> list[EpisodeRecord]:
            return await runner.run_tasks([task], step=nominal_step, limit=limit)

        def judge_group(episodes: list[EpisodeRecord]) -> tuple[list[EpisodeRecord], Any]:
            # "refill" waits for groups with signal (AsyncRollouts); each group is judged alone.
            policy = "keep" if rollout.equal_reward_groups == "keep" else "drop"
            return assign_grpo_advantages(
                episodes,
                equal_reward_groups=policy,
                min_valid_group_size=rollout.min_valid_group_size,
            )

        def take_task() -> Any:
            tasks = stream.take(1)
            return tasks[0] if tasks else None

        return AsyncRollouts(
            run_group=run_group,
            judge_group=judge_group,
            take_task=take_task,
            batch_size=rollout.batch_size,
            max_staleness=self.config.trainer.max_staleness,
            version=self.trainer.step,
            state=(resumed or {}).get("async_rollouts"),
            refill=rollout.equal_reward_groups == "refill",
        )

    async def _train_async_step(
        self, step: int, batch: AsyncBatch, run_dir: Path
    ) -> dict[str, Any]:
        """Train on completed groups while later groups roll out; publish version ``step``.

        A sample counts from its oldest token's version
        (tokens without one: the version its group started on); one more than
        ``trainer.max_staleness`` versions old is dropped and counted."""
        assert self._async is not None
        started = time.perf_counter()
        episodes, kept = batch.episodes, batch.kept
        self._episodes_ok += sum(1 for episode in episodes if episode.ok)
        self._show_failures(step, episodes)
        # The version of the weights now: updates applied (a step with nothing to train leaves
        # the weights, and so the version, as they were).
        current, bound = self.trainer.step, self.config.trainer.max_staleness
        samples: list[Sample] = []
        ages: list[int] = []
        dropped = 0
        for group in batch.groups:
            for episode in group.kept:
                for sample in episode.samples:
                    oldest = sample.oldest_version()
                    age = current - (group.started_version if oldest is None else oldest)
                    if age > bound:
                        dropped += 1
                        continue
                    samples.append(sample)
                    ages.append(age)
        metrics: dict[str, Any] = {}
        metrics.update(rollout_metrics(episodes, batch.window_seconds))
        metrics.update(group_metrics(batch.stats))
        metrics.update(sample_metrics(samples, len(kept)))
        metrics[m.POLICY_VERSION] = current
        metrics[m.DROPPED_STALE] = dropped
        metrics.update(staleness_summary(ages))
        metrics.update(await self._update(samples))
        # The new version is served now: the step's groups leave, the next ones may start.
        await self._async.finish_step(self.trainer.step)
        # The step's wall time: from the end of the last step (its evaluation and checkpoint
        # included, as in sync mode) to now.
        ended = time.perf_counter()
        seconds = ended - (self._step_ended or started)
        self._step_ended = ended
        metrics[m.STEP_SECONDS] = seconds
        metrics[m.TRAINER_IDLE_SHARE] = min(1.0, batch.waited_seconds / seconds) if seconds else 0.0
        metrics.update(self._engine_idle(seconds))
        write_step_records(run_dir, step, "train", episodes, self.config.logging)
        return metrics

    async def _evaluate(
        self, runner: RolloutRunner, stream: TaskStream, *, step: int, run_dir: Path
    ) -> dict[str, Any]:
        stream.load_state_dict({**stream.state_dict(), "epoch": 0, "offset": 0})
        tasks = stream.next_batch() or []
        episodes: list[EpisodeRecord] = await runner.run_tasks(tasks, step=step, mode=EVAL_MODE)
        write_step_records(run_dir, step, "eval", episodes, self.config.logging)
        return eval_metrics(episodes)

    def _loop_state(self, stream: TaskStream) -> dict[str, Any]:
        state = {"train_stream": stream.state_dict(), "python_rng": _json_rng_state()}
        if self._async is not None:
            # The stream has read ahead; the tasks of groups not yet trained start again.
            state["async_rollouts"] = self._async.state_dict()
        return state

    def _log(
        self, loggers: LoggerSet, step: int, metrics: dict[str, Any], result: LoopResult
    ) -> None:
        loggers.log(step, metrics)
        result.history.append({"step": step, **metrics})
        self.plugins.train_step_end(step, metrics)

    # -------------------------------------------------------------------------- ctrl-c

    def _install_interrupt_handler(self) -> None:
        """First Ctrl-C or SIGTERM (how clusters preempt a job): finish the current step, save a
        checkpoint, exit cleanly. A second one: abort (the last finished step is still saved)."""
        try:
            loop = asyncio.get_running_loop()
            for stop in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(stop, self._on_interrupt, stop)
        except (NotImplementedError, RuntimeError):  # not the main thread, or no signals here
            pass

    def _on_interrupt(self, stop: signal.Signals = signal.SIGINT) -> None:
        if self._stop_requested:
            raise KeyboardInterrupt
        self._stop_requested = True
        name = "Ctrl-C" if stop == signal.SIGINT else stop.name
        log.warning("%s: finishing this step, then saving a checkpoint (a second one aborts)", name)

    # ------------------------------------------------------------------------ progress

    def _progress(self, total_steps: int | None, start_step: int):
        from contextlib import contextmanager

        @contextmanager
        def progress_bar():
            if not self.show_progress:
                yield lambda step, metrics: None
                return
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            columns = [
                TextColumn("[bold]step"),
                MofNCompleteColumn(),
                BarColumn(),
                TextColumn("{task.fields[summary]}"),
                TimeElapsedColumn(),
            ]
            with Progress(*columns, transient=False) as bar:
                task_id = bar.add_task("train", total=total_steps, completed=start_step, summary="")

                def update(step: int, metrics: dict[str, Any]) -> None:
                    summary = (
                        f"reward {metrics.get(m.REWARD_MEAN, 0):.3f}  "
                        f"success {metrics.get(m.SUCCESS_RATE, 0):.2f}  "
                        f"tok/s {metrics.get(m.TOKENS_PER_SECOND, 0):.0f}"
                    )
                    bar.update(task_id, completed=step, summary=summary)

                yield update

        return progress_bar()
