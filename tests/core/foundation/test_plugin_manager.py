"""Plugin loading: isolation of failures, blocking, duplicates, registries and lifecycle hooks."""

from __future__ import annotations

import importlib.metadata as importlib_metadata
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from ajet_core.errors import DuplicateNameError, PluginUnavailableError
from ajet_core.hookspecs import hookimpl
from ajet_core.plugins.manager import PluginManager, check_requirements

from .helpers import make_distribution, run_ajet

BROKEN_PLUGIN = """
import a_dependency_that_is_not_installed  # noqa: F401
"""

GOOD_PLUGIN = """
from ajet_core.hookspecs import hookimpl

@hookimpl
def ajet_register_judgers(registry):
    registry.add("always_one", "{module}:AlwaysOne")

class AlwaysOne:
    pass
"""


def _manager_for(site: Path, *, disabled: set[str] | None = None) -> PluginManager:
    manager = PluginManager()
    entry_points = [
        ep
        for dist in importlib_metadata.distributions(path=[str(site)])
        for ep in dist.entry_points
        if ep.group == "ajet"
    ]
    manager.load_entry_points(entry_points, disabled=disabled or set())
    return manager


def test_broken_plugin_is_listed_as_failed_and_others_still_load(tmp_path, monkeypatch):
    make_distribution(
        tmp_path,
        "ajet-broken",
        "ajet_broken_plugin",
        BROKEN_PLUGIN,
        requires=("a-dependency-that-is-not-installed>=1",),
    )
    make_distribution(
        tmp_path, "ajet-good", "ajet_good_plugin", GOOD_PLUGIN.format(module="ajet_good_plugin")
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    manager = _manager_for(tmp_path)
    broken = manager.plugins["ajet_broken_plugin"]
    assert broken.status == "failed"
    assert "a_dependency_that_is_not_installed" in broken.error
    # The requirement the distribution declares, not a name guessed from the import.
    assert "pip install 'a-dependency-that-is-not-installed>=1'" in broken.hint
    assert manager.plugins["ajet_good_plugin"].status == "ok"
    assert manager.names("judger") == ["always_one"]


def test_selecting_a_name_from_a_failed_plugin_names_plugin_package_and_fix(tmp_path, monkeypatch):
    make_distribution(
        tmp_path,
        "ajet-judger-fancy",
        "ajet_judger_fancy",
        BROKEN_PLUGIN,
        requires=("a-dependency-that-is-not-installed",),
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    manager = _manager_for(tmp_path)
    with pytest.raises(PluginUnavailableError) as info:
        manager.resolve("judger", "fancy", config_key="judger.type")
    message = str(info.value)
    assert "judger.type" in message
    assert "ajet_judger_fancy" in message and "ajet-judger-fancy" in message
    assert "pip install 'a-dependency-that-is-not-installed'" in message


def test_blocked_plugins_are_not_imported(tmp_path, monkeypatch):
    make_distribution(tmp_path, "ajet-broken", "ajet_broken_plugin", BROKEN_PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    manager = _manager_for(tmp_path, disabled={"ajet_broken_plugin"})
    info = manager.plugins["ajet_broken_plugin"]
    assert info.status == "blocked"
    assert "AJET_DISABLE_PLUGINS" in info.error


@pytest.mark.parametrize(
    "spelling",
    ["ajet-broken", "ajet_broken", "AJET.Broken", "ajet_broken_plugin", "Ajet-Broken-Plugin"],
)
def test_blocking_matches_names_as_pip_does(tmp_path, monkeypatch, spelling):
    """`-`, `_`, `.` and case do not matter, for the distribution or the entry-point name."""
    make_distribution(tmp_path, "ajet-broken", "ajet_broken_plugin", BROKEN_PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    manager = _manager_for(tmp_path, disabled={spelling})
    info = manager.plugins["ajet_broken_plugin"]
    assert info.status == "blocked" and repr(spelling) in info.hint
    assert manager.warnings == []  # the name matched: no "matches no installed plugin"


def test_an_unknown_name_among_hundreds_lists_a_few_and_says_how_many_more(
    ajet_plugins, register_ajet_plugin
):
    many = SimpleNamespace(
        ajet_register_judgers=hookimpl(
            lambda registry: [registry.add(f"judge_{i:03d}", "x:J") for i in range(500)] and None
        )
    )
    register_ajet_plugin(many, name="many_judgers")
    with pytest.raises(PluginUnavailableError) as info:
        ajet_plugins.resolve("judger", "no_such_judger")
    message = str(info.value)
    assert "judge_000" in message and "judge_499" not in message
    assert f"and {len(ajet_plugins.names('judger')) - 20} more (`ajet plugins list`)" in message


def test_duplicate_names_name_both_plugins_and_block_the_name(ajet_plugins, register_ajet_plugin):
    first = SimpleNamespace(
        ajet_register_judgers=hookimpl(lambda registry: registry.add("same", "x:First"))
    )
    second = SimpleNamespace(
        ajet_register_judgers=hookimpl(lambda registry: registry.add("same", "x:Second"))
    )
    register_ajet_plugin(first, name="first_plugin")
    register_ajet_plugin(second, name="second_plugin")
    with pytest.raises(DuplicateNameError) as info:
        ajet_plugins.resolve("judger", "same")
    assert "first_plugin" in str(info.value) and "second_plugin" in str(info.value)


def test_unknown_name_suggests_the_nearest(ajet_plugins):
    with pytest.raises(PluginUnavailableError, match="did you mean 'timeline_merge'"):
        ajet_plugins.resolve("tracker", "timeline_merg")


def test_registries_record_which_plugin_registered_what(ajet_plugins):
    entry = ajet_plugins.resolve("tracker", "timeline_merge")
    assert entry.source.plugin == "ajet_core_builtins"
    assert entry.source.distribution == "ajet-core"
    assert ajet_plugins.plugins["ajet_core_builtins"].registers["tool_parser"] == ["hermes"]


def test_unmet_requirements_are_reported_without_importing(ajet_plugins, register_ajet_plugin):
    plugin = SimpleNamespace(
        ajet_register_backbones=hookimpl(
            lambda registry: registry.add(
                "gpu_only",
                "not_a_module_at_all:Backbone",
                requires=["surely-not-installed-dist>=1"],
                install_hint="pip install 'ajet[gpu]'",
            )
        )
    )
    register_ajet_plugin(plugin, name="gpu_plugin")
    assert ajet_plugins.names("backbone") == ["gpu_only"]
    problem = ajet_plugins.plugins["gpu_plugin"].unavailable["backbone:gpu_only"]
    assert "surely-not-installed-dist is not installed" in problem and "ajet[gpu]" in problem
    with pytest.raises(PluginUnavailableError, match=r"pip install 'ajet\[gpu\]'"):
        ajet_plugins.resolve("backbone", "gpu_only")


def test_check_requirements_reports_version_mismatch():
    installed = importlib_metadata.version("pluggy")
    assert check_requirements([f"pluggy=={installed}"]) is None
    assert "version mismatch" in check_requirements(["pluggy<0.1"])


def test_failing_lifecycle_hook_does_not_stop_the_others(
    ajet_plugins, register_ajet_plugin, caplog
):
    seen = []

    def explode(step, metrics):
        raise RuntimeError("plugin bug")

    register_ajet_plugin(SimpleNamespace(ajet_train_step_end=hookimpl(explode)), name="buggy")
    register_ajet_plugin(
        SimpleNamespace(
            ajet_train_step_end=hookimpl(lambda step, metrics: seen.append((step, metrics)))
        ),
        name="fine",
    )
    ajet_plugins.train_step_end(3, {"reward/mean": 0.5})
    assert seen == [(3, {"reward/mean": 0.5})]
    assert "buggy" in caplog.text and "plugin bug" in caplog.text


def test_cli_lists_a_broken_plugin_and_every_command_still_works(tmp_path):
    make_distribution(tmp_path, "ajet-broken", "ajet_broken_plugin", BROKEN_PLUGIN)
    listing = run_ajet("plugins", "list", "--json", extra_path=tmp_path)
    assert listing.returncode == 0, listing.stderr
    rows = {row["name"]: row for row in json.loads(listing.stdout)}
    assert rows["ajet_broken_plugin"]["status"] == "failed"
    assert rows["ajet_core_builtins"]["status"] == "ok"
    table = run_ajet("plugins", "list", extra_path=tmp_path, env={"COLUMNS": "200"})
    assert (
        table.returncode == 0 and "ajet_broken_plugin" in table.stdout and "failed" in table.stdout
    )
    shown = run_ajet("config", "show", "--no-plugins", "rollout.num_repeat=3", extra_path=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "num_repeat: 3" in shown.stdout


def test_a_known_name_whose_package_is_missing_gets_an_install_command_that_works(tmp_path):
    """In a core-only environment, `backbone: debug` names the distribution that provides it and
    a pip command runnable as written: this checkout's folder (an install from a checkout) or
    the distribution's name (an install from an index) — never the unpublished `ajet[...]`."""
    manager = _manager_for(tmp_path)  # no entry points: nothing but the core
    with pytest.raises(PluginUnavailableError) as unknown:
        manager.resolve("backbone", "debug", config_key="backbone.name")
    message = str(unknown.value)
    assert "Backbone 'debug' comes with ajet-backbone-debug: pip install " in message
    target = message.split("pip install ")[-1].split()[0]
    assert target == "ajet-backbone-debug" or Path(target, "pyproject.toml").is_file()
    assert "ajet[" not in message
