"""tests/ajet_backbone_trinity runs in the trinity environment (`make test-trinity`).

Elsewhere it is skipped with the way to run it — except under the test command for this
environment, where a missing trinity-rft must fail."""

from __future__ import annotations

import os
from importlib import metadata
from pathlib import Path

import pytest

QUICKSTART = Path(__file__).resolve().parents[2] / "tutorial" / "quickstart"


def pytest_collection_modifyitems(config, items):
    if os.environ.get("AJET_TEST_ENV") == "trinity":
        return
    try:
        metadata.version("trinity-rft")
    except metadata.PackageNotFoundError:
        skip = pytest.mark.skip(reason="needs the trinity environment: run `make test-trinity`")
        for item in items:
            if "tests/ajet_backbone_trinity/" in str(item.path).replace(os.sep, "/"):
                item.add_marker(skip)


# --- the seam tests' shared pieces -------------------------------------------------------------


@pytest.fixture(scope="session")
def rollout_engine(tiny_model_dir):
    """The tiny model, generating, behind the stand-in for trinity's vLLM actor."""
    engine_module = pytest.importorskip("ajet_backbone_debug.engine")
    engine = engine_module.TransformersEngine.from_path(
        str(tiny_model_dir), max_model_len=512, seed=0
    )
    yield engine
    engine.close()


@pytest.fixture(scope="session")
def quickstart_data(tmp_path_factory) -> Path:
    """A few addition tasks written by the quickstart's own make_data.task_row."""
    import importlib.util
    import json

    spec = importlib.util.spec_from_file_location(
        "quickstart_make_data", QUICKSTART / "make_data.py"
    )
    make_data = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_data)
    folder = tmp_path_factory.mktemp("quickstart_data")
    for name, pairs in (
        ("train.jsonl", [(3, 4), (10, 20), (7, 8)]),
        ("validation.jsonl", [(1, 2)]),
    ):
        (folder / name).write_text(
            "".join(json.dumps(make_data.task_row(a, b)) + "\n" for a, b in pairs)
        )
    return folder
