"""Every hook an AgentJet plugin can implement.

Plugins are discovered through the ``ajet`` entry-point group. An entry point names a module (or
object) holding functions decorated with :data:`hookimpl`. Entry-point modules must stay thin:
heavy imports (torch, verl, trinity, agentscope) belong inside hook bodies or behind the dotted
paths given to a registry, so that ``ajet plugins list`` stays fast and works without a GPU stack.

When a plugin loads, its implementations are checked against these specs: a name that matches no
spec (``ajet_register_judger``), a ``wrapper``/``hookwrapper`` implementation or an ``ajet_*``
function without ``@hookimpl`` marks the plugin failed. When a registered target loads, its
registry checks it is a subclass of that kind's base class (``Judger``, ``TaskReader`` ...).

Core code never calls ``pm.hook`` directly: it goes through
:class:`ajet_core.plugins.manager.PluginManager`, which calls registration hooks one plugin at a
time (so a duplicate name can name both plugins) and isolates failing lifecycle hooks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:  # pragma: no cover - typing only
    from ajet_core.config.models import AjetConfig
    from ajet_core.plugins.commands import CommandRegistry
    from ajet_core.plugins.registry import (
        BackboneRegistry,
        JudgerRegistry,
        LoggerRegistry,
        ModelClientRegistry,
        TaskReaderRegistry,
        ToolParserRegistry,
        TrackerRegistry,
        WorkflowRegistry,
    )
    from ajet_core.schema import EpisodeRecord

PROJECT_NAME = "ajet"
ENTRY_POINT_GROUP = "ajet"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


# ---------------------------------------------------------------------------------------------
# Registration hooks: called once per plugin when the plugin manager loads. Each receives a typed
# registry and calls ``registry.add(name, target, ...)``; the return value is ignored.
# ---------------------------------------------------------------------------------------------


@hookspec
def ajet_register_task_readers(registry: TaskReaderRegistry) -> None:
    """Register task readers (``jsonl``, ``huggingface``, ``env_service`` ...).

    A target is a :class:`ajet_core.readers.TaskReader` subclass or its ``"module:Class"`` path.
    Selected in config by ``task_reader.type``.
    """


@hookspec
def ajet_register_workflows(registry: WorkflowRegistry) -> None:
    """Register workflows by name so configs can say ``workflow.name: my_agent``.

    A target is a :class:`ajet_core.workflow.Workflow` subclass or its ``"module:Class"`` path. A
    registered name wins over a ``module:Class`` path of the same spelling.
    """


@hookspec
def ajet_register_judgers(registry: JudgerRegistry) -> None:
    """Register judgers (reward functions). Selected in config by ``judger.type``.

    A target is a :class:`ajet_core.judging.Judger` subclass or its ``"module:Class"`` path.
    """


@hookspec
def ajet_register_backbones(registry: BackboneRegistry) -> None:
    """Register training backbones (``debug``, ``verl``, ``trinity``).

    Pass ``requires=["verl>=0.9,<0.10"]`` so the manager can report a missing or mismatched
    dependency without importing it. Selected by ``backbone.name`` or ``--backbone``.
    """


@hookspec
def ajet_register_trackers(registry: TrackerRegistry) -> None:
    """Register trackers that turn an episode's LLM calls into training samples.

    Selected by ``tracker.type`` (built-ins: ``per_call``, ``timeline_merge``).
    """


@hookspec
def ajet_register_tool_parsers(registry: ToolParserRegistry) -> None:
    """Register tool-call parsers that turn generated text into OpenAI ``tool_calls``.

    Selected by ``model.tool_parser`` (built-in: ``hermes``).
    """


@hookspec
def ajet_register_model_clients(registry: ModelClientRegistry) -> None:
    """Register model clients: how a framework turns a gateway endpoint into its model object.

    A target is a callable ``(endpoint: ModelEndpoint, **kwargs) -> object``. ``AjetTuner``
    exposes them, e.g. ``tuner.as_agentscope_model(...)`` calls the client named ``agentscope``.
    """


@hookspec
def ajet_register_loggers(registry: LoggerRegistry) -> None:
    """Register metric loggers (console, ``metrics.jsonl``, TensorBoard, W&B, SwanLab).

    Loggers are switched on by ``logging.loggers`` in config only, never by being installed.
    """


# ---------------------------------------------------------------------------------------------
# Lifecycle hooks: called by the core while it runs. A plugin that raises is logged and skipped;
# it never takes the run down.
# ---------------------------------------------------------------------------------------------


@hookspec
def ajet_configure(config: AjetConfig) -> None:
    """Called once after the run config is resolved and validated, before anything starts."""


@hookspec
def ajet_episode_end(episode: EpisodeRecord) -> None:
    """Called after each episode is judged and its samples are built (or it failed)."""


@hookspec
def ajet_train_step_end(step: int, metrics: dict[str, Any]) -> None:
    """Called after each training step with that step's metrics (names from docs/metrics.md)."""


@hookspec
def ajet_add_commands(cli: CommandRegistry) -> None:
    """Add sub-commands to the ``ajet`` CLI, e.g. the debug backbone's ``ajet model ...``."""
