"""Structured output held by constrained decoding (llguidance in the debug engine), on the tiny
model: response_format json_schema/json_object, forced and strict tool calls whose arguments
match the tool's schema, and the reply tokens reused on the next turn like any other."""

from __future__ import annotations

import json

import openai
import pytest

from ajet_core.config.models import AjetConfig
from ajet_core.gateway import Gateway

pytest.importorskip("llguidance")

ANSWER = {
    "type": "object",
    "properties": {
        "answer": {"type": "integer", "minimum": 0, "maximum": 9},
        "mood": {"enum": ["happy", "sad"]},
    },
    "required": ["answer", "mood"],
    "additionalProperties": False,
}
CITY = {
    "type": "object",
    "properties": {"city": {"type": "string", "maxLength": 12}},
    "required": ["city"],
    "additionalProperties": False,
}
WEATHER = {"type": "function", "function": {"name": "get_weather", "parameters": CITY}}
TIME = {
    "type": "function",
    "function": {
        "name": "get_time",
        "parameters": {
            "type": "object",
            "properties": {"zone": {"enum": ["UTC", "CET"]}},
            "required": ["zone"],
            "additionalProperties": False,
        },
    },
}
USER = [{"role": "user", "content": "What is 2 + 2, and the weather in Paris?"}]
SCHEMA_FORMAT = {"type": "json_schema", "json_schema": {"name": "answer", "schema": ANSWER}}


def gateway_for(engine):
    config = AjetConfig.model_validate({"rollout": {"temperature": 1.0, "max_tokens_per_call": 64}})
    return Gateway(engine, config, mode="train")


def assert_answer(value):
    assert set(value) == {"answer", "mood"}
    assert isinstance(value["answer"], int) and 0 <= value["answer"] <= 9
    assert value["mood"] in ("happy", "sad")


def assert_call(call):
    arguments = json.loads(call.function.arguments)
    if call.function.name == "get_weather":
        assert set(arguments) == {"city"} and isinstance(arguments["city"], str)
        assert len(arguments["city"]) <= 12
    else:
        assert call.function.name == "get_time" and arguments in ({"zone": "UTC"}, {"zone": "CET"})


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_json_schema_replies_always_match_the_schema(engine, seed):
    gateway = gateway_for(engine)
    handle = gateway.open_episode("ep", seed=seed)
    client = handle.tuner.as_raw_openai_sdk_client()
    reply = await client.chat.completions.create(messages=USER, response_format=SCHEMA_FORMAT)
    assert reply.choices[0].finish_reason == "stop"
    assert_answer(json.loads(reply.choices[0].message.content))
    loose = await client.chat.completions.create(
        messages=USER, response_format={"type": "json_object"}
    )
    assert isinstance(json.loads(loose.choices[0].message.content), dict)
    [call, _] = handle.close().calls
    # The recorded logprobs come from the constrained distribution: every sampled token was
    # allowed, so none has the -inf an unconstrained trainer's mask would give.
    assert all(lp <= 0 and lp != float("-inf") for lp in call.response_logprobs)


async def test_forced_tool_calls_match_the_tool_schema_and_the_next_turn_reuses_them(engine):
    gateway = gateway_for(engine)
    handle = gateway.open_episode("ep", seed=4)
    client = handle.tuner.as_raw_openai_sdk_client()
    for choice in ("required", {"type": "function", "function": {"name": "get_time"}}):
        reply = await client.chat.completions.create(
            messages=USER, tools=[WEATHER, TIME], tool_choice=choice
        )
        message = reply.choices[0].message
        assert reply.choices[0].finish_reason == "tool_calls" and len(message.tool_calls) == 1
        assert_call(message.tool_calls[0])
    assert message.tool_calls[0].function.name == "get_time"
    follow = USER + [
        message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": message.tool_calls[0].id, "content": "12:00"},
    ]
    await client.chat.completions.create(messages=follow, tools=[WEATHER, TIME])
    recording = handle.close()
    assert recording.drift_fallbacks == 0 and recording.malformed_tool_calls == 0
    assert recording.calls[2].parent_call_id == recording.calls[1].call_id


@pytest.mark.parametrize("seed", [5, 6, 7])
async def test_schema_with_tools_gives_a_valid_answer_or_valid_calls(engine, seed):
    gateway = gateway_for(engine)
    handle = gateway.open_episode("ep", seed=seed)
    client = handle.tuner.as_raw_openai_sdk_client()
    reply = await client.chat.completions.create(
        messages=USER, tools=[WEATHER, TIME], response_format=SCHEMA_FORMAT
    )
    message = reply.choices[0].message
    if message.tool_calls:
        for call in message.tool_calls:
            assert_call(call)
    else:
        assert_answer(json.loads(message.content))
    strict = [{"type": "function", "function": {**WEATHER["function"], "strict": True}}]
    reply = await client.chat.completions.create(messages=USER, tools=strict)
    message = reply.choices[0].message
    for call in message.tool_calls or []:
        assert_call(call)
    assert handle.close().malformed_tool_calls == 0


async def test_a_schema_that_cannot_be_enforced_is_a_400(engine):
    gateway = gateway_for(engine)
    handle = gateway.open_episode("ep")
    client = handle.tuner.as_raw_openai_sdk_client()
    bad = {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "banana"}}}
    with pytest.raises(openai.BadRequestError) as caught:
        await client.chat.completions.create(messages=USER, response_format=bad)
    assert caught.value.code == "invalid_schema"
    with pytest.raises(openai.BadRequestError):
        await client.chat.completions.create(messages=USER, response_format={"type": "xml"})
    handle.close()


class PlainEngine:
    """The Engine protocol of ``inner`` without ``supports_constraints`` (as verl's and
    trinity's engines are today)."""

    def __init__(self, inner):
        self.tokenizer, self.max_model_len, self.inner = inner.tokenizer, inner.max_model_len, inner

    async def generate(self, prompt_ids, sampling):
        assert sampling.constraint is None
        return await self.inner.generate(prompt_ids, sampling)


async def test_an_engine_without_constraints_serves_unconstrained_and_counts_it(engine):
    gateway = gateway_for(PlainEngine(engine))
    handle = gateway.open_episode("ep")
    client = handle.tuner.as_raw_openai_sdk_client()
    await client.chat.completions.create(messages=USER, response_format=SCHEMA_FORMAT)
    await client.chat.completions.create(messages=USER)
    handle.close()
    assert gateway.stats.unconstrained_outputs == 1
    assert gateway.stats_json()["unconstrained_outputs"] == 1
