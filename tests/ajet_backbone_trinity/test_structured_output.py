"""Structured output under trinity: an OutputConstraint reaches trinity's rollout model as vLLM's
``structured_outputs``, and trinity's own ``_create_sampling_params`` keeps it.

vLLM is not installed (CUDA-only), so its ``StructuredOutputsParams`` is stood in by a class of
vLLM's fields; trinity's ModelWrapper and vLLMRolloutModel are real (standins.py).
"""

from __future__ import annotations

import sys
import types
from typing import Any

import pytest

from ajet_core.engine import COMPACT_JSON, EngineError, OutputConstraint, SamplingParams
from ajet_core.testing.vllm import StructuredOutputsParams

from .standins import InProcessActor, make_rollout_model_class, vllm_import_stand_in

with vllm_import_stand_in():
    from trinity.common.models.model import ModelWrapper

from ajet_backbone_trinity.engine import TrinityModelEngine
from trinity.common.config import InferenceModelConfig

SCHEMA = {"type": "object", "properties": {"zone": {"enum": ["UTC", "CET"]}}}
LARK = 'start: "a" <[5]> %json{"type": "object"}\n'


@pytest.fixture
def wrapped(tiny_model_dir, rollout_engine):
    config = InferenceModelConfig(model_path=str(tiny_model_dir), max_model_len=256)
    actor = make_rollout_model_class()(config, rollout_engine)
    wrapper = ModelWrapper(model=InProcessActor(actor), config=config)
    return TrinityModelEngine.from_model_wrapper(wrapper), actor


def prompt(engine) -> list[int]:
    return engine.tokenizer.apply_chat_template(
        [{"role": "user", "content": "What time is it?"}],
        add_generation_prompt=True,
        tokenize=True,
        return_dict=False,
    )


class VllmSamplingParams(types.SimpleNamespace):
    """A vLLM ``SamplingParams`` as trinity holds its defaults: every field set, ``clone()``."""

    def clone(self) -> VllmSamplingParams:
        return VllmSamplingParams(**vars(self))


@pytest.mark.parametrize(
    ("constraint", "expected"),
    [
        (
            OutputConstraint(json_schema=SCHEMA),
            StructuredOutputsParams(json={**SCHEMA, "x-guidance": COMPACT_JSON}),
        ),
        (OutputConstraint(lark=LARK), StructuredOutputsParams(grammar=LARK)),
    ],
)
async def test_the_constraint_reaches_trinitys_model_as_vllm_structured_outputs(
    wrapped, vllm_stand_in, constraint, expected
):
    engine, actor = wrapped
    assert engine.supports_constraints
    sampling = SamplingParams(temperature=1.0, max_tokens=8, seed=2, constraint=constraint)
    await engine.generate(prompt(engine), sampling)
    [request] = actor.requests
    assert request["structured_outputs"] == expected
    # trinity's own copy onto its default vLLM SamplingParams keeps it (a field vLLM has).
    sent = {k: v for k, v in request.items() if k not in ("prompt", "prompt_token_ids")}
    sent.pop("generations")
    defaults = VllmSamplingParams(
        n=1,
        temperature=1.0,
        top_p=1.0,
        top_k=-1,
        max_tokens=16,
        logprobs=0,
        stop=[],
        stop_token_ids=[],
        seed=None,
        structured_outputs=None,
    )
    actor.default_sampling_params = defaults
    params = actor._create_sampling_params(**sent)
    assert params.structured_outputs == expected and defaults.structured_outputs is None


async def test_without_vllm_a_constrained_request_names_what_is_missing(wrapped, monkeypatch):
    engine, actor = wrapped
    monkeypatch.setitem(sys.modules, "vllm", None)
    sampling = SamplingParams(max_tokens=8, constraint=OutputConstraint(json_schema=SCHEMA))
    with pytest.raises(EngineError, match="vllm importable"):
        await engine.generate(prompt(engine), sampling)
    assert actor.requests == []


def test_the_translation_selects_vllms_guidance_backend(tmp_path, tiny_model_dir, quickstart_data):
    from .test_translation import quickstart_config, translated

    _, translation = translated(tmp_path, quickstart_config(tiny_model_dir, quickstart_data))
    args: dict[str, Any] = translation.data["explorer"]["rollout_model"]["extra_engine_args"]
    assert args == {"structured_outputs_config": {"backend": "guidance"}}
