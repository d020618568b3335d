"""The task-reader interface: where tasks come from."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from ajet_core.plugin_options import OptionsAlsoAsConfig, PluginWithOptions
from ajet_core.schema import Task

TRAIN_SPLIT = "train"
VALIDATION_SPLIT = "validation"


class TaskReaderConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    def required_files(self) -> list[tuple[str, str]]:
        """``(option, path)`` of every local file these options name. The run commands check
        that each exists before the model loads; a reader reading local files overrides this."""
        return []


class TaskReader(PluginWithOptions, OptionsAlsoAsConfig):
    """Subclass and implement :meth:`iter_tasks`.

    ``iter_tasks`` yields the tasks of a split in a deterministic order and streams them: the
    core's task stream asks for batches and never holds the whole data set. Shuffling, epochs and
    the resumable position live in :class:`ajet_core.data.TaskStream`, not in each reader.
    """

    options_model: ClassVar[type[TaskReaderConfig]] = TaskReaderConfig

    def __init__(self, options: TaskReaderConfig | None = None) -> None:
        self.options = options if options is not None else self.options_model()

    def splits(self) -> list[str]:
        return [TRAIN_SPLIT, VALIDATION_SPLIT]

    def iter_tasks(self, split: str) -> Iterator[Task]:
        raise NotImplementedError

    @asynccontextmanager
    async def episode_env(self, task: Task, episode_id: str) -> AsyncIterator[tuple[Task, Any]]:
        """What one episode of ``task`` runs against: yields ``(task, gym_env)``.

        The rollout runner enters this before the workflow runs and leaves it after the judger,
        passing the yielded task to both and ``gym_env`` as ``WorkflowTask.gym_env``. Readers
        backed by an environment service create an instance here (the yielded task then carries
        its first observation) and release it on exit, even when the episode fails or times out.
        The default: the task unchanged, no environment.
        """
        yield task, None

    def close(self) -> None:
        """Release files, connections or environment instances."""
