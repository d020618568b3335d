"""The main environment as the set-up builds it: what `ajet plugins list` shows there, and the
libraries the main environment promises (DESIGN section 4)."""

from __future__ import annotations

import importlib.metadata as metadata
import os

import pytest
from packaging.version import Version

from ajet_core.testing.environment import plugins_json


def installed(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


# Only the main environment has the `ajet` meta-distribution; under `make test` it must be there.
pytestmark = pytest.mark.skipif(
    installed("ajet") is None and os.environ.get("AJET_TEST_ENV") != "main",
    reason="checks the main environment: run `make test-main`",
)


def test_torch_is_the_pinned_cpu_build():
    assert Version(metadata.version("torch")).base_version == "2.13.0"


@pytest.mark.parametrize(
    ("backbone", "plugin", "dependency", "command"),
    [
        ("verl", "ajet_backbone_verl", "verl", "pip install 'verl[verl-core]>=0.9,<0.10' torch=="),
        (
            "trinity",
            "ajet_backbone_trinity",
            "trinity-rft",
            "pip install 'trinity-rft[agent,vllm]>=0.6,<0.7'",
        ),
    ],
)
def test_heavy_backbones_listed_with_their_missing_dependency(
    backbone, plugin, dependency, command
):
    if installed(f"ajet-backbone-{backbone}") is None:
        pytest.skip(
            f"ajet-backbone-{backbone} is not installed here (scripts/setup_env.sh main installs "
            "it)"
        )
    if installed(dependency) is not None:
        pytest.skip(f"{dependency} is installed here: this is not the main environment")
    row = plugins_json()[plugin]
    assert row["status"] == "ok"  # the thin entry point loads without verl/trinity
    assert row["registers"] == {"backbone": [backbone]}
    problem = row["unavailable"][f"backbone:{backbone}"]
    assert problem.startswith(f"missing dependency: {dependency} is not installed")
    # A command that works as written (no unpublished `ajet[...]` extra, no placeholder).
    assert command in problem and "ajet[" not in problem and "<" not in problem.split(command)[1]


def test_main_plugins_all_load():
    rows = plugins_json()
    expected = {
        "ajet_core_builtins",
        "ajet_plugins_std",
        "ajet_backbone_debug",
        "ajet_judger_example",
        "ajet_plugins_agentscope",
        "ajet_plugins_langchain",
    }
    assert expected <= set(rows)
    for name in expected:
        assert rows[name]["status"] == "ok", rows[name]
        assert rows[name]["unavailable"] == {}, rows[name]


def test_agentscope_2_and_langchain_are_installed():
    # AgentScope 1.x lives in the trinity environment; main tests the current 2.x API.
    assert Version(metadata.version("agentscope")).major == 2
    assert installed("langchain") is not None
    assert installed("langchain-core") is not None


def test_browser_test_driver_is_installed():
    assert installed("selenium") is not None
