"""Every hook is specified, documented, and exercised by a test (a datasette-style meta-test)."""

from __future__ import annotations

import functools
import inspect
from types import SimpleNamespace

import pytest

from ajet_core import hookspecs
from ajet_core.hookspecs import hookimpl
from ajet_core.plugins.commands import CommandRegistry
from ajet_core.plugins.registry import REGISTRY_CLASSES

HOOK_NAMES = sorted(n for n, f in vars(hookspecs).items() if n.startswith("ajet_") and callable(f))


def test_every_hook_is_prefixed_and_documented():
    assert HOOK_NAMES, "no hooks found"
    for name in HOOK_NAMES:
        function = getattr(hookspecs, name)
        assert inspect.getdoc(function), f"hook {name} has no docstring"


def test_every_registration_hook_has_a_typed_registry():
    registration_hooks = {n for n in HOOK_NAMES if n.startswith("ajet_register_")}
    assert registration_hooks == {cls.hook_name for cls in REGISTRY_CLASSES}


# Each lifecycle hook: how the plugin manager's facade fires it, and the arguments (by the
# spec's parameter names) a plugin must then receive. A case per hook, run below.
LIFECYCLE_HOOKS = {
    "ajet_configure": (lambda pm: pm.configure("cfg"), {"config": "cfg"}),
    "ajet_episode_end": (lambda pm: pm.episode_end("ep"), {"episode": "ep"}),
    "ajet_train_step_end": (
        lambda pm: pm.train_step_end(1, {"m": 1.0}),
        {"step": 1, "metrics": {"m": 1.0}},
    ),
}


def test_every_hook_has_a_test():
    """Every hook is a case of a parametrized test in this module: registration hooks through
    REGISTRY_CLASSES, lifecycle hooks through LIFECYCLE_HOOKS, ``ajet_add_commands`` through its
    own test. A hook added to hookspecs without its case (or a case left for a removed hook)
    fails here; a case that does not really fire its hook fails its own test."""
    covered = (
        [c.hook_name for c in REGISTRY_CLASSES]
        + list(LIFECYCLE_HOOKS)
        + [test_ajet_add_commands_adds_a_working_subcommand.hook_name]
    )
    assert sorted(covered) == HOOK_NAMES, (
        f"hooks without a test case: {sorted(set(HOOK_NAMES) - set(covered))}; "
        f"cases for no hook: {sorted(set(covered) - set(HOOK_NAMES))}"
    )


def recording_impl(hook_name: str, calls: list) -> object:
    """A hookimpl with exactly the spec's parameters that records what it is called with."""
    spec = getattr(hookspecs, hook_name)
    names = list(inspect.signature(spec).parameters)

    # functools.wraps sets __wrapped__, through which pluggy reads the spec's argument names;
    # the plugin manager passes them by name (pluggy itself would pass them in that order).
    @functools.wraps(spec)
    def impl(*args, **kwargs):
        calls.append((hook_name, {**dict(zip(names, args)), **kwargs}))

    return hookimpl(impl)


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


@pytest.mark.parametrize("hook_name", sorted(LIFECYCLE_HOOKS))
def test_each_lifecycle_hook_reaches_plugins(hook_name, ajet_plugins, register_ajet_plugin):
    fire, expected = LIFECYCLE_HOOKS[hook_name]
    calls: list = []
    plugin = SimpleNamespace(**{hook_name: recording_impl(hook_name, calls)})
    register_ajet_plugin(plugin, name="lifecycle_probe")
    fire(ajet_plugins)
    assert calls == [(hook_name, expected)]


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


test_ajet_add_commands_adds_a_working_subcommand.hook_name = "ajet_add_commands"
