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
    # `X as X` marks an explicit re-export (``__all__`` is computed, so ruff cannot see it).
    from ajet_core.backbone import Backbone as Backbone
    from ajet_core.backbone import BackboneConfig as BackboneConfig
    from ajet_core.config.loader import load_config as load_config
    from ajet_core.config.models import AjetConfig as AjetConfig
    from ajet_core.engine import Engine as Engine
    from ajet_core.engine import Generation as Generation
    from ajet_core.engine import SamplingParams as SamplingParams
    from ajet_core.hookspecs import hookimpl as hookimpl
    from ajet_core.hookspecs import hookspec as hookspec
    from ajet_core.judging import Judger as Judger
    from ajet_core.judging import JudgerConfig as JudgerConfig
    from ajet_core.judging import JudgeResult as JudgeResult
    from ajet_core.readers import TaskReader as TaskReader
    from ajet_core.readers import TaskReaderConfig as TaskReaderConfig
    from ajet_core.schema import EpisodeRecord as EpisodeRecord
    from ajet_core.schema import LlmCall as LlmCall
    from ajet_core.schema import Sample as Sample
    from ajet_core.schema import Task as Task
    from ajet_core.tuner import AjetTuner as AjetTuner
    from ajet_core.workflow import Workflow as Workflow
    from ajet_core.workflow import WorkflowOutput as WorkflowOutput
    from ajet_core.workflow import WorkflowTask as WorkflowTask
