"""``env_service`` task reader: tasks and per-episode environments from an HTTP env service.

    task_reader:
      type: env_service
      url: http://127.0.0.1:8080       # e.g. python -m ajet_plugins_std.envs.server --port 8080
      env_type: frozenlake
      train_split: train               # the server's split names
      validation_split: validation

Each episode gets its own instance (instance id = episode id) through :meth:`episode_env`: the
workflow sees the first observation as ``task.init_messages``/``task.main_query`` and the
instance as ``workflow_task.gym_env``; the instance is released when the episode ends, whatever
happened. The ``env_service`` judger scores the episode with the instance's ``evaluate``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

from pydantic import Field

from ajet_core.errors import ConfigError
from ajet_core.readers import TRAIN_SPLIT, VALIDATION_SPLIT, TaskReader, TaskReaderConfig
from ajet_core.schema import Task
from ajet_plugins_std.envs.client import EnvInstance, EnvServiceClient

log = logging.getLogger(__name__)

# task.metadata key through which the env_service judger finds the episode's instance.
ENV_INSTANCE_KEY = "env_instance"


class EnvServiceReaderConfig(TaskReaderConfig):
    url: str
    env_type: str
    train_split: str = "train"
    validation_split: str = "validation"
    # Seconds per HTTP call, and retries of calls that are safe to repeat.
    timeout: float = Field(default=30.0, gt=0)
    retries: int = Field(default=2, ge=0)
    # Sent with every 'create' (environment options, e.g. {"size": 6} for FrozenLake).
    create_params: dict[str, Any] = Field(default_factory=dict)


class EnvServiceTaskReader(TaskReader):
    options_model = EnvServiceReaderConfig
    options: EnvServiceReaderConfig

    def __init__(self, config: EnvServiceReaderConfig | None = None) -> None:
        if config is None:
            raise ConfigError(
                "the env_service reader needs task_reader.url and task_reader.env_type"
            )
        super().__init__(config)
        self.client = EnvServiceClient(config.url, timeout=config.timeout, retries=config.retries)

    def _server_split(self, split: str) -> str:
        mapping = {
            TRAIN_SPLIT: self.options.train_split,
            VALIDATION_SPLIT: self.options.validation_split,
        }
        if split not in mapping:
            raise ConfigError(
                f"env_service reader has no split {split!r}; it serves {', '.join(mapping)}"
            )
        return mapping[split]

    def iter_tasks(self, split: str) -> Iterator[Task]:
        server_split = self._server_split(split)
        task_ids = self.client.list_task_ids(self.options.env_type, server_split)
        if not task_ids:
            raise ConfigError(
                f"env service {self.options.url} lists no tasks for env_type "
                f"{self.options.env_type!r}, split {server_split!r}; check task_reader.env_type "
                "and the split names"
            )
        return (Task(task_id=task_id, env_type=self.options.env_type) for task_id in task_ids)

    @asynccontextmanager
    async def episode_env(self, task: Task, episode_id: str) -> AsyncIterator[tuple[Task, Any]]:
        c = self.options
        first = await self.client.acreate(
            task.env_type or c.env_type, task.task_id, episode_id, c.create_params
        )
        instance = EnvInstance(
            self.client,
            env_type=task.env_type or c.env_type,
            task_id=task.task_id,
            instance_id=episode_id,
            first=first,
        )
        try:
            episode_task = task.model_copy(
                update={
                    "main_query": instance.main_query,
                    "init_messages": instance.init_messages,
                    "metadata": {
                        **task.metadata,
                        ENV_INSTANCE_KEY: {
                            "url": c.url,
                            "env_type": instance.env_type,
                            "instance_id": episode_id,
                        },
                    },
                }
            )
            yield episode_task, instance
        finally:
            try:
                await instance.arelease()
            except Exception as exc:  # noqa: BLE001 - the server's TTL reaps it; the episode's result stands
                log.warning("could not release env instance %s: %s", episode_id, exc)

    def close(self) -> None:
        self.client.close()
