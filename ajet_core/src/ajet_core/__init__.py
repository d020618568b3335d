"""AgentJet core.

The public API is imported lazily (PEP 562) so that ``import ajet_core`` stays cheap: listing
plugins must not pull in openai, httpx or anything heavier.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_LAZY: dict[str, str] = {
    "Workflow": "ajet_core.workflow",
    "WorkflowTask": "ajet_core.workflow",
    "WorkflowOutput": "ajet_core.workflow",
    "AjetTuner": "ajet_core.tuner",
    "Task": "ajet_core.schema",
    "LlmCall": "ajet_core.schema",
    "Sample": "ajet_core.schema",
    "EpisodeRecord": "ajet_core.schema",
    "Judger": "ajet_core.judging",
    "JudgerConfig": "ajet_core.judging",
    "JudgeResult": "ajet_core.judging",
    "TaskReader": "ajet_core.readers",
    "TaskReaderConfig": "ajet_core.readers",
    "Backbone": "ajet_core.backbone",
    "BackboneConfig": "ajet_core.backbone",
    "Engine": "ajet_core.engine",
    "SamplingParams": "ajet_core.engine",
    "Generation": "ajet_core.engine",
    "AjetConfig": "ajet_core.config.models",
    "load_config": "ajet_core.config.loader",
    "hookimpl": "ajet_core.hookspecs",
    "hookspec": "ajet_core.hookspecs",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'ajet_core' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])


if TYPE_CHECKING:  # pragma: no cover
    from ajet_core.backbone import Backbone, BackboneConfig
    from ajet_core.config.loader import load_config
    from ajet_core.config.models import AjetConfig
    from ajet_core.engine import Engine, Generation, SamplingParams
    from ajet_core.hookspecs import hookimpl, hookspec
    from ajet_core.judging import Judger, JudgerConfig, JudgeResult
    from ajet_core.readers import TaskReader, TaskReaderConfig
    from ajet_core.schema import EpisodeRecord, LlmCall, Sample, Task
    from ajet_core.tuner import AjetTuner
    from ajet_core.workflow import Workflow, WorkflowOutput, WorkflowTask
