"""In the trinity environment `ajet plugins list` shows the trinity backbone as available, and the
verl backbone as mismatched: trinity-rft pulls verl 0.8, the backbone needs 0.9 (DESIGN §4)."""

from __future__ import annotations

from importlib import metadata

from packaging.requirements import Requirement

from ajet_core.testing.environment import plugins_json, run_python, shadow_distribution

TRINITY_RANGE = Requirement("trinity-rft>=0.6,<0.7").specifier


def test_this_environment_holds_a_supported_trinity():
    # The premise of every other test here: the set-up installed trinity-rft 0.6.x.
    assert metadata.version("trinity-rft") in TRINITY_RANGE


def test_trinity_backbone_listed_as_available():
    rows = plugins_json()
    trinity = rows["ajet_backbone_trinity"]
    assert trinity["distribution"] == "ajet-backbone-trinity"
    assert trinity["version"] == metadata.version("ajet-backbone-trinity")
    assert trinity["status"] == "ok"
    assert trinity["registers"] == {"backbone": ["trinity"]}
    assert trinity["unavailable"] == {}
    for name in (
        "ajet_core_builtins",
        "ajet_plugins_std",
        "ajet_backbone_debug",
        "ajet_plugins_agentscope",
    ):
        assert rows[name]["status"] == "ok", rows[name]


def test_verl_backbone_reports_the_verl_trinity_pulled_in():
    verl_version = metadata.version("verl")  # installed by trinity-rft, not by us
    verl = plugins_json()["ajet_backbone_verl"]
    assert verl["status"] == "ok"
    assert verl["unavailable"]["backbone:verl"].startswith(
        f"version mismatch: verl {verl_version} is installed, needs verl>=0.9,<0.10"
    )


def test_other_trinity_release_reported_as_version_mismatch(tmp_path):
    shadow = shadow_distribution(tmp_path, "trinity-rft", "0.5.0")
    trinity = plugins_json(shadow)["ajet_backbone_trinity"]
    assert trinity["unavailable"]["backbone:trinity"].startswith(
        "version mismatch: trinity-rft 0.5.0 is installed, needs trinity-rft>=0.6,<0.7"
    )


def test_selecting_the_backbone_resolves_without_importing_trinity():
    result = run_python(
        "import sys\nfrom ajet_core.plugins.manager import get_plugin_manager\nentry = "
        "get_plugin_manager().resolve('backbone', "
        "'trinity')\nprint(entry.source.distribution)\nprint(sorted(m for m in ('trinity', 'ray', "
        "'torch', 'vllm', 'verl') if m in sys.modules))\n"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["ajet-backbone-trinity", "[]"]
