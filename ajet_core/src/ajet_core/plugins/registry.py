"""Typed registries handed to the ``ajet_register_*`` hooks.

A plugin calls ``registry.add(name, target)`` where ``target`` is the object itself or a
``"module:Object"`` path. Paths keep entry-point modules thin: the object is imported only when a
config selects it. The manager tells each registry which plugin is registering, so an entry knows
its plugin and distribution and a duplicate name can name both plugins.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from ajet_core.errors import DuplicateNameError


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
    """Names of one kind of thing (judgers, readers ...) to their implementations."""

    kind: ClassVar[str] = "thing"
    hook_name: ClassVar[str] = ""

    def __init__(self) -> None:
        self._entries: dict[str, RegistryEntry] = {}
        self._current: PluginSource = PluginSource(plugin="<direct>")

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
        if name in self._entries:
            existing = self._entries[name]
            raise DuplicateNameError(
                f"{self.kind} {name!r} is registered twice: by {existing.source.describe()} and "
                f"by {self._current.describe()}; uninstall one of them or block one with "
                f"AJET_DISABLE_PLUGINS={self._current.plugin}"
            )
        self._entries[name] = RegistryEntry(
            kind=self.kind,
            name=name,
            target=target,
            source=self._current,
            description=description,
            requires=list(requires),
            install_hint=install_hint,
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


class WorkflowRegistry(Registry):
    kind = "workflow"
    hook_name = "ajet_register_workflows"


class JudgerRegistry(Registry):
    kind = "judger"
    hook_name = "ajet_register_judgers"


class BackboneRegistry(Registry):
    kind = "backbone"
    hook_name = "ajet_register_backbones"


class TrackerRegistry(Registry):
    kind = "tracker"
    hook_name = "ajet_register_trackers"


class ToolParserRegistry(Registry):
    kind = "tool_parser"
    hook_name = "ajet_register_tool_parsers"


class ModelClientRegistry(Registry):
    kind = "model_client"
    hook_name = "ajet_register_model_clients"


class LoggerRegistry(Registry):
    kind = "logger"
    hook_name = "ajet_register_loggers"


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
