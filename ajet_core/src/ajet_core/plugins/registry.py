"""Typed registries handed to the ``ajet_register_*`` hooks.

A plugin calls ``registry.add(name, target)`` where ``target`` is the object itself or a
``"module:Object"`` path. Paths keep entry-point modules thin: the object is imported only when a
config selects it. The manager tells each registry which plugin is registering, so an entry knows
its plugin and distribution and a duplicate name can name both plugins.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any, ClassVar


@dataclass
class PluginSource:
    """Which plugin (and which installed distribution) an entry came from."""

    plugin: str
    distribution: str | None = None
    version: str | None = None

    def describe(self) -> str:
        if self.distribution:
            return f"plugin {self.plugin!r} from {self.distribution} {self.version or ''}".strip()
        return f"plugin {self.plugin!r}"


@dataclass
class RegistryEntry:
    kind: str
    name: str
    target: Any
    source: PluginSource
    description: str = ""
    # Requirement strings (PEP 508) checked against installed distributions without importing.
    requires: list[str] = field(default_factory=list)
    # What the user installs to satisfy ``requires`` (e.g. "pip install 'ajet[verl]'").
    install_hint: str = ""
    _resolved: Any = field(default=None, repr=False)

    @property
    def target_path(self) -> str:
        if isinstance(self.target, str):
            return self.target
        module = getattr(self.target, "__module__", "?")
        return f"{module}:{getattr(self.target, '__qualname__', repr(self.target))}"

    def load(self) -> Any:
        """Import (once) and return the registered object."""
        if self._resolved is None:
            if isinstance(self.target, str):
                from ajet_core.importing import import_object

                self._resolved = import_object(self.target)
            else:
                self._resolved = self.target
        return self._resolved


class Registry:
    """Names of one kind of thing (judgers, readers ...) to their implementations.

    ``base`` is what every entry must be when it loads: a subclass of that class, named by path
    so this module imports none of them (None: any callable, e.g. a model-client factory).
    """

    kind: ClassVar[str] = "thing"
    hook_name: ClassVar[str] = ""
    base: ClassVar[str | None] = None

    @classmethod
    def type_problem(cls, obj: Any) -> str | None:
        """Why ``obj`` cannot serve as an entry of this registry, or None when it can."""
        if cls.base is None:
            return None if callable(obj) else f"{obj!r}, which is not callable"
        from ajet_core.importing import import_object

        base = import_object(cls.base)
        if inspect.isclass(obj) and issubclass(obj, base):
            return None
        public = cls.base.replace(":", ".")
        return (
            f"{obj!r}, which is not a subclass of {public} (subclass {base.__name__}, e.g. "
            f"`from {cls.base.split(':')[0]} import {base.__name__}`)"
        )

    def __init__(self) -> None:
        self._entries: dict[str, RegistryEntry] = {}
        self._current: PluginSource = PluginSource(plugin="<direct>")
        # Later claims on names already taken, in the order they came: the plugin manager
        # decides who keeps each name (a clash must not stop the claimant's hook half-way and
        # lose the names it would have registered after it).
        self.duplicates: list[RegistryEntry] = []

    def set_source(self, source: PluginSource) -> None:
        """Who registers next (the manager sets it before calling each plugin's hook)."""
        self._current = source

    def add(
        self,
        name: str,
        target: Any,
        *,
        description: str = "",
        requires: list[str] | tuple[str, ...] = (),
        install_hint: str = "",
    ) -> None:
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"{self.kind} name must be a non-empty string, got {name!r}")
        if any(character.isspace() or character in "/\\" for character in name):
            # A name is written in configs and on command lines (judger.type=NAME).
            raise ValueError(
                f"{self.kind} name {name!r} holds whitespace or a slash; use letters, digits, "
                "'_', '-' or '.'"
            )
        entry = RegistryEntry(
            kind=self.kind,
            name=name,
            target=target,
            source=self._current,
            description=description,
            requires=list(requires),
            install_hint=install_hint,
        )
        if name in self._entries:
            self.duplicates.append(entry)
            return
        self._entries[name] = entry

    def replace(self, entry: RegistryEntry) -> None:
        """Give ``entry.name`` to ``entry`` (the manager settling a clash)."""
        self._entries[entry.name] = entry

    def duplicate_message(self, holder: RegistryEntry, claim: RegistryEntry) -> str:
        """Two plugins, neither of which owns the name: both named, the name unusable."""
        return (
            f"{self.kind} {claim.name!r} is registered twice: by {holder.source.describe()} and "
            f"by {claim.source.describe()}; uninstall one of them or block one with "
            f"AJET_DISABLE_PLUGINS={claim.source.plugin}"
        )

    def get(self, name: str) -> RegistryEntry | None:
        return self._entries.get(name)

    def names(self) -> list[str]:
        return sorted(self._entries)

    def entries(self) -> list[RegistryEntry]:
        return [self._entries[n] for n in self.names()]

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __len__(self) -> int:
        return len(self._entries)


class TaskReaderRegistry(Registry):
    kind = "task_reader"
    hook_name = "ajet_register_task_readers"
    base = "ajet_core.readers:TaskReader"


class WorkflowRegistry(Registry):
    kind = "workflow"
    hook_name = "ajet_register_workflows"
    base = "ajet_core.workflow:Workflow"


class JudgerRegistry(Registry):
    kind = "judger"
    hook_name = "ajet_register_judgers"
    base = "ajet_core.judging:Judger"


class BackboneRegistry(Registry):
    kind = "backbone"
    hook_name = "ajet_register_backbones"
    base = "ajet_core.backbone:Backbone"


class TrackerRegistry(Registry):
    kind = "tracker"
    hook_name = "ajet_register_trackers"
    base = "ajet_core.tracking.base:Tracker"


class ToolParserRegistry(Registry):
    kind = "tool_parser"
    hook_name = "ajet_register_tool_parsers"
    base = "ajet_core.toolparsers.base:ToolParser"


class ModelClientRegistry(Registry):
    kind = "model_client"
    hook_name = "ajet_register_model_clients"


class LoggerRegistry(Registry):
    kind = "logger"
    hook_name = "ajet_register_loggers"
    base = "ajet_core.loggers:MetricLogger"


REGISTRY_CLASSES: tuple[type[Registry], ...] = (
    TaskReaderRegistry,
    WorkflowRegistry,
    JudgerRegistry,
    BackboneRegistry,
    TrackerRegistry,
    ToolParserRegistry,
    ModelClientRegistry,
    LoggerRegistry,
)

REGISTRY_BY_KIND: dict[str, type[Registry]] = {cls.kind: cls for cls in REGISTRY_CLASSES}
