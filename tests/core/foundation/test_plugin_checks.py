"""What a plugin author gets wrong never passes silently: each hostile case is a real installed
distribution (a ``.dist-info`` on the path), loaded as ``pip install`` would have it."""

from __future__ import annotations

import importlib.metadata as importlib_metadata
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from ajet_core.errors import PluginError, PluginUnavailableError
from ajet_core.hookspecs import hookimpl
from ajet_core.plugins.manager import SLOW_IMPORT_SECONDS, PluginManager

from .helpers import make_distribution, run_ajet


def _manager_for(site: Path, monkeypatch, *, disabled: set[str] | None = None) -> PluginManager:
    monkeypatch.syspath_prepend(str(site))
    manager = PluginManager()
    entry_points = [
        ep
        for dist in importlib_metadata.distributions(path=[str(site)])
        for ep in dist.entry_points
        if ep.group == "ajet"
    ]
    manager.load_entry_points(entry_points, disabled=disabled or set())
    return manager


MISSPELT_HOOK = """
from ajet_core.hookspecs import hookimpl

@hookimpl
def ajet_register_judger(registry):  # the spec is ajet_register_judgers
    registry.add("misspelt", "ajet_misspelt:Judger")
"""


def test_a_misspelt_hook_marks_the_plugin_failed_with_the_nearest_spec(tmp_path, monkeypatch):
    make_distribution(tmp_path, "ajet-misspelt", "ajet_misspelt", MISSPELT_HOOK)
    manager = _manager_for(tmp_path, monkeypatch)
    info = manager.plugins["ajet_misspelt"]
    assert info.status == "failed"
    assert "unknown hook 'ajet_register_judger'; did you mean 'ajet_register_judgers'?" in (
        info.error or ""
    )
    assert "ajet-misspelt 0.0.1" in (info.hint or "")
    assert manager.names("judger") == []


@pytest.mark.parametrize("option", ["wrapper=True", "hookwrapper=True"])
def test_wrapper_implementations_are_rejected_with_the_reason(tmp_path, monkeypatch, option):
    module = f"ajet_wrapping_{option.split('=')[0]}"  # one module per case: imports are cached
    source = f"""
    from ajet_core.hookspecs import hookimpl

    @hookimpl({option})
    def ajet_register_judgers(registry):
        registry.add("wrapped", "{module}:Judger")
        return (yield)
    """
    make_distribution(tmp_path, module.replace("_", "-"), module, source)
    manager = _manager_for(tmp_path, monkeypatch)
    info = manager.plugins[module]
    assert info.status == "failed"
    assert f"declared with {option}, which AgentJet cannot run" in (info.error or "")
    assert manager.names("judger") == []


def test_a_hook_function_without_hookimpl_is_reported(tmp_path, monkeypatch):
    source = """
    def ajet_register_judgers(registry):  # @hookimpl forgotten: pluggy would skip it silently
        registry.add("forgotten", "ajet_undecorated:Judger")
    """
    make_distribution(tmp_path, "ajet-undecorated", "ajet_undecorated", source)
    info = _manager_for(tmp_path, monkeypatch).plugins["ajet_undecorated"]
    assert info.status == "failed"
    assert "'ajet_register_judgers' is not decorated with @hookimpl" in (info.error or "")


def test_registering_an_object_with_an_unknown_hook_raises(ajet_plugins):
    plugin = SimpleNamespace(ajet_register_judger=hookimpl(lambda registry: None))
    with pytest.raises(PluginError, match="did you mean 'ajet_register_judgers'"):
        ajet_plugins.register(plugin, "typo_plugin")
    assert "typo_plugin" not in ajet_plugins.plugins


RAISES_AFTER_ADDING = """
from ajet_core.hookspecs import hookimpl

@hookimpl
def ajet_register_task_readers(registry):
    registry.add("half_reader", "ajet_half:Reader")

@hookimpl
def ajet_register_judgers(registry):
    registry.add("half_judger", "ajet_half:Judger")
    raise RuntimeError("registration bug")
"""


def test_a_registration_hook_that_raises_registers_nothing(tmp_path, monkeypatch):
    make_distribution(tmp_path, "ajet-half", "ajet_half", RAISES_AFTER_ADDING)
    manager = _manager_for(tmp_path, monkeypatch)
    # Neither the judger added before the raise nor the reader its other hook added survive.
    assert "half_judger" not in manager.names("judger")
    assert "half_reader" not in manager.names("task_reader")
    info = manager.plugins["ajet_half"]
    assert info.status == "failed"
    assert "registration bug" in (info.error or "")
    assert info.registers == {}
    with pytest.raises(PluginUnavailableError, match="ajet_half"):
        manager.resolve("judger", "half_judger", config_key="judger.type")


def test_selecting_a_name_of_a_plugin_whose_registration_raised_is_a_config_error(tmp_path):
    make_distribution(tmp_path, "ajet-half", "ajet_half", RAISES_AFTER_ADDING)
    shown = run_ajet("config", "show", "judger.type=half_judger", extra_path=tmp_path)
    assert shown.returncode == 2, shown.stdout
    assert "unknown judger 'half_judger'" in shown.stderr and "registration bug" in shown.stderr


def test_a_missing_own_module_is_the_packages_packaging_error(tmp_path, monkeypatch):
    make_distribution(tmp_path, "ajet-hollow", "ajet_hollow_plugin", None)
    info = _manager_for(tmp_path, monkeypatch).plugins["ajet_hollow_plugin"]
    assert info.status == "failed"
    assert "packaging error in ajet-hollow 0.0.1" in (info.hint or "")
    assert "pip install" not in (info.hint or "")  # no invented PyPI name


def test_a_missing_dependency_is_named_by_the_declared_requirement(tmp_path, monkeypatch):
    make_distribution(
        tmp_path,
        "ajet-needs-yaml-ish",
        "ajet_needs_dep",
        "import surely_missing_import_name  # noqa: F401\n",
        requires=("surely-missing-dist-name>=2.1",),
    )
    info = _manager_for(tmp_path, monkeypatch).plugins["ajet_needs_dep"]
    # The import name differs from the distribution name: the declared requirement is what to
    # install, never 'pip install surely_missing_import_name'.
    assert "pip install 'surely-missing-dist-name>=2.1'" in (info.hint or "")
    assert "pip install surely_missing_import_name" not in (info.hint or "")


def test_a_slow_entry_point_import_is_measured_and_flagged(tmp_path, monkeypatch):
    # Burns CPU (not wall time) past the threshold, as importing torch would.
    source = f"""
    import time
    from ajet_core.hookspecs import hookimpl

    _start = time.process_time()
    while time.process_time() - _start < {SLOW_IMPORT_SECONDS * 1.5}:
        pass

    @hookimpl
    def ajet_register_judgers(registry):
        registry.add("slowpoke", "ajet_slow:Judger")
    """
    make_distribution(tmp_path, "ajet-slow", "ajet_slow", source)
    make_distribution(
        tmp_path, "ajet-good", "ajet_good", MISSPELT_HOOK.replace("judger(", "judgers(")
    )
    manager = _manager_for(tmp_path, monkeypatch)
    slow, good = manager.plugins["ajet_slow"], manager.plugins["ajet_good"]
    assert slow.status == "ok" and slow.import_seconds >= SLOW_IMPORT_SECONDS
    assert slow.warnings and "s of CPU" in slow.warnings[0]
    assert good.import_seconds is not None and not good.warnings
    assert slow.to_json()["import_seconds"] == slow.import_seconds


def test_disabled_names_accept_whitespace_and_unknown_ones_are_warned(tmp_path):
    make_distribution(tmp_path, "ajet-misspelt", "ajet_misspelt", MISSPELT_HOOK)
    make_distribution(tmp_path, "ajet-half", "ajet_half", RAISES_AFTER_ADDING)
    listing = run_ajet(
        "plugins",
        "list",
        "--json",
        extra_path=tmp_path,
        env={"AJET_DISABLE_PLUGINS": " ajet_misspelt ,\tajet-half  ajet_mispelt "},
    )
    assert listing.returncode == 0, listing.stderr
    rows = {row["name"]: row for row in json.loads(listing.stdout)}
    assert rows["ajet_misspelt"]["status"] == "blocked"
    assert rows["ajet_half"]["status"] == "blocked"  # by distribution name
    assert "names 'ajet_mispelt', which matches no installed plugin" in listing.stderr
    assert "did you mean 'ajet_misspelt'?" in listing.stderr


DUPLICATE = """
from ajet_core.hookspecs import hookimpl

@hookimpl
def ajet_register_judgers(registry):
    registry.add("same_name", "{module}:Judger", description="judges by {module}")
"""


def test_listing_tells_conflicts_failures_and_descriptions_apart(tmp_path):
    for module in ("ajet_dup_a", "ajet_dup_b"):
        make_distribution(
            tmp_path, module.replace("_", "-"), module, DUPLICATE.format(module=module)
        )
    listing = run_ajet("plugins", "list", "--json", extra_path=tmp_path)
    assert listing.returncode == 0, listing.stderr
    rows = {row["name"]: row for row in json.loads(listing.stdout)}
    for name in ("ajet_dup_a", "ajet_dup_b"):
        assert rows[name]["status"] == "conflict"
        assert "registered twice" in rows[name]["error"]
    # The plugin that registered the name first holds the entry, with its description.
    owner = next(name for name in ("ajet_dup_a", "ajet_dup_b") if rows[name]["entries"])
    assert rows[owner]["entries"] == [
        {
            "kind": "judger",
            "name": "same_name",
            "description": f"judges by {owner}",
            "target": f"{owner}:Judger",
        }
    ]
    assert rows["ajet_core_builtins"]["status"] == "ok"
    strict = run_ajet("plugins", "list", "--json", "--strict", extra_path=tmp_path)
    assert strict.returncode == 1
    table = run_ajet("plugins", "list", "-v", extra_path=tmp_path, env={"COLUMNS": "250"})
    assert table.returncode == 0, table.stderr
    assert f"judges by {owner}" in table.stdout and "conflict" in table.stdout


def test_strict_fails_on_a_failed_plugin_and_passes_a_clean_install(tmp_path):
    make_distribution(tmp_path, "ajet-misspelt", "ajet_misspelt", MISSPELT_HOOK)
    assert run_ajet("plugins", "list", "--strict", extra_path=tmp_path).returncode == 1
    # The packages this repository ships load cleanly: strict passes without the bad one.
    clean = run_ajet("plugins", "list", "--json", "--strict")
    assert clean.returncode == 0, clean.stdout


def test_a_target_typo_names_the_plugin_distribution_and_version(tmp_path, monkeypatch):
    source = """
    from ajet_core.hookspecs import hookimpl

    @hookimpl
    def ajet_register_judgers(registry):
        registry.add("typo", "ajet_typo_plugin:Nope")

    class Judger:
        pass
    """
    make_distribution(tmp_path, "ajet-typo", "ajet_typo_plugin", source)
    manager = _manager_for(tmp_path, monkeypatch)
    with pytest.raises(PluginUnavailableError) as info:
        manager.load_object("judger", "typo", config_key="judger.type")
    message = str(info.value)
    assert "plugin 'ajet_typo_plugin' from ajet-typo 0.0.1" in message
    assert "'ajet_typo_plugin:Nope'" in message and "judger.type" in message
    assert "packaging error in ajet-typo" in message


WRONG_KINDS = """
from ajet_core.hookspecs import hookimpl

@hookimpl
def ajet_register_judgers(registry):
    registry.add("not_a_judger", "ajet_wrong_kinds:NotAJudger")

@hookimpl
def ajet_register_task_readers(registry):
    registry.add("not_a_reader", "ajet_wrong_kinds:NotAJudger")

class NotAJudger:  # duck-typed, no base class: the framework would fail on it mid-run
    def judge(self, task, output):
        return None
"""


@pytest.mark.parametrize(
    ("kind", "name", "base"),
    [
        ("judger", "not_a_judger", "ajet_core.judging.Judger"),
        ("task_reader", "not_a_reader", "ajet_core.readers.TaskReader"),
    ],
)
def test_each_registry_checks_its_base_class_when_an_entry_loads(
    tmp_path, monkeypatch, kind, name, base
):
    make_distribution(tmp_path, "ajet-wrong-kinds", "ajet_wrong_kinds", WRONG_KINDS)
    manager = _manager_for(tmp_path, monkeypatch)
    with pytest.raises(PluginUnavailableError) as info:
        manager.load_object(kind, name, config_key=f"{kind}.type")
    message = str(info.value)
    assert f"not a subclass of {base}" in message
    assert "plugin 'ajet_wrong_kinds' from ajet-wrong-kinds 0.0.1" in message


def test_a_workflow_named_by_path_is_checked_like_a_registered_one(tmp_path, ajet_plugins):
    from ajet_core.config.loader import load_config
    from ajet_core.errors import ConfigError
    from ajet_core.rollout.workflows import resolve_workflow

    (tmp_path / "agent.py").write_text("class Agent:\n    pass\n")
    config = load_config(None, [f"workflow.name={tmp_path / 'agent.py'}:Agent"]).config
    with pytest.raises(ConfigError, match="not a subclass of ajet_core.workflow.Workflow"):
        resolve_workflow(config, ajet_plugins)
