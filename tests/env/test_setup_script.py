"""scripts/setup_env.sh: the stamp that makes it idempotent, its status report and its errors.

Runs the real script on a copy of the files it hashes, with AJET_VENVS_DIR pointing at a temporary
folder, so nothing here installs anything or touches the repository's .venvs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]

ENVS = ("main", "verl", "trinity")


@pytest.fixture
def repo_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "repo"
    shutil.copytree(REPO_ROOT / "scripts", copy / "scripts")
    shutil.copytree(REPO_ROOT / "constraints", copy / "constraints")
    for folder, subfolders, files in os.walk(REPO_ROOT):
        # Skip .venvs, .git and other tool folders: only the repository's packages matter.
        subfolders[:] = [d for d in subfolders if not d.startswith(".") and d != "node_modules"]
        if "pyproject.toml" in files:
            relative = Path(folder).relative_to(REPO_ROOT)
            (copy / relative).mkdir(parents=True, exist_ok=True)
            shutil.copy(Path(folder) / "pyproject.toml", copy / relative / "pyproject.toml")
    return copy


def setup_env(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "AJET_VENVS_DIR": str(repo / ".venvs")}
    return subprocess.run(
        ["bash", str(repo / "scripts" / "setup_env.sh"), *args],
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
    )


def stamp_key(repo: Path, env: str) -> str:
    result = setup_env(repo, "hash", env)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_stamp_key_is_stable_and_follows_the_inputs(repo_copy):
    before = {env: stamp_key(repo_copy, env) for env in ENVS}
    assert before == {env: stamp_key(repo_copy, env) for env in ENVS}
    assert len(set(before.values())) == 3

    # A changed package definition (new dependency, new entry point) makes its envs stale ...
    with (repo_copy / "ajet_backbone_verl" / "pyproject.toml").open("a") as handle:
        handle.write("\n# changed\n")
    after = {env: stamp_key(repo_copy, env) for env in ENVS}
    assert all(after[env] != before[env] for env in ENVS)  # every env installs ajet_backbone_verl

    # ... and a changed pin only the env it belongs to.
    with (repo_copy / "constraints" / "trinity.txt").open("a") as handle:
        handle.write("\n# changed\n")
    assert stamp_key(repo_copy, "trinity") != after["trinity"]
    assert stamp_key(repo_copy, "verl") == after["verl"]
    assert stamp_key(repo_copy, "main") == after["main"]


def test_status_and_an_up_to_date_env_is_skipped(repo_copy):
    result = setup_env(repo_copy, "status")
    assert result.stdout.split("\n")[:3] == ["main missing", "verl missing", "trinity missing"]

    venv = repo_copy / ".venvs" / "verl"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").symlink_to(sys.executable)
    assert setup_env(repo_copy, "status", "verl").stdout == "verl stale\n"

    (venv / ".ajet-setup-stamp").write_text(stamp_key(repo_copy, "verl") + "\n")
    assert setup_env(repo_copy, "status", "verl").stdout == "verl up-to-date\n"

    # Up to date means nothing installed (no pip run): the check, rather than a wall-clock bound.
    result = setup_env(repo_copy, "verl")
    assert result.returncode == 0, result.stderr
    assert "[setup verl] up to date" in result.stderr
    assert "pip install" not in result.stderr


def test_unknown_environment_is_a_clear_error(repo_copy):
    result = setup_env(repo_copy, "vllm")
    assert result.returncode == 2
    expected = "unknown environment 'vllm'; choose one of: main verl trinity frameworks all"
    assert expected in result.stderr


@pytest.mark.parametrize("env", [*ENVS, "frameworks"])
def test_every_environment_pins_the_local_cpu_torch(env):
    pins = (REPO_ROOT / "constraints" / f"{env}.txt").read_text().split()
    assert "torch==2.13.0" in pins
