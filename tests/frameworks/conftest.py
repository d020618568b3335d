"""tests/frameworks runs in the frameworks environment: agent frameworks whose pins conflict with
the main environment's (AutoGen, LlamaIndex; scripts/setup_env.sh says why).

Elsewhere it is skipped with the way to run it — except under the test command for this
environment (AJET_TEST_ENV=frameworks), where a missing framework must fail."""

from __future__ import annotations

import os
from importlib import metadata

import pytest

from ..support.engines import tiny_engine  # noqa: F401 - the `engine` fixture, registered here

FRAMEWORKS = (
    "autogen-agentchat",
    "autogen-ext",
    "llama-index-core",
    "llama-index-llms-openai-like",
)


def pytest_collection_modifyitems(config, items):
    if os.environ.get("AJET_TEST_ENV") == "frameworks":
        return
    missing = []
    for distribution in FRAMEWORKS:
        try:
            metadata.version(distribution)
        except metadata.PackageNotFoundError:
            missing.append(distribution)
    if not missing:
        return
    skip = pytest.mark.skip(
        reason=f"needs the frameworks environment ({', '.join(missing)} not installed here): "
        "scripts/setup_env.sh frameworks, then .venvs/frameworks/bin/python -m pytest "
        "tests/frameworks"
    )
    for item in items:
        if "tests/frameworks/" in str(item.path).replace(os.sep, "/"):
            item.add_marker(skip)
