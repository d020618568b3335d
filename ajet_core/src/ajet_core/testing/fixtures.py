"""Plugin-manager fixtures: tests see exactly the plugins they choose."""

from __future__ import annotations

import importlib.metadata as importlib_metadata
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

import pytest

from ajet_core.hookspecs import ENTRY_POINT_GROUP
from ajet_core.plugins.manager import PluginManager, set_plugin_manager

CORE_DISTRIBUTION = "ajet-core"


def _entry_points_of(distributions: Iterable[str]) -> list[importlib_metadata.EntryPoint]:
    wanted = {d.lower().replace("_", "-") for d in distributions}
    selected = []
    for entry_point in importlib_metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = getattr(entry_point, "dist", None)
        name = dist.metadata["Name"].lower().replace("_", "-") if dist is not None else ""
        if name in wanted:
            selected.append(entry_point)
    return selected


@contextmanager
def isolated_plugin_manager(
    distributions: Iterable[str] = (CORE_DISTRIBUTION,), *, disabled: set[str] | None = None
) -> Iterator[PluginManager]:
    """A process-wide plugin manager that loads only the named distributions' entry points.

    Installed third-party plugins stay out of the test; the previous manager is restored after.
    """
    manager = PluginManager()
    manager.load_entry_points(_entry_points_of(distributions), disabled=disabled or set())
    previous = set_plugin_manager(manager)
    try:
        yield manager
    finally:
        set_plugin_manager(previous)


@pytest.fixture
def ajet_plugins() -> Iterator[PluginManager]:
    """A manager with only ajet-core's built-in plugins; add yours with ``register_ajet_plugin``."""
    with isolated_plugin_manager() as manager:
        yield manager


@pytest.fixture
def register_ajet_plugin(ajet_plugins: PluginManager) -> Callable[..., PluginManager]:
    """Register a plugin object (a module or any object with ``@hookimpl`` functions) for one
    test: ``register_ajet_plugin(my_plugin_module, name="mine")``."""
    counter = iter(range(1_000_000))

    def register(plugin: object, name: str | None = None) -> PluginManager:
        ajet_plugins.register(plugin, name or f"test_plugin_{next(counter)}")
        return ajet_plugins

    return register
