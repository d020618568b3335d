"""Build the run's plugins from a validated config: reader, judger, tracker, workflow, loggers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ajet_core.config.models import AjetConfig
from ajet_core.config.plugin_sections import ResolvedPlugin, RunPlan, resolve_loggers
from ajet_core.errors import ConfigError
from ajet_core.judging import Judger
from ajet_core.loggers import LoggerSet, MetricLogger
from ajet_core.plugins.manager import PluginManager
from ajet_core.readers import TaskReader
from ajet_core.rollout.isolation import REMOTE, WorkflowExecutor, executor_for
from ajet_core.rollout.runner import RolloutRunner, RolloutSettings
from ajet_core.rollout.workflows import resolve_workflow, trainable_targets, workflow_factory
from ajet_core.workflow import Workflow


def instantiate(resolved: ResolvedPlugin | None) -> Any:
    """Create a reader/judger/tracker from its class and validated options."""
    if resolved is None:
        return None
    if resolved.options is None:
        return resolved.implementation()
    return resolved.implementation(resolved.options)


@dataclass
class EpisodeParts:
    """What every backbone runs episodes with, besides a gateway and a task reader: the judger,
    the tracker and the user's workflow (with the target tags it trains)."""

    config: AjetConfig
    judger: Judger | None
    tracker: Any
    make_workflow: Callable[[], Workflow]
    trainable_targets: list[str] | None

    @classmethod
    def build(cls, config: AjetConfig, resolved: RunPlan, plugins: PluginManager) -> EpisodeParts:
        judger = instantiate(resolved.judger)
        # Trackers read their options from the core's tracker section.
        tracker = resolved.tracker.implementation.from_config(config)
        if remote_workers_only(config):
            # Every episode runs in a remote worker's own code: no workflow to resolve here.
            targets = config.workflow.trainable_targets or None
            return cls(config, judger, tracker, _no_local_workflow, targets)
        workflow_class = resolve_workflow(config, plugins)
        return cls(
            config=config,
            judger=judger,
            tracker=tracker,
            make_workflow=workflow_factory(config, workflow_class),
            trainable_targets=trainable_targets(config, workflow_class),
        )

    def runner(
        self,
        gateway: Any,
        *,
        num_repeat: int,
        reader: TaskReader | None,
        build_samples: bool = True,
        on_episode_end: Callable[[Any], None] | None = None,
        make_executor: Callable[[], WorkflowExecutor] | None = None,
    ) -> RolloutRunner:
        """A rollout runner on ``gateway``; ``build_samples=False`` when nobody trains on them.
        ``make_executor`` overrides where episodes run (``rollout.isolation`` by default)."""
        return RolloutRunner(
            gateway=gateway,
            make_workflow=self.make_workflow,
            judger=self.judger,
            tracker=self.tracker if build_samples else None,
            settings=rollout_settings(
                self.config, num_repeat=num_repeat, trainable_targets=self.trainable_targets
            ),
            on_episode_end=on_episode_end,
            reader=reader,
            make_executor=make_executor
            or executor_for(self.config, self.make_workflow, self.trainable_targets),
        )


def remote_workers_only(config: AjetConfig) -> bool:
    """Remote workers run every episode: the run needs no workflow of its own."""
    rollout = config.rollout
    return rollout.isolation == REMOTE and rollout.remote.local_workers == 0


def _no_local_workflow() -> Workflow:
    raise ConfigError(
        "rollout.remote.local_workers is 0: this run executes no workflow itself (remote "
        "workers run every episode)"
    )


def rollout_settings(
    config: AjetConfig, *, num_repeat: int, trainable_targets: list[str] | None
) -> RolloutSettings:
    """The rollout runner's settings from the run config (shared by every backbone)."""
    rollout = config.rollout
    return RolloutSettings(
        num_repeat=num_repeat,
        max_concurrency=rollout.max_concurrency,
        episode_timeout=rollout.episode_timeout,
        engine_error_retries=rollout.engine_error_retries,
        seed=config.experiment.seed,
        trainable_targets=trainable_targets,
    )


def build_loggers(config: AjetConfig, plugins: PluginManager, run_dir: Path) -> LoggerSet:
    loggers: dict[str, MetricLogger] = {}
    for name, (logger_class, options) in resolve_loggers(config, plugins).items():
        if options is None:
            loggers[name] = logger_class(run_dir, config)
        else:
            loggers[name] = logger_class(run_dir, config, options)
    return LoggerSet(loggers)
