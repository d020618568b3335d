"""The debug backbone's engine on the tiny model (CPU, default settings), one per test module:
import the ``engine`` fixture where a test serves the real tiny model through a gateway."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module", name="engine")
def tiny_engine(tiny_model_dir):
    pytest.importorskip("torch")
    module = pytest.importorskip("ajet_backbone_debug.engine")
    engine = module.TransformersEngine.from_path(str(tiny_model_dir), device="cpu")
    yield engine
    engine.close()
