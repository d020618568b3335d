"""What a plugin author got wrong, in words a user can act on.

Two jobs, both from what is installed (nothing is guessed):

* :func:`load_failure_hint` — why an entry point failed to import and the way out. A module
  missing from the plugin's own package is that package's packaging error; a missing dependency
  is named by the requirement the distribution declares (never by a made-up PyPI name);
* :func:`hook_problems` — hook implementations the façade cannot run: names that match no hook
  spec (with the nearest spec), wrappers, ``ajet_*`` functions without ``@hookimpl``.
"""

from __future__ import annotations

import difflib
import importlib.metadata as importlib_metadata
import inspect
import re

import pluggy

from ajet_core import hookspecs

DISABLE_ENV_VAR = "AJET_DISABLE_PLUGINS"


def hookspec_names() -> list[str]:
    return sorted(name for name in dir(hookspecs) if name.startswith("ajet_"))


def _nearest_hook(name: str) -> str:
    close = difflib.get_close_matches(name, hookspec_names(), n=1, cutoff=0.6)
    return (
        f"; did you mean {close[0]!r}?" if close else "; see the hook reference in docs/plugins.md"
    )


def hook_problems(pm: pluggy.PluginManager, plugin: object) -> list[str]:
    """Every reason ``plugin`` (already registered with ``pm``) would silently misbehave.

    pluggy accepts an implementation of a hook nobody specified (``check_pending`` is what
    catches it, as in pytest and tox) and wrappers; the façade calls each plugin's
    implementation on its own, so a wrapper would never wrap anything.
    """
    problems: list[str] = []
    implemented: set[str] = set()
    for caller in pm.get_hookcallers(plugin) or []:
        for impl in caller.get_hookimpls():
            if impl.plugin is not plugin:
                continue
            implemented.add(impl.function.__name__)
            if not caller.has_spec() and not impl.optionalhook:
                problems.append(f"unknown hook {caller.name!r}{_nearest_hook(caller.name)}")
            elif impl.wrapper or impl.hookwrapper:
                option = "hookwrapper=True" if impl.hookwrapper else "wrapper=True"
                problems.append(
                    f"hook {caller.name!r} is declared with {option}, which AgentJet cannot run "
                    "(it calls each plugin's implementation on its own, so there is nothing to "
                    "wrap); drop the option and return the result"
                )
            elif inspect.iscoroutinefunction(impl.function) or inspect.isasyncgenfunction(
                impl.function
            ):
                problems.append(
                    f"hook {caller.name!r} is `async def`: AgentJet calls hooks synchronously, so "
                    "its body would never run; make it a plain `def`"
                )
            elif inspect.isgeneratorfunction(impl.function):
                problems.append(
                    f"hook {caller.name!r} contains `yield`, so calling it only makes a generator "
                    "and its body never runs; call registry.add(...) without yielding"
                )
    module_name = getattr(plugin, "__name__", None)
    for attribute in dir(plugin):
        if not attribute.startswith("ajet_") or attribute in implemented:
            continue
        function = inspect.getattr_static(plugin, attribute, None)
        # Only functions the plugin's own module defines: imported helpers are not its hooks.
        if inspect.isfunction(function) and function.__module__ == module_name:
            if pm.parse_hookimpl_opts(plugin, attribute) is None:
                hint = "" if attribute in hookspec_names() else _nearest_hook(attribute)
                problems.append(
                    f"function {attribute!r} is not decorated with @hookimpl (from "
                    f"ajet_core.hookspecs import hookimpl), so it is never called{hint}"
                )
    if not implemented and not problems:
        problems.append(
            "it defines no hook implementations: the entry point must name the module holding "
            "the @hookimpl functions"
        )
    return problems


def optional_hooks_matching_nothing(pm: pluggy.PluginManager, plugin_name: str) -> list[str]:
    """``ajet_*`` implementations marked ``optionalhook=True`` that no spec matches: the option
    is for hooks of other projects, so on an ``ajet_`` name it hides a misspelling."""
    plugin = pm.get_plugin(plugin_name)
    problems = []
    for caller in pm.get_hookcallers(plugin) or []:
        if caller.has_spec() or not caller.name.startswith("ajet_"):
            continue
        for impl in caller.get_hookimpls():
            if impl.plugin is plugin and impl.optionalhook:
                problems.append(
                    f"hook {caller.name!r} is marked optionalhook=True but AgentJet has no such "
                    f"hook{_nearest_hook(caller.name)}; it is never called"
                )
    return problems


def canonical_name(name: str) -> str:
    """A package or plugin name as pip compares them: case, '-', '_' and '.' do not matter."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _distribution_label(dist: importlib_metadata.Distribution | None) -> str:
    if dist is None:
        return "the plugin's package"
    return f"{dist.metadata['Name']} {dist.version}"


def _unmet_declared(
    dist: importlib_metadata.Distribution,
) -> tuple[list[tuple[str, str]], list[str]]:
    """((name, requirement) the distribution declares but are not installed, declared names)."""
    from packaging.requirements import InvalidRequirement, Requirement

    unmet, names = [], []
    for text in dist.requires or []:
        try:
            requirement = Requirement(text)
        except InvalidRequirement:
            continue
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue  # an optional extra: not what a plain install brings
        names.append(canonical_name(requirement.name))
        try:
            importlib_metadata.distribution(requirement.name)
        except importlib_metadata.PackageNotFoundError:
            unmet.append((canonical_name(requirement.name), str(requirement)))
    return unmet, names


def load_failure_hint(
    exc: BaseException,
    entry_point: importlib_metadata.EntryPoint,
    dist: importlib_metadata.Distribution | None,
) -> str:
    """The way out of an entry point that failed to import."""
    package = _distribution_label(dist)
    block = f"or block the plugin with {DISABLE_ENV_VAR}={entry_point.name}"
    if isinstance(exc, ImportError) and exc.name:
        missing = exc.name
        own_top = entry_point.value.split(":")[0].strip().split(".")[0]
        if missing.split(".")[0] == own_top:
            return (
                f"the entry point {entry_point.name} = {entry_point.value} names module "
                f"{missing!r}, which {package} does not contain: a packaging error in {package} "
                f"(reinstall it; if that does not help, report it to its author), {block}"
            )
        if dist is not None:
            unmet, declared = _unmet_declared(dist)
            # The import name is often the distribution's name; when it is not (yaml/PyYAML),
            # every declared requirement that is not installed is a candidate.
            matching = [text for name, text in unmet if name == canonical_name(missing)]
            candidates = matching or [text for _, text in unmet]
            if candidates:
                wanted = " ".join(f"'{r}'" for r in candidates)
                return (
                    f"{package} declares {', '.join(candidates)}, which is not installed: "
                    f"`pip install {wanted}` (or reinstall {package} with its dependencies), "
                    f"{block}"
                )
            if canonical_name(missing) not in declared:
                return (
                    f"{package} imports {missing!r} but declares no requirement that provides "
                    f"it: a packaging error in {package}; install the package that provides "
                    f"{missing!r} and report the missing dependency to its author, {block}"
                )
        return f"install the package that provides {missing!r}, or reinstall {package}, {block}"
    if isinstance(exc, SyntaxError):
        return (
            f"a syntax error in {package} ({exc.filename}, line {exc.lineno}): a bug to report "
            f"to its author, {block}"
        )
    return f"a bug in {package} (the traceback shows where): report it to its author, {block}"
