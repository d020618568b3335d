"""The summary lines of scripts/test.sh: counted from the JUnit XML pytest writes."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]

COUNTER = REPO_ROOT / "scripts" / "junit_counts.py"


def counts(*args: str) -> str:
    result = subprocess.run(
        [sys.executable, str(COUNTER), *args], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def run_pytest(directory: Path, source: str) -> Path:
    (directory / "test_sample.py").write_text(textwrap.dedent(source))
    junit = directory / "junit.xml"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            f"--junitxml={junit}",
            "-c",
            "/dev/null",
            str(directory),
        ],
        capture_output=True,
        text=True,
        cwd=directory,
        timeout=120,
        env={**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"},  # a plain pytest, fast
    )
    return junit


def test_counts_passes_failures_errors_and_skips(tmp_path):
    junit = run_pytest(
        tmp_path,
        """
        import pytest

        @pytest.fixture
        def broken():
            raise RuntimeError("fixture error")

        def test_a(): pass
        def test_b(): pass
        def test_fails(): assert False
        def test_errors(broken): pass
        @pytest.mark.skip(reason="x")
        def test_skipped(): pass
    """,
    )
    # An error in a fixture is a failure of the run, as pytest's exit code says.
    assert counts(str(junit)) == "2 passed, 2 failed, 1 skipped"


def test_total_line_adds_environments_and_counts_a_missing_report_as_empty(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    junit_a = run_pytest(first, "def test_a(): pass\ndef test_b(): pass\n")
    junit_b = run_pytest(second, "def test_c(): assert False\n")
    total = counts("--total", str(junit_a), str(junit_b), str(tmp_path / "never-written.xml"))
    assert total == "total: 2 passed, 1 failed, 0 skipped"


def test_failures_are_named_with_their_message(tmp_path):
    junit = run_pytest(
        tmp_path,
        """
        import pytest

        @pytest.fixture
        def broken():
            raise RuntimeError("fixture went wrong")

        def test_fine(): pass
        def test_fails(): assert 1 == 2, "one is not two"
        def test_errors(broken): pass
    """,
    )
    lines = counts("--failures", str(junit), str(tmp_path / "never-written.xml")).splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("FAILURE ") and "::test_fails (" in lines[0]
    assert "one is not two" in lines[0]
    assert lines[1].startswith("ERROR ") and "::test_errors (" in lines[1]
    assert "fixture went wrong" in lines[1]
