"""The tiny model's engine, built once for the adapter tests."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def engine(tiny_model_dir):
    module = pytest.importorskip("ajet_backbone_debug.engine")
    engine = module.TransformersEngine.from_path(str(tiny_model_dir), max_model_len=1024, seed=0)
    yield engine
    engine.close()
