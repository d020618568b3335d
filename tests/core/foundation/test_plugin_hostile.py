"""What a plugin author gets wrong costs that plugin only: each case is a real installed
distribution (``.dist-info`` on the path), and each is checked in the listing, ``--strict``,
``--json``, a real run (``ajet rollout`` on the tiny model) and the message.

* a plugin that calls ``sys.exit`` when imported, or parses the command line there (argparse);
* a plugin whose ``requires=`` is not a valid requirement string;
* a third-party plugin registering a name one of this project's distributions owns.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from .helpers import REPO_ROOT, make_distribution, run_ajet

# Each test runs several `ajet` commands, one a real rollout: sized for a loaded machine.
pytestmark = pytest.mark.timeout(1200)

EXITS_AT_IMPORT = """
import sys

sys.exit(0)
"""

PARSES_ARGUMENTS_AT_IMPORT = """
import argparse

parser = argparse.ArgumentParser(prog="ajet-argv-plugin", description="the plugin's own CLI")
parser.add_argument("--plugin-flag")
parser.parse_args()
"""

INVALID_REQUIREMENT = """
from ajet_core.hookspecs import hookimpl

@hookimpl
def ajet_register_judgers(registry):
    registry.add("badreq", "ajet_badreq:Judger", requires=["numpy >=> 2 !!"])
    registry.add("fine_one", "ajet_badreq:Judger")
"""

HIJACKS_A_NAME = """
from ajet_core.hookspecs import hookimpl

@hookimpl
def ajet_register_judgers(registry):
    # A name ajet-plugins-std owns; the target does not even load, so a run that picks it fails.
    registry.add("regex", "{module}:Nope", description="hijacked regex")
    registry.add("{module}_own", "{module}:Nope", description="the plugin's own judger")

@hookimpl
def ajet_register_backbones(registry):
    registry.add("debug", "{module}:Nope", description="hijacked debug")
"""


def listing(site: Path) -> dict[str, dict]:
    result = run_ajet("plugins", "list", "--json", extra_path=site)
    assert result.returncode == 0, result.stderr
    return {row["name"]: row for row in json.loads(result.stdout)}


def rollout(site: Path, tmp_path: Path, model_dir: Path) -> subprocess.CompletedProcess[str]:
    """`ajet rollout` of two quickstart tasks on the tiny model, judged by std's `regex`."""
    data = tmp_path / "data"
    if not data.exists():
        subprocess.run(
            ["python", str(REPO_ROOT / "tutorial/quickstart/make_data.py"), "--out", str(data)],
            check=True,
            capture_output=True,
        )
    config = {
        "experiment": {"name": "hostile", "output_dir": str(tmp_path / "runs")},
        "model": {"path": str(model_dir), "max_model_len": 512},
        "task_reader": {"type": "jsonl", "train_path": str(data / "train.jsonl")},
        "workflow": {
            "name": str(REPO_ROOT / "tutorial/quickstart/addition_agent.py:AdditionAgent")
        },
        "judger": {"type": "regex", "pattern": r"^\\boxed\{-?\d+\}$"},
        "rollout": {"batch_size": 2, "max_tokens_per_call": 8},
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return run_ajet("rollout", "--conf", str(path), extra_path=site)


@pytest.mark.parametrize(
    ("module", "source", "code"),
    [("ajet_exits", EXITS_AT_IMPORT, 0), ("ajet_argv", PARSES_ARGUMENTS_AT_IMPORT, 2)],
)
def test_a_plugin_that_exits_at_import_fails_alone_and_is_named(
    tmp_path, tiny_model_dir, module, source, code
):
    make_distribution(tmp_path, module.replace("_", "-"), module, source)
    rows = listing(tmp_path)
    row = rows[module]
    assert row["status"] == "failed"
    assert f"importing it called sys.exit({code})" in row["error"]
    assert f"AJET_DISABLE_PLUGINS={module}" in row["hint"] and "must not exit" in row["hint"]
    if module == "ajet_argv":  # what argparse printed is quoted, not spilled into the output
        assert "it printed: usage: ajet-argv-plugin" in row["error"]
    assert rows["ajet_plugins_std"]["status"] == "ok"
    # CI sees it: --strict fails, naming the plugin.
    strict = run_ajet("plugins", "list", "--strict", extra_path=tmp_path)
    assert strict.returncode == 1 and module in strict.stdout + strict.stderr
    # Every other command works as if the plugin were not there.
    help_text = run_ajet("--help", extra_path=tmp_path)
    assert help_text.returncode == 0 and "usage: ajet " in help_text.stdout
    assert "ajet-argv-plugin" not in help_text.stdout + help_text.stderr
    run = rollout(tmp_path, tmp_path, tiny_model_dir)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "reward=" in run.stdout


def test_an_invalid_requirement_string_costs_only_that_entry(tmp_path, tiny_model_dir):
    make_distribution(tmp_path, "ajet-badreq", "ajet_badreq", INVALID_REQUIREMENT)
    row = listing(tmp_path)["ajet_badreq"]
    assert row["status"] == "ok" and sorted(row["registers"]["judger"]) == ["badreq", "fine_one"]
    problem = row["unavailable"]["judger:badreq"]
    assert "'numpy >=> 2 !!' is not a valid requirement string" in problem
    assert "judger:fine_one" not in row["unavailable"]
    table = run_ajet("plugins", "list", extra_path=tmp_path, env={"COLUMNS": "250"})
    assert table.returncode == 0, table.stderr
    run = rollout(tmp_path, tmp_path, tiny_model_dir)  # an unrelated config runs
    assert run.returncode == 0, run.stderr[-2000:]
    # The config that names it gets the reason and whose it is.
    chosen = run_ajet(
        "rollout",
        "--conf",
        str(tmp_path / "config.yaml"),
        "judger.type=badreq",
        extra_path=tmp_path,
    )
    assert chosen.returncode != 0
    assert "ajet-badreq" in chosen.stderr and "not a valid requirement string" in chosen.stderr


@pytest.mark.parametrize("module", ["aaa_hijack", "zzz_hijack"])  # sorts before / after std
def test_a_newcomer_claiming_an_owned_name_loses_that_name_only(tmp_path, tiny_model_dir, module):
    make_distribution(
        tmp_path, module.replace("_", "-"), module, HIJACKS_A_NAME.format(module=module)
    )
    rows = listing(tmp_path)
    std, newcomer = rows["ajet_plugins_std"], rows[module]
    # The owner keeps every name, the clashing one included.
    assert std["status"] == "ok"
    assert {"regex", "llm_judge", "env_service", "rubric"} <= set(std["registers"]["judger"])
    assert rows["ajet_backbone_debug"]["status"] == "ok"
    assert rows["ajet_backbone_debug"]["registers"]["backbone"] == ["debug"]
    # The newcomer is blamed, says which name it lost to whom, and keeps its other names.
    assert newcomer["status"] == "conflict"
    for kind, name, owner in (
        ("judger", "regex", "ajet-plugins-std"),
        ("backbone", "debug", "ajet-backbone-debug"),
    ):
        assert f"its {kind} '{name}' was dropped: plugin" in newcomer["error"]
        assert f"from {owner} " in newcomer["error"]
    assert f"AJET_DISABLE_PLUGINS={module}" in newcomer["hint"]
    assert "ajet_plugins_std" not in newcomer["hint"]
    assert newcomer["registers"] == {"judger": [f"{module}_own"]}
    strict = run_ajet("plugins", "list", "--strict", extra_path=tmp_path)
    assert strict.returncode == 1
    # A run with std's regex judger and the debug backbone works: the owner's entries serve it.
    run = rollout(tmp_path, tmp_path, tiny_model_dir)
    assert run.returncode == 0, run.stderr[-2000:]
    assert f"plugin '{module}'" in run.stderr and "owns that name" in run.stderr


RETURNS_A_LIST = """
from ajet_core.hookspecs import hookimpl

@hookimpl
def ajet_register_judgers(registry):
    return [("listed", "ajet_returns_list:Judger")]
"""

IS_A_GENERATOR = """
from ajet_core.hookspecs import hookimpl

@hookimpl
def ajet_register_judgers(registry):
    yield registry.add("yielded", "ajet_generator:Judger")
"""

IS_ASYNC = """
from ajet_core.hookspecs import hookimpl

@hookimpl
async def ajet_register_judgers(registry):
    registry.add("awaited", "ajet_async_hook:Judger")
"""


@pytest.mark.parametrize(
    ("module", "source", "message"),
    [
        ("ajet_returns_list", RETURNS_A_LIST, "it returned list ([('listed'"),
        (
            "ajet_generator",
            IS_A_GENERATOR,
            "contains `yield`, so calling it only makes a generator",
        ),
        ("ajet_async_hook", IS_ASYNC, "is `async def`: AgentJet calls hooks synchronously"),
    ],
)
def test_a_registration_hook_that_registers_nothing_fails_and_says_why(
    tmp_path, module, source, message
):
    make_distribution(tmp_path, module.replace("_", "-"), module, source)
    row = listing(tmp_path)[module]
    assert row["status"] == "failed" and message in row["error"], row
    assert row["registers"] == {}
    strict = run_ajet("plugins", "list", "--strict", extra_path=tmp_path)
    assert strict.returncode == 1
    # Nothing half-run leaks a warning into every command (an un-awaited coroutine would).
    assert "never awaited" not in strict.stderr


TARGET_DOES_NOT_LOAD = """
from ajet_core.hookspecs import hookimpl

@hookimpl
def ajet_register_judgers(registry):
    registry.add("ghost", "ajet_ghost_module_nowhere:Judger")
"""

NOT_A_JUDGER = """
from ajet_core.hookspecs import hookimpl

@hookimpl
def ajet_register_judgers(registry):
    registry.add("not_a_judger", "json:loads")
"""

MISSPELT_OPTIONAL_HOOK = """
from ajet_core.hookspecs import hookimpl

@hookimpl(optionalhook=True)
def ajet_register_judger(registry):  # the spec is ajet_register_judgers
    registry.add("never", "ajet_optional_misspelt:Judger")
"""

LIGHT = """
from ajet_core.hookspecs import hookimpl

@hookimpl
def ajet_register_judgers(registry):
    pass
"""


@pytest.mark.parametrize(
    ("module", "source", "requires", "problem"),
    [
        ("ajet_ghost", TARGET_DOES_NOT_LOAD, (), "which does not load"),
        (
            "ajet_not_judger",
            NOT_A_JUDGER,
            (),
            "which is not a subclass of ajet_core.judging.Judger",
        ),
        ("ajet_needs_future", LIGHT, ("ajet-core>=99",), "requires ajet-core>=99, but ajet-core"),
        (
            "ajet_optional_misspelt",
            MISSPELT_OPTIONAL_HOOK,
            (),
            "marked optionalhook=True but AgentJet has no such hook; did you mean "
            "'ajet_register_judgers'?",
        ),
    ],
)
def test_strict_does_what_a_run_would_and_fails_on_what_it_finds(
    tmp_path, module, source, requires, problem
):
    make_distribution(tmp_path, module.replace("_", "-"), module, source, requires=requires)
    assert listing(tmp_path)[module]["status"] == "ok"  # nothing a plain listing can see
    strict = run_ajet("plugins", "list", "--json", "--strict", extra_path=tmp_path)
    assert strict.returncode == 1, strict.stderr
    row = {r["name"]: r for r in json.loads(strict.stdout)}[module]
    assert any(w.startswith("--strict: ") and problem in w for w in row["warnings"]), row


@pytest.mark.parametrize("name", ["my judger", "team/judger"])
def test_a_name_no_config_could_write_fails_the_plugin_and_says_why(tmp_path, name):
    source = f"""
from ajet_core.hookspecs import hookimpl

@hookimpl
def ajet_register_judgers(registry):
    registry.add({name!r}, "ajet_bad_name:Judger")
"""
    make_distribution(tmp_path, "ajet-bad-name", "ajet_bad_name", source)
    row = listing(tmp_path)["ajet_bad_name"]
    assert row["status"] == "failed" and "holds whitespace or a slash" in row["error"]


PATCHES_THE_CORE = """
import ajet_core.rollout.runner as runner

def rigged(value, what):
    return 0.25  # every reward becomes 0.25, whoever's judger scored it

runner.checked_reward = rigged
runner.RolloutRunner.warm_up = lambda self: None

from ajet_core.hookspecs import hookimpl

@hookimpl
def ajet_register_judgers(registry):
    registry.add("patched", "ajet_core.judging:Judger", description="a judger")
"""


def test_a_plugin_that_monkeypatches_the_core_fails_and_its_patches_are_put_back(
    tmp_path, tiny_model_dir
):
    make_distribution(tmp_path, "ajet-patcher", "ajet_patcher", PATCHES_THE_CORE)
    row = listing(tmp_path)["ajet_patcher"]
    assert row["status"] == "failed"
    assert "importing it replaced ajet_core.rollout.runner.checked_reward" in row["error"]
    assert "ajet_core.rollout.runner.RolloutRunner.warm_up" in row["error"]
    assert "monkeypatching" in row["hint"] and "AJET_DISABLE_PLUGINS=ajet_patcher" in row["hint"]
    strict = run_ajet("plugins", "list", "--strict", extra_path=tmp_path)
    assert strict.returncode == 1 and "ajet_patcher" in strict.stdout + strict.stderr
    # A run scores with the real code: the regex judger's rewards (the tiny model's replies have
    # the boxed format it checks), not the plugin's.
    run = rollout(tmp_path, tmp_path, tiny_model_dir)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "reward=1.0" in run.stdout and "reward=0.25" not in run.stdout


STARTS_A_THREAD_AND_A_SERVER = """
import socket
import threading
import time

_server = socket.socket()
_server.bind(("127.0.0.1", 0))
_server.listen()
threading.Thread(target=time.sleep, args=(600,), name="telemetry-uploader").start()

from ajet_core.hookspecs import hookimpl

@hookimpl
def ajet_register_judgers(registry):
    registry.add("sidefx", "ajet_core.judging:Judger", description="a judger")
"""


def test_threads_and_sockets_a_plugin_starts_at_import_are_reported_with_its_name(tmp_path):
    make_distribution(tmp_path, "ajet-sidefx", "ajet_sidefx", STARTS_A_THREAD_AND_A_SERVER)
    result = run_ajet("plugins", "list", "--json", extra_path=tmp_path)
    assert result.returncode == 0, result.stderr  # the leftover thread does not hold the exit
    row = {r["name"]: r for r in json.loads(result.stdout)}["ajet_sidefx"]
    assert row["status"] == "ok"
    warnings = " ".join(row["warnings"])
    assert "started threads: telemetry-uploader (non-daemon: keeps the process alive)" in warnings
    assert "opened sockets: tcp 127.0.0.1:" in warnings and "LISTEN" in warnings
    # The exit line names the thread and the plugin that started it.
    assert "telemetry-uploader (started by plugin 'ajet_sidefx')" in result.stderr
