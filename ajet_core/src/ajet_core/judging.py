"""The judger interface: turn a finished episode into a reward."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from ajet_core.plugin_options import OptionsAlsoAsConfig, PluginWithOptions
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


class Judger(PluginWithOptions, OptionsAlsoAsConfig):
    """Subclass and implement :meth:`judge` (or :meth:`ajudge` for I/O-bound judgers).

    ``options_model`` validates the ``judger`` config section (minus its ``type`` key) at load
    time; the validated options arrive as ``self.options``.
    """

    options_model: ClassVar[type[JudgerConfig]] = JudgerConfig

    def __init__(self, options: JudgerConfig | None = None) -> None:
        self.options = options if options is not None else self.options_model()

    def judge(self, task: Task, output: WorkflowOutput) -> JudgeResult:
        raise NotImplementedError(f"{type(self).__name__} implements neither judge nor ajudge")

    async def ajudge(self, task: Task, output: WorkflowOutput) -> JudgeResult:
        # CPU-bound judgers run off the event loop so episodes keep flowing, each call in a
        # daemon thread: a judge that never returns times out its episode (the runner stops
        # waiting) and must not also keep the process from exiting, as a pool thread would.
        loop = asyncio.get_running_loop()
        result: asyncio.Future[JudgeResult] = loop.create_future()

        def settle(value: Any, error: BaseException | None) -> None:
            if not result.done():
                result.set_exception(error) if error else result.set_result(value)

        def work() -> None:
            try:
                value, error = self.judge(task, output), None
            except BaseException as exc:  # noqa: BLE001 - handed to the awaiting episode
                value, error = None, exc
            try:
                loop.call_soon_threadsafe(settle, value, error)
            except RuntimeError:  # the loop closed while we judged: nobody is waiting
                pass

        threading.Thread(target=work, name=f"ajet-judge-{type(self).__name__}", daemon=True).start()
        return await result
