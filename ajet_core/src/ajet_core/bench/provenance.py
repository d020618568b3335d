"""What a benchmark row records about the code and the machine it ran on."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from ajet_core.bench.store import GitState, MachineInfo

# Besides every ajet-* distribution: the libraries whose versions move the numbers.
TRACKED_DISTRIBUTIONS = ("torch", "transformers", "verl", "trinity-rft", "vllm")


def git_state(directory: Path) -> GitState:
    """HEAD and whether tracked files differ from it. Untracked files do not count: run folders
    and generated data are untracked in a checkout, and do not change the code that ran."""

    def git(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["git", *args], cwd=directory, capture_output=True, text=True, timeout=60
        )

    if shutil.which("git") is None:
        return GitState(commit=None, dirty=None)
    head = git("rev-parse", "HEAD")
    if head.returncode != 0:
        return GitState(commit=None, dirty=None)
    status = git("status", "--porcelain", "--untracked-files=no")
    return GitState(commit=head.stdout.strip(), dirty=bool(status.stdout.strip()))


def package_versions() -> dict[str, str]:
    versions: dict[str, str] = {}
    for dist in metadata.distributions():
        name = (dist.metadata["Name"] or "").lower()
        if name == "ajet" or name.startswith("ajet-") or name in TRACKED_DISTRIBUTIONS:
            versions[name] = dist.version
    return dict(sorted(versions.items()))


def machine_info() -> MachineInfo:
    return MachineInfo(
        hostname=platform.node(),
        platform=platform.platform(),
        python=sys.version.split()[0],
        cpus=os.cpu_count(),
        memory_gb=_memory_gb(),
        gpus=_gpus(),
        load_average_1m=round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
    )


def _memory_gb() -> float | None:
    try:
        return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):  # not POSIX
        return None


def _gpus() -> list[str]:
    # nvidia-smi rather than torch: importing torch here would cost seconds and memory.
    if shutil.which("nvidia-smi") is None:
        return []
    result = subprocess.run(
        ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    return [line.strip() for line in result.stdout.splitlines() if line.strip()]
