"""The ``ajet`` CLI as users run it: exit codes, one-line errors, AgentJet's argument form."""

from __future__ import annotations

import json

from .helpers import REPO_ROOT, run_ajet


def test_plugins_list_json_shows_builtins_and_installed_packages():
    result = run_ajet("plugins", "list", "--json")
    assert result.returncode == 0, result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    builtins = rows["ajet_core_builtins"]
    assert builtins["status"] == "ok"
    assert builtins["registers"]["tracker"] == ["per_call", "timeline_merge"]
    example = rows["ajet_judger_example"]
    assert example["distribution"] == "ajet-judger-example"
    assert example["registers"] == {"judger": ["keyword_coverage"]}


HEAVY_MODULES = (
    "torch",
    "transformers",
    "verl",
    "trinity",
    "vllm",
    "agentscope",
    "langchain_core",
    "openai",
    "datasets",
)

LISTING_PROBE = f"""
import contextlib, io, json, sys
from ajet_core.cli.main import main
with contextlib.redirect_stdout(io.StringIO()):
    code = main(["plugins", "list", "--json"])
print(json.dumps({{"code": code, "heavy": [m for m in {HEAVY_MODULES!r} if m in sys.modules]}}))
"""


def test_plugins_list_imports_nothing_heavy():
    # What keeps `ajet plugins list` fast is checked here: no heavy import. Its speed itself is
    # measured by benchmarks/plugins_list.py (a wall-clock bound would fail on a busy machine).
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-c", LISTING_PROBE], capture_output=True, text=True, cwd=REPO_ROOT
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report == {"code": 0, "heavy": []}


def test_misspelt_key_exits_2_with_one_line_naming_key_and_suggestion(tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text("rollout:\n  num_repat: 8\n")
    result = run_ajet("train", "--conf", str(config))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "rollout.num_repat" in lines[0] and "did you mean 'rollout.num_repeat'" in lines[0]
    assert "Traceback" not in result.stderr


def test_verbose_shows_the_traceback(tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text("rollout:\n  num_repat: 8\n")
    result = run_ajet("--verbose", "train", "--conf", str(config))
    assert result.returncode == 2
    assert "Traceback" in result.stderr


def test_agentjet_argument_form_means_train(tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text("rollout:\n  num_repat: 8\n")
    result = run_ajet("--conf", str(config), "--backbone", "debug")
    assert result.returncode == 2 and "rollout.num_repat" in result.stderr


def test_unknown_backbone_exits_2_and_lists_the_known_ones():
    result = run_ajet("train", "--backbone", "nonexistent", "rollout.num_repeat=2")
    assert result.returncode == 2
    assert "unknown backbone 'nonexistent'" in result.stderr
    assert "debug" in result.stderr


def test_missing_config_is_a_usage_error():
    result = run_ajet("train")
    assert result.returncode == 2 and "--conf" in result.stderr


def test_usage_errors_exit_2():
    assert run_ajet("no-such-command").returncode == 2
    assert run_ajet("config").returncode == 2


def test_config_show_prints_the_resolved_config(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("experiment:\n  name: demo\n")
    result = run_ajet(
        "config", "show", "--conf", str(config), "--no-plugins", "rollout.num_repeat=6"
    )
    assert result.returncode == 0, result.stderr
    assert "name: demo" in result.stdout and "num_repeat: 6" in result.stdout
    assert "timeline_merge" in result.stdout  # defaults from code are shown too
