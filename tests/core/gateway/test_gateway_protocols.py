"""The Responses and Messages APIs, with the real ``openai`` and ``anthropic`` clients on the tiny
model: a two-turn tool episode per protocol, streaming and not, recorded and merged exactly like
chat completions (the second turn's prompt reuses the first turn's sampled tokens, no drift
fallback, one merged sample that trains exactly the sampled tokens)."""

from __future__ import annotations

import json

import httpx
import openai
import pytest

from ajet_core.config.models import AjetConfig
from ajet_core.gateway import Gateway
from ajet_core.schema import EpisodeRecord, Task
from ajet_core.testing.samples import assert_samples_train_exactly_the_sampled_tokens
from ajet_core.tracking.timeline_merge import TimelineMergeTracker

pytest.importorskip("torch")

WEATHER = {
    "name": "get_weather",
    "description": "Get the current weather in a city.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string", "description": "City name"}},
        "required": ["city"],
    },
}
QUESTION = "What is the weather in Paris?"


@pytest.fixture
async def gateway(engine):
    config = AjetConfig.model_validate({"rollout": {"temperature": 1.0, "max_tokens_per_call": 48}})
    gateway = Gateway(engine, config, mode="train")
    await gateway.start_http()
    yield gateway
    await gateway.stop_http()


def check_merged(recording, tokenizer, turns=2, errors=()):
    assert recording.drift_fallbacks == 0
    assert [error["code"] for error in recording.errors] == list(errors)
    assert len(recording.calls) == turns
    for parent, child in zip(recording.calls, recording.calls[1:]):
        assert child.parent_call_id == parent.call_id
        assert child.prompt_ids[: len(parent.full_ids)] == parent.full_ids
    record = EpisodeRecord(episode_id="ep", task=Task(main_query="q"), calls=recording.calls)
    [sample] = TimelineMergeTracker().build_samples(record)
    assert_samples_train_exactly_the_sampled_tokens([sample], recording.calls, tokenizer)


# ----------------------------------------------------------------------- Responses API


@pytest.mark.parametrize("stream", [False, True])
async def test_responses_api_tool_episode_with_the_openai_client(gateway, engine, stream):
    handle = gateway.open_episode("ep", seed=3)
    endpoint = handle.tuner.as_oai_baseurl_apikey()
    client = openai.AsyncOpenAI(base_url=endpoint.base_url, api_key=endpoint.api_key, max_retries=0)
    tools = [{"type": "function", **WEATHER}]

    async def create(**kwargs):
        if not stream:
            return await client.responses.create(model=endpoint.model, tools=tools, **kwargs)
        events = []
        async with client.responses.stream(model=endpoint.model, tools=tools, **kwargs) as s:
            async for event in s:
                events.append(event.type)
            final = await s.get_final_response()
        assert events[:2] == ["response.created", "response.in_progress"]
        assert events[-1] in ("response.completed", "response.incomplete")
        return final

    # tool_choice=required: the tiny model must call the tool, so the second turn has a result.
    first = await create(
        instructions="You are a helpful agent.", input=QUESTION, tool_choice="required"
    )
    calls = [item for item in first.output if item.type == "function_call"]
    assert calls and calls[0].name == "get_weather" and calls[0].call_id.startswith("call_")
    assert isinstance(json.loads(calls[0].arguments), dict)
    assert first.usage.input_tokens > 0 and first.usage.output_tokens > 0
    second = await create(
        instructions="You are a helpful agent.",
        previous_response_id=first.id,
        input=[{"type": "function_call_output", "call_id": calls[0].call_id, "output": "sunny"}],
    )
    assert second.previous_response_id == first.id
    assert second.output and second.status in ("completed", "incomplete")
    recording = handle.close()
    assert recording.calls[0].call_id == first.id and recording.calls[1].call_id == second.id
    assert recording.calls[1].messages[-1] == {
        "role": "tool",
        "tool_call_id": calls[0].call_id,
        "content": "sunny",
    }
    check_merged(recording, engine.tokenizer)


async def test_responses_api_full_input_replay_reuses_tokens_like_chat(gateway, engine):
    """A client that keeps the conversation itself (store false) sends the output items back."""
    handle = gateway.open_episode("ep")
    client = handle.tuner.as_raw_openai_sdk_client()  # in-process transport
    tools = [{"type": "function", **WEATHER}]
    conversation = [{"role": "user", "content": QUESTION}]
    first = await client.responses.create(
        model="m", input=conversation, tools=tools, tool_choice="required", store=False
    )
    conversation += [item.model_dump(exclude_none=True) for item in first.output]
    call = next(item for item in first.output if item.type == "function_call")
    conversation.append({"type": "function_call_output", "call_id": call.call_id, "output": "9C"})
    await client.responses.create(model="m", input=conversation, tools=tools, store=False)
    with pytest.raises(openai.BadRequestError, match="previous_response_id"):
        await client.responses.create(model="m", input="more", previous_response_id=first.id)
    # store: false kept nothing to continue from.
    check_merged(handle.close(), engine.tokenizer, errors=["previous_response_not_found"])


# ------------------------------------------------------------------------ Messages API


@pytest.mark.parametrize("stream", [False, True])
async def test_messages_api_tool_episode_with_the_anthropic_client(gateway, engine, stream):
    anthropic = pytest.importorskip("anthropic")
    handle = gateway.open_episode("ep", seed=5)
    endpoint = handle.tuner.as_oai_baseurl_apikey()
    client = anthropic.AsyncAnthropic(
        base_url=endpoint.base_url.removesuffix("/v1"), api_key=endpoint.api_key, max_retries=0
    )
    tools = [
        {
            "name": WEATHER["name"],
            "description": WEATHER["description"],
            "input_schema": WEATHER["parameters"],
        }
    ]

    async def create(**kwargs):
        if not stream:
            return await client.messages.create(
                model=endpoint.model, max_tokens=48, tools=tools, **kwargs
            )
        async with client.messages.stream(
            model=endpoint.model, max_tokens=48, tools=tools, **kwargs
        ) as s:
            return await s.get_final_message()

    messages = [{"role": "user", "content": QUESTION}]
    first = await create(
        system="You are a helpful agent.", messages=messages, tool_choice={"type": "any"}
    )
    uses = [block for block in first.content if block.type == "tool_use"]
    assert first.stop_reason == "tool_use" and uses[0].name == "get_weather"
    assert isinstance(uses[0].input, dict)
    messages += [
        {"role": "assistant", "content": [block.model_dump() for block in first.content]},
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": uses[0].id, "content": "sunny"}],
        },
    ]
    second = await create(system="You are a helpful agent.", messages=messages)
    assert second.stop_reason in ("end_turn", "max_tokens", "tool_use")
    assert second.usage.input_tokens > first.usage.input_tokens
    recording = handle.close()
    assert [call.call_id for call in recording.calls] == [first.id, second.id]
    check_merged(recording, engine.tokenizer)


async def test_messages_api_errors_have_anthropics_shape(gateway):
    anthropic = pytest.importorskip("anthropic")
    handle = gateway.open_episode("ep")
    endpoint = handle.tuner.as_oai_baseurl_apikey()
    client = anthropic.AsyncAnthropic(
        base_url=endpoint.base_url.removesuffix("/v1"), api_key=endpoint.api_key, max_retries=0
    )
    with pytest.raises(anthropic.BadRequestError) as caught:
        await client.messages.create(
            model="m",
            max_tokens=8,
            messages=[{"role": "user", "content": [{"type": "image", "source": {}}]}],
        )
    assert caught.value.body["error"]["type"] == "invalid_request_error"
    assert "image" in caught.value.body["error"]["message"]
    bad_key = anthropic.AsyncAnthropic(
        base_url=endpoint.base_url.removesuffix("/v1"), api_key="nope", max_retries=0
    )
    with pytest.raises(anthropic.AuthenticationError):
        await bad_key.messages.create(
            model="m", max_tokens=8, messages=[{"role": "user", "content": "hi"}]
        )
    handle.close()


async def test_curl_style_requests_get_well_formed_replies(gateway):
    handle = gateway.open_episode("ep")
    key = gateway.issue_key(handle.session)
    async with httpx.AsyncClient(base_url=gateway.base_url, timeout=120) as http:
        response = await http.post(
            "/responses",
            headers={"Authorization": f"Bearer {key}"},
            json={"model": "m", "input": "hi", "max_output_tokens": 8},
        )
        body = response.json()
        assert response.status_code == 200 and body["object"] == "response"
        assert body["output"][0]["content"][0]["type"] == "output_text"
        response = await http.post(
            "/messages",
            headers={"x-api-key": key, "anthropic-version": "2023-06-01"},
            json={"model": "m", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]},
        )
        body = response.json()
        assert response.status_code == 200 and body["type"] == "message"
        assert body["content"][0]["type"] == "text" and body["usage"]["output_tokens"] > 0
        missing = await http.post(
            "/messages",
            headers={"x-api-key": key},
            json={"model": "m", "messages": [{"role": "user", "content": "hi"}]},
        )
        assert missing.status_code == 400
        assert missing.json()["error"]["type"] == "invalid_request_error"
    handle.close()


# ------------------------------------------------------------------------- ajet serve


async def test_ajet_serve_answers_responses_and_messages_requests(
    ajet_serve, tiny_model_dir, tmp_path
):
    """`ajet serve` (a plain endpoint, no episodes) speaks both protocols to curl-style clients;
    its stats need the --api-key too."""
    config = tmp_path / "serve.yaml"
    config.write_text(f"model:\n  path: {tiny_model_dir}\n  max_model_len: 2048\nbackbone: debug\n")
    base_url = ajet_serve(config, "--api-key", "k3y")
    async with httpx.AsyncClient(base_url=base_url, timeout=120) as http:
        response = await http.post(
            "/responses",
            headers={"Authorization": "Bearer k3y"},
            json={"model": "m", "input": "hi", "max_output_tokens": 8, "store": False},
        )
        assert response.status_code == 200, response.text
        assert response.json()["output"][0]["content"][0]["type"] == "output_text"
        response = await http.post(
            "/messages",
            headers={"x-api-key": "k3y", "anthropic-version": "2023-06-01"},
            json={"model": "m", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]},
        )
        assert response.status_code == 200, response.text
        assert response.json()["content"][0]["type"] == "text"
        refused = await http.post("/messages", json={"model": "m", "max_tokens": 8, "messages": []})
        assert refused.status_code == 401
        assert refused.json()["error"]["type"] == "authentication_error"
        stats_url = base_url.removesuffix("/v1") + "/ajet/stats"
        assert (await http.get(stats_url)).status_code == 401
        assert (
            await http.get(stats_url, headers={"Authorization": "Bearer k3y"})
        ).status_code == 200
