"""TrinityModelEngine: the gateway's Engine over trinity's ModelWrapper, token in, token out."""

from __future__ import annotations

import pytest

from ajet_core.engine import ContextLengthExceeded, SamplingParams

from .standins import (
    InProcessActor,
    RecordedModelConfig,
    make_rollout_model_class,
    vllm_import_stand_in,
)

with vllm_import_stand_in():
    from trinity.common.models.model import ModelWrapper

from ajet_backbone_trinity.engine import TrinityModelEngine
from trinity.common.config import InferenceModelConfig

MAX_MODEL_LEN = 64


@pytest.fixture
def wrapped(tiny_model_dir, rollout_engine):
    config = InferenceModelConfig(model_path=str(tiny_model_dir), max_model_len=MAX_MODEL_LEN)
    actor = make_rollout_model_class()(config, rollout_engine)
    wrapper = ModelWrapper(model=InProcessActor(actor), config=config)
    return TrinityModelEngine.from_model_wrapper(wrapper), actor


def prompt(engine) -> list[int]:
    return engine.tokenizer.apply_chat_template(
        [{"role": "user", "content": "What is 2 + 3?"}],
        add_generation_prompt=True,
        tokenize=True,
        return_dict=False,
    )


async def test_generates_from_the_exact_prompt_ids_with_logprobs(wrapped):
    engine, actor = wrapped
    assert engine.max_model_len == MAX_MODEL_LEN
    assert engine.tokenizer.eos_token_id in engine.eos_ids
    ids = prompt(engine)
    generation = await engine.generate(ids, SamplingParams(temperature=1.0, max_tokens=6, seed=7))
    (request,) = actor.requests
    assert request["prompt_token_ids"] == ids
    assert generation.token_ids == request["generations"][0].token_ids
    assert generation.logprobs == pytest.approx(request["generations"][0].logprobs)
    assert len(generation.logprobs) == len(generation.token_ids) <= 6
    if len(generation.token_ids) == 6 and generation.token_ids[-1] not in engine.eos_ids:
        assert generation.finish_reason == "length"


async def test_a_text_prompt_takes_trinitys_text_branch(wrapped):
    """trinity's own vLLMRolloutModel.generate: a string is tokenized by trinity and sent as
    token ids; no multimodal render (a vLLM ModelConfig with trust_remote_code=True) is built."""
    engine, actor = wrapped
    RecordedModelConfig.built.clear()
    ids = prompt(engine)
    assert isinstance(engine.trinity_prompt(ids), str)
    generation = await engine.generate(ids, SamplingParams(temperature=1.0, max_tokens=4, seed=3))
    (request,) = actor.requests
    assert request["prompt_token_ids"] == ids  # what trinity's tokenization gave vLLM
    assert generation.token_ids == request["generations"][0].token_ids
    assert actor.mm_render is None and RecordedModelConfig.built == []


async def test_ids_whose_text_would_tokenize_differently_go_as_token_ids(wrapped):
    """The token branch is trinity's multimodal one (it builds its render, forcing
    trust_remote_code=True); it is taken only when the text round trip would change the ids."""
    engine, actor = wrapped
    RecordedModelConfig.built.clear()
    spelled = [engine.tokenizer.convert_tokens_to_ids(c) for c in "hello"]  # one token per letter
    assert engine.tokenizer("hello", truncation=False)["input_ids"] != spelled
    assert engine.trinity_prompt(spelled) == {"prompt_token_ids": spelled}
    generation = await engine.generate(spelled, SamplingParams(max_tokens=3, seed=1))
    (request,) = actor.requests
    assert request["prompt_token_ids"] == spelled  # sampled from exactly the gateway's tokens
    assert len(generation.token_ids) == len(generation.logprobs) <= 3
    assert actor.mm_render is not None
    assert [built["trust_remote_code"] for built in RecordedModelConfig.built] == [True]


async def test_the_same_seed_samples_the_same_tokens(wrapped):
    engine, _ = wrapped
    ids = prompt(engine)
    first = await engine.generate(ids, SamplingParams(temperature=1.0, max_tokens=8, seed=11))
    second = await engine.generate(ids, SamplingParams(temperature=1.0, max_tokens=8, seed=11))
    assert first.token_ids == second.token_ids


async def test_a_prompt_without_room_for_a_reply_is_refused(wrapped):
    engine, actor = wrapped
    with pytest.raises(ContextLengthExceeded):
        await engine.generate([1] * MAX_MODEL_LEN, SamplingParams(max_tokens=4))
    assert actor.requests == []  # refused before reaching trinity's model


def test_finish_reason_is_read_off_the_tokens(wrapped):
    engine, _ = wrapped
    eos = next(iter(engine.eos_ids))
    text_ids = engine.tokenizer.encode("the answer is 5 STOP now", add_special_tokens=False)
    assert engine.finish_reason([5, eos], SamplingParams(max_tokens=2)) == ("stop", None)
    assert engine.finish_reason([5, 9], SamplingParams(max_tokens=4, stop_token_ids=[9])) == (
        "stop",
        None,
    )
    assert engine.finish_reason(text_ids, SamplingParams(max_tokens=99, stop=["STOP"])) == (
        "stop",
        "STOP",
    )
    assert engine.finish_reason(text_ids, SamplingParams(max_tokens=len(text_ids))) == (
        "length",
        None,
    )


def test_a_reply_ends_at_its_first_stop_whatever_the_model_server_did(wrapped):
    engine, _ = wrapped
    eos = next(iter(engine.eos_ids))
    ids, logprobs = engine.cut_at_stop(
        [5, 6, eos, 7, 8], [-1.0, -2.0, -3.0, -4.0, -5.0], SamplingParams()
    )
    assert (ids, logprobs) == ([5, 6, eos], [-1.0, -2.0, -3.0])
    ids, _ = engine.cut_at_stop([5, 9, 7], [-1.0, -2.0, -3.0], SamplingParams(stop_token_ids=[9]))
    assert ids == [5, 9]
    text_ids = engine.tokenizer.encode(
        "the answer is 5 STOP and more words", add_special_tokens=False
    )
    ids, logprobs = engine.cut_at_stop(
        text_ids, [0.0] * len(text_ids), SamplingParams(stop=["STOP"])
    )
    text = engine.tokenizer.decode(ids)
    assert "STOP" in text and "more" not in text
    assert len(logprobs) == len(ids) < len(text_ids)
