"""Every hook is specified, documented, and exercised by a test (a datasette-style meta-test)."""

from __future__ import annotations

import inspect
import re
from pathlib import Path
from types import SimpleNamespace

import pytest

from ajet_core import hookspecs
from ajet_core.cli.commands import CommandRegistry
from ajet_core.hookspecs import hookimpl
from ajet_core.plugins.registry import REGISTRY_CLASSES

TESTS_ROOT = Path(__file__).resolve().parents[2]
HOOK_NAMES = sorted(n for n, f in vars(hookspecs).items() if n.startswith("ajet_") and callable(f))


def test_every_hook_is_prefixed_and_documented():
    assert HOOK_NAMES, "no hooks found"
    for name in HOOK_NAMES:
        function = getattr(hookspecs, name)
        assert inspect.getdoc(function), f"hook {name} has no docstring"


def test_every_registration_hook_has_a_typed_registry():
    registration_hooks = {n for n in HOOK_NAMES if n.startswith("ajet_register_")}
    assert registration_hooks == {cls.hook_name for cls in REGISTRY_CLASSES}


def test_every_hook_has_a_test():
    """Fails when a new hook is added without a test that names it."""
    test_sources = "\n".join(
        path.read_text()
        for path in TESTS_ROOT.rglob("test_*.py")
        if path.name != Path(__file__).name
    ) + inspect.getsource(_hook_tests)
    missing = [n for n in HOOK_NAMES if not re.search(rf"\b{n}\b", test_sources)]
    assert not missing, f"hooks without a test: {missing}"


class _hook_tests:  # noqa: N801 - a namespace naming the hooks these tests exercise
    """Names listed here are exercised below: ajet_register_task_readers ajet_register_workflows
    ajet_register_judgers ajet_register_backbones ajet_register_trackers ajet_register_tool_parsers
    ajet_register_model_clients ajet_register_loggers ajet_configure ajet_episode_end
    ajet_train_step_end ajet_add_commands"""


@pytest.mark.parametrize("registry_class", REGISTRY_CLASSES, ids=lambda c: c.hook_name)
def test_each_registration_hook_registers_through_its_registry(
    registry_class, ajet_plugins, register_ajet_plugin
):
    hook_name = registry_class.hook_name
    target = f"some.module:{registry_class.kind.title()}"
    plugin = SimpleNamespace(
        **{hook_name: hookimpl(lambda registry: registry.add("probe", target))}
    )
    register_ajet_plugin(plugin, name="probe_plugin")
    entry = ajet_plugins.resolve(registry_class.kind, "probe")
    assert entry.target == target
    assert entry.source.plugin == "probe_plugin"
    assert ajet_plugins.plugins["probe_plugin"].registers == {registry_class.kind: ["probe"]}


def test_each_lifecycle_hook_reaches_plugins(ajet_plugins, register_ajet_plugin):
    calls = []

    def ajet_configure(config):
        calls.append(("configure", config))

    def ajet_episode_end(episode):
        calls.append(("episode_end", episode))

    def ajet_train_step_end(step, metrics):
        calls.append(("train_step_end", step, metrics))

    plugin = SimpleNamespace(
        **{f.__name__: hookimpl(f) for f in (ajet_configure, ajet_episode_end, ajet_train_step_end)}
    )
    register_ajet_plugin(plugin, name="lifecycle_probe")
    ajet_plugins.configure("cfg")
    ajet_plugins.episode_end("ep")
    ajet_plugins.train_step_end(1, {"m": 1.0})
    assert calls == [("configure", "cfg"), ("episode_end", "ep"), ("train_step_end", 1, {"m": 1.0})]


def test_ajet_add_commands_adds_a_working_subcommand(ajet_plugins, register_ajet_plugin, capsys):
    from ajet_core.cli import main as cli_main

    def add_commands(cli: CommandRegistry):
        cli.add_command(
            "hello",
            "say hello",
            handler=lambda args: print(f"hello {args.who}") or 0,
            configure=lambda parser: parser.add_argument("who"),
        )

    register_ajet_plugin(
        SimpleNamespace(ajet_add_commands=hookimpl(add_commands)), name="cmd_plugin"
    )
    assert cli_main.main(["hello", "world"]) == 0
    assert capsys.readouterr().out.strip() == "hello world"
