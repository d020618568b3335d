"""In the verl environment `ajet plugins list` shows the verl backbone, and its status follows the
verl release actually installed (read from metadata, without importing verl)."""

from __future__ import annotations

import importlib.metadata as metadata

from packaging.requirements import Requirement

from ajet_core.testing.environment import plugins_json, run_python, shadow_distribution

VERL_RANGE = Requirement("verl>=0.9,<0.10").specifier


def test_this_environment_holds_a_supported_verl():
    # The premise of every other test here: the set-up installed verl 0.9.x.
    assert metadata.version("verl") in VERL_RANGE


def test_verl_backbone_listed_as_available():
    rows = plugins_json()
    verl = rows["ajet_backbone_verl"]
    assert verl["distribution"] == "ajet-backbone-verl"
    assert verl["version"] == metadata.version("ajet-backbone-verl")
    assert verl["status"] == "ok"
    assert verl["registers"] == {"backbone": ["verl"]}
    assert verl["unavailable"] == {}
    # The rest of this environment's packages load too.
    for name in ("ajet_core_builtins", "ajet_plugins_std", "ajet_backbone_debug"):
        assert rows[name]["status"] == "ok", rows[name]


def test_trinity_backbone_listed_as_missing_its_dependency():
    # verl 0.9 and trinity-rft 0.6 cannot share an environment (transformers pins).
    trinity = plugins_json()["ajet_backbone_trinity"]
    assert trinity["status"] == "ok"
    problem = trinity["unavailable"]["backbone:trinity"]
    assert problem.startswith("missing dependency: trinity-rft is not installed")
    assert "pip install 'trinity-rft[agent,vllm]>=0.6,<0.7'" in problem  # runnable as written


def test_other_verl_release_reported_as_version_mismatch(tmp_path):
    # Metadata of verl 0.8.0 first on the path, as in trinity-rft's environment.
    shadow = shadow_distribution(tmp_path, "verl", "0.8.0")
    verl = plugins_json(shadow)["ajet_backbone_verl"]
    assert verl["unavailable"]["backbone:verl"].startswith(
        "version mismatch: verl 0.8.0 is installed, needs verl>=0.9,<0.10"
    )


def test_selecting_the_backbone_resolves_without_importing_verl():
    # Listing and resolving read metadata only: neither verl nor ray nor torch gets imported.
    result = run_python(
        "import sys\n"
        "from ajet_core.plugins.manager import get_plugin_manager\n"
        "entry = get_plugin_manager().resolve('backbone', 'verl')\n"
        "print(entry.source.distribution)\n"
        "print(sorted(m for m in ('verl', 'ray', 'torch', 'vllm') if m in sys.modules))\n"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["ajet-backbone-verl", "[]"]
