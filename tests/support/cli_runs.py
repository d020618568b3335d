"""``ajet`` run as a user runs it, for the tests that train through a Ray cluster (verl, trinity).

:class:`AjetCommand` starts the CLI in its own process group with a Ray temp-dir prefix only it
uses, so whatever the run leaves behind — its process group, its private Ray head's processes —
is found and ended when the command finishes, fails or runs past its limit.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import psutil
import pytest

# Generous: a Ray-based run's start-up alone takes minutes when other work holds the two cores.
RUN_TIMEOUT_S = 1800


class AjetCommand:
    """``ajet ...`` in its own process group, with a Ray temp-dir prefix only it uses."""

    def __init__(self, workdir: Path, timeout_s: float = RUN_TIMEOUT_S) -> None:
        self.workdir = workdir
        self.timeout_s = timeout_s
        self.marker = f"ajet-ray-test-{uuid.uuid4().hex[:8]}-"
        self.left_behind: list[str] = []  # processes of its Ray head still alive after a run

    def run(self, *args: str) -> subprocess.CompletedProcess:
        env = {**os.environ, "AJET_RAY_TEMP_PREFIX": self.marker, "PYTHONUNBUFFERED": "1"}
        command = [str(Path(sys.executable).with_name("ajet")), *args]
        process = subprocess.Popen(
            command,
            cwd=self.workdir,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        try:
            output, _ = process.communicate(timeout=self.timeout_s)
        except subprocess.TimeoutExpired:
            # Ctrl-C first: the backbone's own clean-up stops its Ray head.
            os.killpg(process.pid, signal.SIGINT)
            try:
                output, _ = process.communicate(timeout=120)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                output, _ = process.communicate()
            pytest.fail(f"ajet {' '.join(args)} ran past {self.timeout_s:.0f} s:\n{output[-6000:]}")
        finally:
            self.left_behind += [" ".join(p.cmdline()[:3]) for p in self.head_processes()]
            self.clean_up(process.pid)
        print(output[-20000:])
        return subprocess.CompletedProcess(command, process.returncode, output, "")

    def head_processes(self) -> list[psutil.Process]:
        return [
            p
            for p in psutil.process_iter(["cmdline"])
            if self.marker in " ".join(p.info["cmdline"] or [])
        ]

    def clean_up(self, group: int) -> None:
        try:
            os.killpg(group, signal.SIGKILL)
        except ProcessLookupError:
            pass
        left = self.head_processes()
        for process in left:
            process.kill()
        psutil.wait_procs(left, timeout=60)


def jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def newest_file(folder: Path) -> int:
    return max(p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file())
