"""The plugin-manager façade: the only code that touches pluggy.

Loading rules (DESIGN section 5):

1. Entry points of the ``ajet`` group are loaded one at a time. One that raises on import (a
   missing dependency, a syntax error) is recorded as *failed* with the reason and the way out;
   the others load normally.
2. ``AJET_DISABLE_PLUGINS=a,b`` blocks plugins by entry-point name (or distribution name).
3. Registration hooks are called plugin by plugin, so the registry knows who registers what and a
   duplicate name names both plugins.
4. Lifecycle hooks are called implementation by implementation; one that raises is logged and
   skipped, never taking the run down.
"""

from __future__ import annotations

import importlib.metadata as importlib_metadata
import logging
import os
import traceback
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pluggy

from ajet_core import hookspecs
from ajet_core.errors import ConfigError, DuplicateNameError, PluginUnavailableError
from ajet_core.plugins.registry import REGISTRY_CLASSES, PluginSource, Registry, RegistryEntry

log = logging.getLogger(__name__)

DISABLE_ENV_VAR = "AJET_DISABLE_PLUGINS"

STATUS_OK = "ok"
STATUS_FAILED = "failed"
STATUS_BLOCKED = "blocked"


@dataclass
class PluginInfo:
    """What ``ajet plugins list`` shows for one plugin."""

    name: str
    distribution: str | None
    version: str | None
    status: str = STATUS_OK
    error: str | None = None
    hint: str | None = None
    # kind -> names this plugin registered
    registers: dict[str, list[str]] = field(default_factory=dict)
    # name -> problem, for entries whose declared requirements are not met
    unavailable: dict[str, str] = field(default_factory=dict)
    traceback: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "distribution": self.distribution,
            "version": self.version,
            "status": self.status,
            "error": self.error,
            "hint": self.hint,
            "registers": self.registers,
            "unavailable": self.unavailable,
        }


def disabled_plugins_from_env() -> set[str]:
    raw = os.environ.get(DISABLE_ENV_VAR, "")
    return {item.strip() for item in raw.split(",") if item.strip()}


def _install_hint(exc: BaseException, distribution: str | None) -> str:
    missing = getattr(exc, "name", None) if isinstance(exc, ImportError) else None
    package = distribution or "the plugin's package"
    if missing:
        top = missing.split(".")[0]
        return (
            f"install the missing module {top!r} (e.g. `pip install {top}` or reinstall "
            f"{package} with its dependencies), or block the plugin with {DISABLE_ENV_VAR}"
        )
    if isinstance(exc, SyntaxError):
        return f"fix the syntax error in {package} or block the plugin with {DISABLE_ENV_VAR}"
    return f"reinstall or fix {package}, or block the plugin with {DISABLE_ENV_VAR}"


def check_requirements(requires: Iterable[str]) -> str | None:
    """The first unmet requirement's description, from installed metadata (nothing imported)."""
    from ajet_core.environment import requirement_problem

    for text in requires:
        problem = requirement_problem(text)
        if problem:
            return problem
    return None


class PluginManager:
    """Loads plugins and exposes typed registries and lifecycle calls."""

    def __init__(self) -> None:
        self._pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        self._pm.add_hookspecs(hookspecs)
        self.plugins: dict[str, PluginInfo] = {}
        self._registries: dict[str, Registry] = {}
        # kind -> name -> message for names two plugins claimed
        self._conflicts: dict[str, dict[str, str]] = {}
        self._built = False

    # ----------------------------------------------------------------------------- loading

    def load_entry_points(
        self,
        entry_points: Iterable[importlib_metadata.EntryPoint] | None = None,
        *,
        disabled: set[str] | None = None,
    ) -> None:
        """Load every entry point of the ``ajet`` group, one at a time."""
        if entry_points is None:
            entry_points = importlib_metadata.entry_points(group=hookspecs.ENTRY_POINT_GROUP)
        disabled = disabled_plugins_from_env() if disabled is None else disabled
        for entry_point in sorted(entry_points, key=lambda ep: ep.name):
            if entry_point.name in self.plugins:
                continue  # the same distribution seen twice on sys.path
            dist = getattr(entry_point, "dist", None)
            dist_name = dist.metadata["Name"] if dist is not None else None
            dist_version = dist.version if dist is not None else None
            info = PluginInfo(entry_point.name, dist_name, dist_version)
            self.plugins[entry_point.name] = info
            if entry_point.name in disabled or (dist_name and dist_name in disabled):
                info.status = STATUS_BLOCKED
                info.error = f"blocked by {DISABLE_ENV_VAR}"
                info.hint = f"remove {entry_point.name!r} from {DISABLE_ENV_VAR} to enable it"
                continue
            try:
                plugin = entry_point.load()
                self._pm.register(plugin, name=entry_point.name)
            except BaseException as exc:  # noqa: BLE001 - a broken plugin must not stop the CLI
                if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                    raise
                info.status = STATUS_FAILED
                info.error = f"{type(exc).__name__}: {exc}"
                info.hint = _install_hint(exc, dist_name)
                info.traceback = traceback.format_exc()
                log.debug("plugin %s failed to load", entry_point.name, exc_info=True)

    def register(
        self,
        plugin: object,
        name: str,
        *,
        distribution: str | None = None,
        version: str | None = None,
    ) -> None:
        """Register an in-process plugin object (used by tests and the testing kit)."""
        if name in self.plugins:
            raise ValueError(f"a plugin named {name!r} is already registered")
        self.plugins[name] = PluginInfo(name, distribution, version)
        self._pm.register(plugin, name=name)
        self._built = False

    # ----------------------------------------------------------------------- registries

    def _build_registries(self) -> None:
        self._registries = {}
        self._conflicts = {}
        for info in self.plugins.values():
            info.registers.clear()
            info.unavailable.clear()
        for registry_class in REGISTRY_CLASSES:
            registry = registry_class()
            self._registries[registry.kind] = registry
            hook_caller = getattr(self._pm.hook, registry_class.hook_name)
            # Call each plugin's implementation on its own: who registered what stays known.
            for impl in reversed(hook_caller.get_hookimpls()):
                info = self.plugins.get(impl.plugin_name)
                if info is None or info.status != STATUS_OK:
                    continue
                registry._set_source(
                    PluginSource(impl.plugin_name, info.distribution, info.version)
                )
                before = set(registry.names())
                try:
                    impl.function(**{arg: registry for arg in impl.argnames})
                except DuplicateNameError as exc:
                    # Both plugins stay listed; the name is unusable until one goes.
                    duplicate = _duplicate_name(exc, registry, before)
                    if duplicate:
                        self._conflicts.setdefault(registry.kind, {})[duplicate] = str(exc)
                    info.error = str(exc)
                    info.hint = "uninstall or block one of the two plugins"
                except Exception as exc:  # noqa: BLE001
                    info.status = STATUS_FAILED
                    info.error = f"{registry_class.hook_name} raised {type(exc).__name__}: {exc}"
                    info.hint = _install_hint(exc, info.distribution)
                    info.traceback = traceback.format_exc()
                added = sorted(set(registry.names()) - before)
                if added:
                    info.registers.setdefault(registry.kind, []).extend(added)
                for name in added:
                    entry = registry.get(name)
                    assert entry is not None
                    problem = check_requirements(entry.requires) if entry.requires else None
                    if problem:
                        hint = f"; {entry.install_hint}" if entry.install_hint else ""
                        info.unavailable[f"{registry.kind}:{name}"] = problem + hint
        self._built = True

    def registry(self, kind: str) -> Registry:
        if not self._built:
            self._build_registries()
        try:
            return self._registries[kind]
        except KeyError:
            raise KeyError(
                f"unknown registry kind {kind!r}; kinds: {', '.join(self._registries)}"
            ) from None

    def names(self, kind: str) -> list[str]:
        return self.registry(kind).names()

    def resolve(self, kind: str, name: str, *, config_key: str | None = None) -> RegistryEntry:
        """Return the entry for ``name`` or raise an error a user can act on."""
        registry = self.registry(kind)
        where = f" (config key {config_key})" if config_key else ""
        conflict = self._conflicts.get(kind, {}).get(name)
        if conflict:
            raise DuplicateNameError(conflict)
        entry = registry.get(name)
        if entry is None:
            raise PluginUnavailableError(self._unknown_name_message(kind, name, where))
        problem = check_requirements(entry.requires) if entry.requires else None
        if problem:
            hint = entry.install_hint or f"install what {entry.source.distribution} needs"
            raise PluginUnavailableError(
                f"{kind} {name!r}{where} comes from {entry.source.describe()} but is unavailable: "
                f"{problem}; {hint}"
            )
        return entry

    def load_object(self, kind: str, name: str, *, config_key: str | None = None) -> Any:
        entry = self.resolve(kind, name, config_key=config_key)
        try:
            return entry.load()
        except ConfigError:
            raise
        except ImportError as exc:
            raise PluginUnavailableError(
                f"{kind} {name!r} from {entry.source.describe()} failed to import "
                f"{entry.target_path}: {exc}; {_install_hint(exc, entry.source.distribution)}"
            ) from exc

    def _unknown_name_message(self, kind: str, name: str, where: str) -> str:
        import difflib

        known = self.registry(kind).names()
        message = f"unknown {kind} {name!r}{where}"
        close = difflib.get_close_matches(name, known, n=1)
        if close:
            message += f"; did you mean {close[0]!r}?"
        message += f" Registered: {', '.join(known) or 'none'}."
        broken = [p for p in self.plugins.values() if p.status != STATUS_OK]
        # A failed plugin's registrations never ran; point at the one that plausibly owns the name.
        suspects = [
            p for p in broken if name in p.name or (p.distribution and name in p.distribution)
        ] or broken
        for plugin in suspects:
            message += (
                f" Plugin {plugin.name!r} ({plugin.distribution or 'unknown package'}) is "
                f"{plugin.status}: {plugin.error}; {plugin.hint}."
            )
        return message

    # ------------------------------------------------------------------------ lifecycle

    def _call_each(self, hook_name: str, **kwargs: Any) -> list[Any]:
        results = []
        for impl in reversed(getattr(self._pm.hook, hook_name).get_hookimpls()):
            try:
                results.append(impl.function(**{k: kwargs[k] for k in impl.argnames}))
            except Exception:  # noqa: BLE001 - one plugin must not take the run down
                log.exception(
                    "plugin %r failed in %s; continuing without it", impl.plugin_name, hook_name
                )
        return results

    def configure(self, config: Any) -> None:
        self._call_each("ajet_configure", config=config)

    def episode_end(self, episode: Any) -> None:
        self._call_each("ajet_episode_end", episode=episode)

    def train_step_end(self, step: int, metrics: dict[str, Any]) -> None:
        self._call_each("ajet_train_step_end", step=step, metrics=metrics)

    def add_commands(self, cli: Any) -> None:
        self._call_each("ajet_add_commands", cli=cli)

    @property
    def hookspec_names(self) -> list[str]:
        return sorted(name for name in dir(hookspecs) if name.startswith("ajet_"))


def _duplicate_name(exc: DuplicateNameError, registry: Registry, before: set[str]) -> str | None:
    message = str(exc)
    for name in sorted(before, key=len, reverse=True):
        if f"{registry.kind} {name!r} is registered twice" in message:
            return name
    return None


_default_manager: PluginManager | None = None


def get_plugin_manager() -> PluginManager:
    """The process-wide manager with every installed entry point loaded."""
    global _default_manager
    if _default_manager is None:
        manager = PluginManager()
        manager.load_entry_points()
        _default_manager = manager
    return _default_manager


def set_plugin_manager(manager: PluginManager | None) -> PluginManager | None:
    """Swap the process-wide manager (the testing kit isolates tests this way)."""
    global _default_manager
    previous, _default_manager = _default_manager, manager
    return previous
