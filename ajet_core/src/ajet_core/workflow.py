"""The user-facing workflow API (AgentJet's names: users migrate with their code)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

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

    @field_validator("reward", "is_success", mode="before")
    @classmethod
    def _no_strings(cls, value: Any, info: Any) -> Any:
        # pydantic would turn reward="0.5" into 0.5 and is_success="no" into False; a string
        # here is a bug in the workflow (an unparsed answer), so it fails the episode instead.
        parts = value if isinstance(value, list) else [value]
        for part in parts:
            if isinstance(part, (str, bytes)):
                raise ValueError(f"{info.field_name} must not be a string (got {part!r})")
        return value


class Workflow(ABC):
    """Subclass and implement :meth:`execute`.

    ``trainable_targets`` names the target tags whose calls are trained; ``None`` or ``[]`` trains
    every agent's calls.

    AgentJet's ``Workflow`` is a pydantic model, so AgentJet workflows declare their settings as
    annotated class fields, often with ``pydantic.Field(default=...)``. Those work here too: a
    ``Field`` class attribute stands for its default (``default_factory`` runs per instance), and
    keyword arguments set attributes, as AgentJet's ``extra="allow"`` model does.
    """

    trainable_targets: ClassVar[list[str] | None] = None
    # Field attributes with a default_factory: one fresh value per instance, set in __init__.
    _field_factories: ClassVar[dict[str, Any]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        factories = dict(getattr(cls, "_field_factories", {}))
        for attr, value in list(vars(cls).items()):
            if not isinstance(value, FieldInfo):
                continue
            if value.default_factory is not None:
                factories[attr] = value.default_factory
                # The class attribute must not stay a FieldInfo (the backbones read
                # trainable_targets from the class): the factory's value stands for it.
                setattr(cls, attr, value.default_factory())  # type: ignore[call-arg]
            elif value.default is PydanticUndefined:
                raise TypeError(
                    f"{cls.__name__}.{attr} = Field(...) has no default; workflows are created "
                    "without arguments, so give it default= or default_factory="
                )
            else:
                factories.pop(attr, None)
                setattr(cls, attr, value.default)
        cls._field_factories = factories

    def __init__(self, name: str | None = None, **kwargs: Any) -> None:
        declared = getattr(type(self), "name", None)
        self.name = name or (declared if isinstance(declared, str) else type(self).__name__)
        for attr, factory in self._field_factories.items():
            setattr(self, attr, factory())
        for attr, value in kwargs.items():
            if callable(getattr(type(self), attr, None)):
                raise TypeError(
                    f"workflow option {attr!r} would replace {type(self).__name__}.{attr}(); "
                    "rename the option under workflow.options"
                )
            setattr(self, attr, value)
        self.options = kwargs

    @abstractmethod
    async def execute(self, task: WorkflowTask, tuner: AjetTuner) -> WorkflowOutput:
        """Run one episode of the agent on ``task`` using models from ``tuner``."""
