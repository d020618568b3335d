"""The judger interface: turn a finished episode into a reward."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from ajet_core.schema import Task
from ajet_core.workflow import WorkflowOutput


class JudgerConfig(BaseModel):
    """Base of every judger's options; unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")


@dataclass
class JudgeResult:
    reward: float
    is_success: bool
    metrics: dict[str, Any] = field(default_factory=dict)


class Judger:
    """Subclass and implement :meth:`judge` (or :meth:`ajudge` for I/O-bound judgers).

    ``config_model`` validates the ``judger`` config section (minus its ``type`` key) at load
    time; the validated options arrive as ``self.config``.
    """

    config_model: ClassVar[type[JudgerConfig]] = JudgerConfig

    def __init__(self, config: JudgerConfig | None = None) -> None:
        self.config = config if config is not None else self.config_model()

    def judge(self, task: Task, output: WorkflowOutput) -> JudgeResult:
        raise NotImplementedError(f"{type(self).__name__} implements neither judge nor ajudge")

    async def ajudge(self, task: Task, output: WorkflowOutput) -> JudgeResult:
        # CPU-bound judgers run off the event loop so episodes keep flowing.
        return await asyncio.to_thread(self.judge, task, output)
