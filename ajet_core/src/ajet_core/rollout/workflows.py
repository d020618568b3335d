"""Which workflow a run runs: resolved from the config, and one fresh object per episode.

Used by the run's builder (``training.components``) and by an isolated episode's worker process
(``rollout.isolation``), which resolves the workflow again on its side.
"""

from __future__ import annotations

from collections.abc import Callable

from ajet_core.config.models import AjetConfig
from ajet_core.errors import ConfigError
from ajet_core.importing import import_object, looks_like_object_path
from ajet_core.plugins.manager import PluginManager
from ajet_core.workflow import Workflow


def resolve_workflow(config: AjetConfig, plugins: PluginManager) -> type[Workflow]:
    """A registered name wins; else ``module:Class`` / ``file.py:Class`` / AgentJet's ``->``."""
    name = config.workflow.name
    if not name:
        raise ConfigError(
            "workflow.name is not set: name a registered workflow or 'path/to/file.py:Class'"
        )
    registered = name in plugins.registry("workflow")
    if registered and looks_like_object_path(name):
        raise ConfigError(
            f"workflow.name {name!r} is both a registered workflow and an object path; rename one"
        )
    if registered:
        workflow_class = plugins.load_object("workflow", name, config_key="workflow.name")
    elif looks_like_object_path(name):
        workflow_class = plugins.check_object(
            "workflow",
            import_object(name, base_dir=config.base_dir),
            config_key="workflow.name",
            value=name,
        )
    else:
        known = ", ".join(plugins.names("workflow")) or "none"
        raise ConfigError(
            f"workflow.name {name!r} is neither a registered workflow (registered: {known}) nor "
            "an object path like 'my_agent.py:MyAgent'"
        )
    return workflow_class


def workflow_factory(config: AjetConfig, workflow_class: type[Workflow]) -> Callable[[], Workflow]:
    """A fresh workflow object per episode, so episodes never share state by accident."""
    options = dict(config.workflow.options)

    def make() -> Workflow:
        return workflow_class(**options)

    return make


def trainable_targets(config: AjetConfig, workflow_class: type[Workflow]) -> list[str] | None:
    # The config overrides what the workflow class declares.
    if config.workflow.trainable_targets is not None:
        return config.workflow.trainable_targets or None
    return list(workflow_class.trainable_targets or []) or None
