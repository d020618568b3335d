"""The test command's lint gate: scripts/lint.sh, run by scripts/test.sh, on real ruff findings.

Each test builds a small repository (the real scripts and the real root pyproject.toml, plus one
Python file) and runs the gate there with the main environment's ruff, so what is proven is the
gate's own behaviour with the project's configuration, whatever state the real tree is in.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
# The tools the gate uses: the main environment's, next to the interpreter running these tests.
RUFF = Path(sys.executable).parent / "ruff"
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"

# 100 is the configured line length; ruff's default (88) would already reject the shorter line.
FITS = "# " + "x" * 98 + "\n"
TOO_LONG = "# " + "x" * 99 + "\n"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    for tool in (RUFF, LINT_IMPORTS):
        if not tool.is_file():
            pytest.fail(f"{tool} is missing: run scripts/setup_env.sh main (it installs it)")
    root = tmp_path / "repo"
    (root / "scripts").mkdir(parents=True)
    for script in ("lint.sh", "test.sh"):
        shutil.copy2(REPO_ROOT / "scripts" / script, root / "scripts" / script)
    shutil.copy2(REPO_ROOT / "pyproject.toml", root / "pyproject.toml")
    venv_bin = tmp_path / "venvs" / "main" / "bin"
    venv_bin.mkdir(parents=True)
    (venv_bin / "ruff").symlink_to(RUFF)
    (venv_bin / "lint-imports").symlink_to(LINT_IMPORTS)
    return root


def run(repo: Path, *command: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AJET_VENVS_DIR": str(repo.parent / "venvs")}
    return subprocess.run(
        [str(repo / "scripts" / command[0]), *command[1:]],
        capture_output=True,
        text=True,
        cwd=repo.parent,  # the scripts must lint their repository wherever they are started
        env=env,
        timeout=300,
    )


def last_line(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout.strip().splitlines()[-1]


def test_a_line_over_the_configured_length_fails_the_gate(repo):
    (repo / "module.py").write_text(TOO_LONG)
    result = run(repo, "lint.sh")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "module.py:1:101: E501" in result.stdout
    assert last_line(result) == "lint: 1 findings (ruff check) / 0 files to reformat"

    (repo / "module.py").write_text(FITS)
    result = run(repo, "lint.sh")
    assert result.returncode == 0, result.stdout + result.stderr
    assert last_line(result) == "lint: ok"


def test_unformatted_code_fails_the_gate(repo):
    # Clean for `ruff check` (E2xx spacing rules are not in the pinned set), not for the formatter.
    (repo / "module.py").write_text("x = {  'a':1 }\n")
    result = run(repo, "lint.sh")
    assert result.returncode == 1, result.stdout + result.stderr
    assert last_line(result) == "lint: 0 findings (ruff check) / 1 files to reformat"


def test_the_test_command_runs_the_gate_and_fails_on_its_findings(repo):
    (repo / "module.py").write_text(TOO_LONG)
    (repo / "other.py").write_text("import os\n\nx = {  'a':1 }\n")
    result = run(repo, "test.sh", "lint")
    assert result.returncode == 1, result.stdout + result.stderr
    summary = result.stdout.split("[test] summary", 1)[1].strip().splitlines()
    # other.py: F401 (unused import) and a file to reformat; module.py: E501.
    assert summary[-1] == "lint: 2 findings (ruff check) / 1 files to reformat"


def test_the_gate_uses_the_pinned_ruff():
    pins = (REPO_ROOT / "constraints" / "main.txt").read_text()
    pinned = re.search(r"^ruff==(\S+)$", pins, re.MULTILINE)
    assert pinned, "constraints/main.txt must pin ruff, the lint gate's version"
    version = subprocess.run(
        [str(RUFF), "--version"], capture_output=True, text=True, timeout=60, check=True
    ).stdout.split()
    assert version == ["ruff", pinned.group(1)]


def test_a_broken_import_contract_fails_the_gate(repo):
    """The contracts are checked on the installed packages: one more contract that they break
    (the gateway imports the tuner, whose clients it hands out) fails the gate, naming it."""
    (repo / "module.py").write_text(FITS)
    pyproject = repo / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text()
        + """
[[tool.importlinter.contracts]]
name = "A contract the code breaks"
type = "forbidden"
source_modules = ["ajet_core.gateway.core"]
forbidden_modules = ["ajet_core.tuner"]
"""
    )
    result = run(repo, "lint.sh")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "A contract the code breaks BROKEN" in result.stdout
    assert last_line(result) == (
        "lint: 0 findings (ruff check) / 0 files to reformat / import contracts broken"
    )
