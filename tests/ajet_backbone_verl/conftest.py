"""tests/ajet_backbone_verl runs in the verl environment (`make test-verl`).

Elsewhere it is skipped with the way to run it — except under the test command for this
environment, where a missing verl must fail."""

from __future__ import annotations

import importlib.metadata as metadata
import os

import pytest


def pytest_collection_modifyitems(config, items):
    if os.environ.get("AJET_TEST_ENV") == "verl":
        return
    try:
        metadata.version("verl")
    except metadata.PackageNotFoundError:
        skip = pytest.mark.skip(reason="needs the verl environment: run `make test-verl`")
        for item in items:
            if "tests/ajet_backbone_verl/" in str(item.path).replace(os.sep, "/"):
                item.add_marker(skip)
