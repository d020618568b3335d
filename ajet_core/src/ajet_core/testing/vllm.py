"""A stand-in for vLLM's structured-output parameters, for backbone tests on machines without vLLM.

vLLM is a CUDA-only install, so an engine that hands a constraint to vLLM (as
``vllm.sampling_params.StructuredOutputsParams``) cannot be tested against vLLM itself on a CPU
machine. The ``vllm_stand_in`` fixture installs a ``vllm.sampling_params`` module whose
``StructuredOutputsParams`` has the fields of vLLM 0.19-0.24's class, so the test can assert the
exact parameters the engine builds. It stands in for nothing else of vLLM.
"""

from __future__ import annotations

import dataclasses
import sys
import types
from collections.abc import Iterator

import pytest


@dataclasses.dataclass
class StructuredOutputsParams:
    """The fields of vLLM's ``StructuredOutputsParams`` (0.19 to 0.24), compared by value."""

    json: str | dict | None = None
    regex: str | None = None
    choice: list[str] | None = None
    grammar: str | None = None
    json_object: bool | None = None
    disable_any_whitespace: bool = False
    disable_additional_properties: bool = False
    whitespace_pattern: str | None = None
    structural_tag: str | None = None


@pytest.fixture
def vllm_stand_in(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[StructuredOutputsParams]]:
    """``import vllm.sampling_params`` gives the stand-in for this test; yields its class."""
    module = types.ModuleType("vllm.sampling_params")
    module.StructuredOutputsParams = StructuredOutputsParams  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "vllm", types.ModuleType("vllm"))
    monkeypatch.setitem(sys.modules, "vllm.sampling_params", module)
    yield StructuredOutputsParams
