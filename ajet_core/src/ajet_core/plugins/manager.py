"""The plugin-manager façade: the only code that touches pluggy.

Loading rules (DESIGN section 5, docs/plugins.md "What AgentJet checks"):

1. Entry points of the ``ajet`` group are loaded one at a time. One that raises on import (a
   missing dependency, a syntax error) is recorded as *failed* with the reason and the way out;
   the others load normally. The CPU time each import takes is recorded; a slow one is flagged.
2. Each loaded plugin's hook implementations are checked against the specs (the job pluggy's
   ``check_pending`` does for pytest and tox): an unknown hook, a wrapper or an ``ajet_*``
   function without ``@hookimpl`` marks the plugin *failed* instead of doing nothing silently.
3. ``AJET_DISABLE_PLUGINS="a, b"`` blocks plugins by entry-point name (or distribution name);
   names matching no plugin are warned about.
4. Registration hooks are called plugin by plugin, so the registry knows who registers what. A
   name claimed twice costs that name only, never the claimant's other names: when one claimant
   is one of this project's own distributions (``FIRST_PARTY_DISTRIBUTIONS``) it keeps the name
   and the newcomer loses it (status *conflict*, saying so); otherwise both are named and the
   name is unusable until one goes. A plugin whose registration hook raises keeps none of its
   entries.
5. Lifecycle hooks are called implementation by implementation; one that raises is logged and
   skipped, never taking the run down.
"""

from __future__ import annotations

import contextlib
import importlib.metadata as importlib_metadata
import io
import logging
import os
import re
import time
import traceback
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pluggy

from ajet_core import hookspecs
from ajet_core.environment import install_command
from ajet_core.errors import (
    ConfigError,
    DuplicateNameError,
    PluginError,
    PluginUnavailableError,
)
from ajet_core.plugins.diagnosis import (
    DISABLE_ENV_VAR,
    canonical_name,
    hook_problems,
    hookspec_names,
    load_failure_hint,
    optional_hooks_matching_nothing,
)
from ajet_core.plugins.import_watch import ImportEffects, ImportWatch, record_thread_owner
from ajet_core.plugins.registry import (
    REGISTRY_BY_KIND,
    REGISTRY_CLASSES,
    PluginSource,
    Registry,
    RegistryEntry,
)

log = logging.getLogger(__name__)

STATUS_OK = "ok"
STATUS_FAILED = "failed"
STATUS_BLOCKED = "blocked"
# Loaded, but a name it registers is claimed by another plugin too (unusable until one goes).
STATUS_CONFLICT = "conflict"

# The distributions this project ships: a name they register is theirs, and a third-party plugin
# registering it too is the one that loses it.
FIRST_PARTY_DISTRIBUTIONS = frozenset(
    {
        "ajet",
        "ajet-core",
        "ajet-plugins-std",
        "ajet-backbone-debug",
        "ajet-backbone-verl",
        "ajet-backbone-trinity",
        "ajet-plugins-agentscope",
        "ajet-plugins-langchain",
    }
)
# Names this project's distributions register, for the install hint of an unknown name.
FIRST_PARTY_NAMES = {
    ("backbone", "debug"): "ajet-backbone-debug",
    ("backbone", "verl"): "ajet-backbone-verl",
    ("backbone", "trinity"): "ajet-backbone-trinity",
    ("model_client", "agentscope"): "ajet-plugins-agentscope",
    ("model_client", "langchain"): "ajet-plugins-langchain",
    **{
        ("judger", name): "ajet-plugins-std"
        for name in ("regex", "exact_match", "math_answer", "countdown", "llm_judge", "rubric")
    },
    **{
        ("judger", "env_service"): "ajet-plugins-std",
        **{
            ("task_reader", name): "ajet-plugins-std"
            for name in ("huggingface", "env_service", "generated", "random_dummy", "tracing")
        },
    },
}
# Registered names an unknown-name error lists (an installation may register hundreds).
NAMES_SHOWN = 20
# Lines of what a plugin printed while it was imported, quoted in its listing.
PRINTED_LINES_SHOWN = 3

# CPU seconds an entry-point import may take before `ajet plugins list` flags it: every `ajet`
# command pays it. A module that imports only ajet_core.hookspecs takes a few milliseconds.
SLOW_IMPORT_SECONDS = 0.5


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
    # every registration with its description and target
    entries: list[RegistryEntry] = field(default_factory=list)
    # name -> problem, for entries whose declared requirements are not met
    unavailable: dict[str, str] = field(default_factory=dict)
    # CPU seconds the entry-point import took (None: not imported here)
    import_seconds: float | None = None
    warnings: list[str] = field(default_factory=list)
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
            "entries": [
                {
                    "kind": entry.kind,
                    "name": entry.name,
                    "description": entry.description,
                    "target": entry.target_path,
                }
                for entry in self.entries
            ],
            "unavailable": self.unavailable,
            "import_seconds": self.import_seconds,
            "warnings": self.warnings,
        }


def disabled_plugins_from_env() -> set[str]:
    """Names in ``AJET_DISABLE_PLUGINS``: separated by commas, whitespace or both."""
    raw = os.environ.get(DISABLE_ENV_VAR, "")
    return {item for item in re.split(r"[\s,]+", raw) if item}


def check_requirements(requires: Iterable[str]) -> str | None:
    """The first unmet requirement's description, from installed metadata (nothing imported)."""
    from ajet_core.environment import requirement_problem

    for text in requires:
        try:
            problem = requirement_problem(text)
        except Exception as exc:  # noqa: BLE001 - packaging's InvalidRequirement, and worse
            return (
                f"its declared requirement {text!r} is not a valid requirement string ({exc}); "
                "a bug in the plugin: report it to its author"
            )
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
        # Problems of the installation as a whole (e.g. a blocked name matching no plugin).
        self.warnings: list[str] = []
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
        # Names as pip compares them: `ajet-foo`, `ajet_foo` and `Ajet.Foo` block the same plugin.
        by_canonical = {canonical_name(name): name for name in disabled}
        matched: set[str] = set()
        for entry_point in sorted(entry_points, key=lambda ep: ep.name):
            if entry_point.name in self.plugins:
                continue  # the same distribution seen twice on sys.path
            dist = getattr(entry_point, "dist", None)
            dist_name = dist.metadata["Name"] if dist is not None else None
            dist_version = dist.version if dist is not None else None
            info = PluginInfo(entry_point.name, dist_name, dist_version)
            self.plugins[entry_point.name] = info
            blocked_by = {
                by_canonical[canonical]
                for canonical in {canonical_name(n) for n in (entry_point.name, dist_name) if n}
                if canonical in by_canonical
            }
            if blocked_by:
                matched |= blocked_by
                info.status = STATUS_BLOCKED
                info.error = f"blocked by {DISABLE_ENV_VAR}"
                info.hint = f"remove {sorted(blocked_by)[0]!r} from {DISABLE_ENV_VAR} to enable it"
                continue
            self._load_one(entry_point, dist, info)
        self._warn_unmatched_disabled(disabled - matched)
        self._built = False

    def _load_one(
        self,
        entry_point: importlib_metadata.EntryPoint,
        dist: importlib_metadata.Distribution | None,
        info: PluginInfo,
    ) -> None:
        # CPU time, not wall time: on a busy machine a light module must not look slow.
        started = time.process_time()
        # What the import prints is kept apart: a plugin's output must not mix into a command's
        # (`plugins list --json`), and argparse at module level prints its usage there.
        printed = io.StringIO()
        # Its own modules: the entry point's top-level package (what it patches in is theirs).
        watch = ImportWatch({entry_point.value.split(":")[0].split(".")[0]})
        try:
            with watch, contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
                plugin = entry_point.load()
            info.import_seconds = time.process_time() - started
            if self._refuse_patches(info, watch.effects):
                return
            self._pm.register(plugin, name=entry_point.name)
        except SystemExit as exc:
            # sys.exit at import (or argparse parsing the command line there) must cost this
            # plugin, not end the command with the plugin's exit code and no word of who.
            info.status = STATUS_FAILED
            info.error = f"importing it called sys.exit({exc.code!r})" + _printed(printed)
            package = " ".join(filter(None, (info.distribution, info.version))) or "the plugin"
            info.hint = (
                f"a plugin must not exit or parse the command line when imported (argparse at "
                f"module level does both): a bug in {package}; report it to its author, or block "
                f"the plugin with {DISABLE_ENV_VAR}={info.name}"
            )
            return
        except BaseException as exc:  # noqa: BLE001 - a broken plugin must not stop the CLI
            if isinstance(exc, KeyboardInterrupt):
                raise
            info.status = STATUS_FAILED
            info.error = f"{type(exc).__name__}: {exc}"
            info.hint = load_failure_hint(exc, entry_point, dist)
            info.traceback = traceback.format_exc()
            log.debug("plugin %s failed to load", entry_point.name, exc_info=True)
            return
        finally:
            _restore(watch.effects)  # whatever happened, nothing of ours stays replaced
        self._note_side_effects(info, watch.effects)
        if printed.getvalue().strip():
            info.warnings.append("it printed while being imported" + _printed(printed))
            log.warning("ajet: warning: plugin %r: %s", info.name, info.warnings[-1])
        problems = hook_problems(self._pm, plugin)
        if problems:
            self._pm.unregister(plugin)
            info.status = STATUS_FAILED
            info.error = "; ".join(problems)
            package = " ".join(filter(None, (info.distribution, info.version))) or "the plugin"
            info.hint = (
                f"a bug in {package}: report it to its author, or block the plugin with "
                f"{DISABLE_ENV_VAR}={info.name}"
            )
            return
        if info.import_seconds > SLOW_IMPORT_SECONDS:
            info.warnings.append(
                f"importing its entry point took {info.import_seconds:.1f} s of CPU, which every "
                f"`ajet` command pays (threshold {SLOW_IMPORT_SECONDS} s): keep heavy imports "
                "(torch, transformers, ...) out of the entry-point module and register targets "
                "as 'module:Object' paths"
            )
            log.warning("ajet: warning: plugin %r: %s", info.name, info.warnings[-1])

    @staticmethod
    def _refuse_patches(info: PluginInfo, effects: ImportEffects) -> bool:
        """A plugin that replaced this project's code at import fails (its changes are put back:
        they would alter every run, scoring and training included, whoever's plugins it uses)."""
        if not effects.replaced:
            return False
        paths = effects.replaced_paths
        shown = ", ".join(paths[:NAMES_SHOWN])
        more = len(paths) - NAMES_SHOWN
        info.status = STATUS_FAILED
        info.error = (
            f"importing it replaced {shown}{f' and {more} more' if more > 0 else ''} "
            "(put back: the plugin is not loaded)"
        )
        package = " ".join(filter(None, (info.distribution, info.version))) or "the plugin"
        info.hint = (
            f"a plugin must not change ajet's own modules when imported (monkeypatching): a bug in "
            f"{package}; report it to its author, or block it with {DISABLE_ENV_VAR}={info.name}"
        )
        return True

    @staticmethod
    def _note_side_effects(info: PluginInfo, effects: ImportEffects) -> None:
        """Threads and sockets an import leaves behind run in every `ajet` command: say so."""
        for thread in effects.threads:
            record_thread_owner(thread, info.name)
        found = []
        if effects.threads:
            names = ", ".join(
                f"{t.name} ({'daemon' if t.daemon else 'non-daemon: keeps the process alive'})"
                for t in effects.threads
            )
            found.append(f"importing it started threads: {names}")
        if effects.sockets:
            found.append(f"importing it opened sockets: {', '.join(effects.sockets)}")
        for warning in found:
            info.warnings.append(warning)
            log.warning("ajet: warning: plugin %r: %s", info.name, warning)

    def _warn_unmatched_disabled(self, unmatched: set[str]) -> None:
        import difflib

        known = sorted(
            {n for n in self.plugins}
            | {p.distribution for p in self.plugins.values() if p.distribution}
        )
        for name in sorted(unmatched):
            close = difflib.get_close_matches(name, known, n=1)
            suggestion = f"; did you mean {close[0]!r}?" if close else "."
            self.warnings.append(
                f"{DISABLE_ENV_VAR} names {name!r}, which matches no installed plugin "
                f"(entry-point or distribution name){suggestion} Installed: "
                f"{', '.join(sorted(self.plugins)) or 'none'}"
            )
            # Logged, so every command shows it (with no logging set up, on stderr).
            log.warning("ajet: warning: %s", self.warnings[-1])

    def register(
        self,
        plugin: object,
        name: str,
        *,
        distribution: str | None = None,
        version: str | None = None,
    ) -> None:
        """Register an in-process plugin object (used by tests and the testing kit).

        The same hook checks as for an entry point apply; a problem raises :class:`PluginError`.
        """
        if name in self.plugins:
            raise ValueError(f"a plugin named {name!r} is already registered")
        self._pm.register(plugin, name=name)
        problems = hook_problems(self._pm, plugin)
        if problems:
            self._pm.unregister(plugin)
            raise PluginError(f"plugin {name!r}: {'; '.join(problems)}")
        self.plugins[name] = PluginInfo(name, distribution, version)
        self._built = False

    # ----------------------------------------------------------------------- registries

    def _build_registries(self) -> None:
        # A plugin whose registration hook raises keeps none of its entries, in any registry:
        # build again without it until a pass fails no new plugin (each pass fails one more at
        # least, so this ends).
        while self._build_registries_once():
            pass
        self._built = True

    def _build_registries_once(self) -> bool:
        """One pass over every registration hook; True when a plugin failed in it."""
        self._registries = {}
        self._conflicts = {}
        for info in self.plugins.values():
            info.registers.clear()
            info.entries.clear()
            info.unavailable.clear()
            if info.status == STATUS_CONFLICT:
                info.status, info.error, info.hint = STATUS_OK, None, None
        for registry_class in REGISTRY_CLASSES:
            registry = registry_class()
            self._registries[registry.kind] = registry
            hook_caller = getattr(self._pm.hook, registry_class.hook_name)
            # Call each plugin's implementation on its own: who registered what stays known.
            for impl in reversed(hook_caller.get_hookimpls()):
                info = self.plugins.get(impl.plugin_name)
                if info is None or info.status not in (STATUS_OK, STATUS_CONFLICT):
                    continue
                registry.set_source(PluginSource(impl.plugin_name, info.distribution, info.version))
                try:
                    returned = impl.function(**{arg: registry for arg in impl.argnames})
                    if returned is not None:
                        # A list of names or entries returned is lost: registering means
                        # calling registry.add, and a plugin doing otherwise registers nothing.
                        raise TypeError(
                            f"it returned {type(returned).__name__} ({returned!r:.60}), which "
                            "AgentJet ignores; register each entry with registry.add(name, "
                            "target, ...) and return nothing"
                        )
                except Exception as exc:  # noqa: BLE001
                    info.status = STATUS_FAILED
                    info.error = f"{registry_class.hook_name} raised {type(exc).__name__}: {exc}"
                    info.hint = (
                        f"a bug in {info.distribution or 'the plugin'}: nothing it registers is "
                        f"usable; report it to its author, or block the plugin with "
                        f"{DISABLE_ENV_VAR}={info.name}"
                    )
                    info.traceback = traceback.format_exc()
                    return True
            self._settle_duplicates(registry)
            for entry in registry.entries():
                owner = self.plugins.get(entry.source.plugin)
                if owner is None:
                    continue
                owner.registers.setdefault(registry.kind, []).append(entry.name)
                owner.entries.append(entry)
                problem = check_requirements(entry.requires) if entry.requires else None
                if problem:
                    hint = f"; {entry.install_hint}" if entry.install_hint else ""
                    owner.unavailable[f"{registry.kind}:{entry.name}"] = problem + hint
        return False

    def _settle_duplicates(self, registry: Registry) -> None:
        """Decide every name claimed twice: the owner keeps it, else nobody does."""
        for claim in registry.duplicates:
            holder = registry.get(claim.name)
            assert holder is not None
            holder_owns, claim_owns = _first_party(holder), _first_party(claim)
            if holder_owns == claim_owns:
                message = registry.duplicate_message(holder, claim)
                self._conflicts.setdefault(registry.kind, {})[claim.name] = message
                for entry in (holder, claim):
                    if entry.source.plugin in self.plugins:
                        self._mark_conflict(self.plugins[entry.source.plugin], message)
                continue
            winner, loser = (holder, claim) if holder_owns else (claim, holder)
            registry.replace(winner)
            info = self.plugins.get(loser.source.plugin)
            if info is None:
                continue
            lost = (
                f"its {registry.kind} {claim.name!r} was dropped: {winner.source.describe()} "
                "owns that name (the plugin's other names work)"
            )
            # Every name it lost, not just the last.
            earlier = info.error if info.status == STATUS_CONFLICT and info.error else None
            info.status = STATUS_CONFLICT
            info.error = f"{earlier}; {lost}" if earlier else lost
            info.hint = (
                f"rename the {registry.kind} in {loser.source.distribution or 'the plugin'}, or "
                f"block the plugin with {DISABLE_ENV_VAR}={info.name}"
            )
            log.warning("ajet: warning: plugin %r: %s", info.name, info.error)

    def strict_problems(self) -> dict[str, list[str]]:
        """Plugin name -> what a CI check should fail on beyond the statuses, found by doing
        what a run would (``plugins list --strict``): each registered target is imported and
        type-checked (entries whose requirements are unmet are reported already and skipped),
        the distribution's declared requirements are checked against what is installed, and an
        ``ajet_*`` hook marked ``optionalhook=True`` that matches no spec is named."""
        from ajet_core.environment import unmet_requirements

        problems: dict[str, list[str]] = {}
        for info in self.plugins.values():
            if info.status != STATUS_OK and info.status != STATUS_CONFLICT:
                continue
            found = problems.setdefault(info.name, [])
            for entry in info.entries:
                if f"{entry.kind}:{entry.name}" in info.unavailable:
                    continue
                try:
                    self.load_object(entry.kind, entry.name)
                except (PluginError, ConfigError) as exc:
                    found.append(str(exc))
            if info.distribution:
                found += unmet_requirements(info.distribution)
            found += optional_hooks_matching_nothing(self._pm, info.name)
        return {name: found for name, found in problems.items() if found}

    @staticmethod
    def _mark_conflict(info: PluginInfo, message: str) -> None:
        info.status = STATUS_CONFLICT
        info.error = message
        info.hint = f"uninstall one of the two plugins, or block one with {DISABLE_ENV_VAR}"

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
            obj = entry.load()
        except SystemExit as exc:
            raise PluginUnavailableError(
                f"{kind} {name!r} from {entry.source.describe()}: importing "
                f"{entry.target_path!r} called sys.exit({exc.code!r}); a bug in "
                f"{entry.source.distribution or 'the plugin'}: report it to its author, or "
                f"choose another {kind}"
            ) from None
        except (ImportError, ConfigError) as exc:
            # A target that does not import or names nothing ('pkg.judger:Nope') is the
            # plugin's mistake: say whose, with the version, and what the user can do.
            source = entry.source
            where = f" (config key {config_key})" if config_key else ""
            missing = getattr(exc, "name", None) if isinstance(exc, ImportError) else None
            fix = (
                f"install the package that provides {missing!r} or reinstall "
                f"{source.distribution or 'the plugin'}"
                if missing and not entry.target_path.startswith(missing.split(".")[0])
                else f"a packaging error in {source.distribution or 'the plugin'}: report it to "
                "its author"
            )
            raise PluginUnavailableError(
                f"{kind} {name!r}{where} from {source.describe()} is registered as "
                f"{entry.target_path!r}, which does not load: {exc}; {fix}, or choose another "
                f"{kind}"
            ) from exc
        problem = REGISTRY_BY_KIND[kind].type_problem(obj)
        if problem:
            where = f" (config key {config_key})" if config_key else ""
            raise PluginUnavailableError(
                f"{kind} {name!r}{where} from {entry.source.describe()} is registered as "
                f"{entry.target_path!r}, which is {problem}; a bug in "
                f"{entry.source.distribution or 'the plugin'}: report it to its author, or "
                f"choose another {kind}"
            )
        return obj

    @staticmethod
    def check_object(kind: str, obj: Any, *, config_key: str, value: str) -> Any:
        """Check ``obj``, named by path in config (not registered), as a ``kind`` entry."""
        problem = REGISTRY_BY_KIND[kind].type_problem(obj)
        if problem:
            raise ConfigError(f"{config_key} {value!r} resolves to {problem}")
        return obj

    def _unknown_name_message(self, kind: str, name: str, where: str) -> str:
        import difflib

        known = self.registry(kind).names()
        message = f"unknown {kind} {name!r}{where}"
        close = difflib.get_close_matches(name, known, n=1)
        if close:
            message += f"; did you mean {close[0]!r}?"
        shown = ", ".join(known[:NAMES_SHOWN]) or "none"
        more = (
            f" and {len(known) - NAMES_SHOWN} more (`ajet plugins list`)"
            if len(known) > NAMES_SHOWN
            else ""
        )
        message += f" Registered: {shown}{more}."
        broken = [p for p in self.plugins.values() if p.status in (STATUS_FAILED, STATUS_BLOCKED)]
        # A failed plugin's registrations never ran; point at the one that plausibly owns the name.
        suspects = [
            p for p in broken if name in p.name or (p.distribution and name in p.distribution)
        ] or broken
        for plugin in suspects:
            message += (
                f" Plugin {plugin.name!r} ({plugin.distribution or 'unknown package'}) is "
                f"{plugin.status}: {plugin.error}; {plugin.hint}."
            )
        owner = FIRST_PARTY_NAMES.get((kind, name))
        if owner is not None and not any(p.distribution == owner for p in self.plugins.values()):
            message += f" {kind.capitalize()} {name!r} comes with {owner}: {install_command(owner)}"
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
        return hookspec_names()


def _first_party(entry: RegistryEntry) -> bool:
    return entry.source.distribution in FIRST_PARTY_DISTRIBUTIONS


def _restore(effects: ImportEffects) -> None:
    for replaced in reversed(effects.replaced):
        replaced.restore()


def _printed(output: io.StringIO) -> str:
    lines = [line for line in output.getvalue().splitlines() if line.strip()]
    if not lines:
        return ""
    more = (
        f" (+{len(lines) - PRINTED_LINES_SHOWN} more lines)"
        if len(lines) > PRINTED_LINES_SHOWN
        else ""
    )
    return "; it printed: " + " | ".join(lines[:PRINTED_LINES_SHOWN]) + more


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
