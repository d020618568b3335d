"""``rollout.episode_timeout`` holds for AgentScope agents called as ``agent(...)``.

AgentScope 1.x (the version AgentJet's tutorials use) catches the timeout's cancellation inside
``agent(...)`` and returns an interrupt reply instead, so the workflow returns normally after
its deadline. That episode must still fail, with the timeout as its reason, and its late reward
must not count. AgentScope 1.x lives in the trinity environment: elsewhere this module runs its
episode test there.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from importlib import metadata
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PROJECT = Path(__file__).resolve().parent / "agentjet_project"


def agentscope_major() -> int | None:
    try:
        return int(metadata.version("agentscope").split(".")[0])
    except metadata.PackageNotFoundError:
        return None


@pytest.mark.skipif(agentscope_major() != 1, reason="needs AgentScope 1.x (trinity environment)")
def test_an_interrupted_agentscope_agent_fails_its_episode_at_the_timeout(
    tmp_path, tiny_model_dir, monkeypatch
):
    from ajet_core import metrics as m
    from ajet_core.config.loader import load_config
    from ajet_core.config.plugin_sections import validate_plugin_sections
    from ajet_core.plugins.manager import get_plugin_manager

    project = tmp_path / "project"
    shutil.copytree(PROJECT, project)
    config_file = project / "stuck_agent.yaml"
    config_file.write_text(config_file.read_text().replace("MODEL_PATH", str(tiny_model_dir)))
    monkeypatch.chdir(project)
    loaded = load_config(config_file, ["rollout.episode_timeout=2"], backbone="debug")
    plugins = get_plugin_manager()
    resolved = validate_plugin_sections(loaded.config, plugins)
    backbone = resolved["backbone"].implementation(loaded.config, resolved["backbone"].options)

    [episode] = backbone.rollout(resolved=resolved, num_tasks=1, printer=lambda *_: None)

    assert episode.error and "rollout.episode_timeout" in episode.error
    assert episode.metadata["failure_reason"] == m.FAILED_TIMEOUT
    assert episode.metadata["timed_out"] is True
    assert episode.reward is None  # the reward returned after the deadline is not used


@pytest.mark.skipif(agentscope_major() == 1, reason="this environment runs the test itself")
@pytest.mark.timeout(1200)  # a whole training job: the hang detector, sized for a busy machine
def test_in_the_environment_that_has_agentscope_1():
    python = REPO / ".venvs" / "trinity" / "bin" / "python"
    if not python.exists():
        pytest.skip(f"no trinity environment at {python} (make setup-trinity)")
    result = subprocess.run(
        [
            str(python),
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            f"{Path(__file__).relative_to(REPO)}::"
            "test_an_interrupted_agentscope_agent_fails_its_episode_at_the_timeout",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
        env={**os.environ, "AJET_TEST_ENV": "trinity"},
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "1 passed" in result.stdout
