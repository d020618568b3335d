"""The user-facing workflow API (AgentJet's names: users migrate with their code)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from ajet_core.schema import Task

if TYPE_CHECKING:  # pragma: no cover
    from ajet_core.tuner import AjetTuner


class WorkflowTask(BaseModel):
    """What a workflow receives for one episode."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    env_type: str = ""
    task_id: str = ""
    task_thread_index: int = 0
    task_batch_index: int = 0
    task_tag: str = ""
    episode_uuid: str = ""
    task: Task = Field(default_factory=Task)
    # An environment handle (e.g. an env-service instance) when the reader provides one.
    gym_env: Any = None


class WorkflowOutput(BaseModel):
    """What a workflow returns. ``reward=None`` lets the configured judger decide."""

    reward: float | list[float] | None = None
    is_success: bool | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    log_metrics: dict[str, float | list[float]] = Field(default_factory=dict)


class Workflow(ABC):
    """Subclass and implement :meth:`execute`.

    ``trainable_targets`` names the target tags whose calls are trained; ``None`` or ``[]`` trains
    every agent's calls.
    """

    trainable_targets: ClassVar[list[str] | None] = None

    def __init__(self, name: str | None = None, **kwargs: Any) -> None:
        self.name = name or type(self).__name__
        self.options = kwargs

    @abstractmethod
    async def execute(self, task: WorkflowTask, tuner: AjetTuner) -> WorkflowOutput:
        """Run one episode of the agent on ``task`` using models from ``tuner``."""
