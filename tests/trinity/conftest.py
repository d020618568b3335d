"""tests/trinity runs in the trinity environment (`make test-trinity`). Elsewhere it is skipped
with the way to run it — except under the test command for this environment, where a missing
trinity-rft must fail."""

from __future__ import annotations

import importlib.metadata as metadata
import os

import pytest


def pytest_collection_modifyitems(config, items):
    if os.environ.get("AJET_TEST_ENV") == "trinity":
        return
    try:
        metadata.version("trinity-rft")
    except metadata.PackageNotFoundError:
        skip = pytest.mark.skip(reason="needs the trinity environment: run `make test-trinity`")
        for item in items:
            if "tests/trinity/" in str(item.path).replace(os.sep, "/"):
                item.add_marker(skip)
