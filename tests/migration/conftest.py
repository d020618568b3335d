"""Each migration test imports an AgentJet-style project (its own 'agents/' package) in this
process, often from a fresh copy in a temp folder. Python keeps a top-level package once per
process, so the next test would silently run the previous copy's code (or be refused by the
importer's shadowing check): forget the project modules a test imported when it ends."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parent / "agentjet_project"


def _origin(module) -> Path | None:
    location = getattr(module, "__file__", None)
    location = location or next(iter(getattr(module, "__path__", [])), None)
    return Path(location).resolve() if location else None


@pytest.fixture(autouse=True)
def forget_project_modules(tmp_path_factory):
    roots = (tmp_path_factory.getbasetemp().resolve(), PROJECT)
    before = set(sys.modules)
    yield
    for name in set(sys.modules) - before:
        origin = _origin(sys.modules[name])
        if origin is not None and any(origin.is_relative_to(root) for root in roots):
            del sys.modules[name]
