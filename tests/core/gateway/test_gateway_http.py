"""The gateway over real HTTP (uvicorn on 127.0.0.1): the OpenAI protocol, errors, streaming,
keys, sampling rules and fixed endpoints. The engine here is the scripted zero-cost one: these
tests are about the protocol; test_gateway_tiny_model.py runs the same paths on a real model."""

from __future__ import annotations

import asyncio
import json

import httpx
import openai
import pytest

from ajet_core.config.models import AjetConfig
from ajet_core.engine import EngineError

from .gateway_fixtures import (
    WEATHER_TOOL,
    FailingEngine,
    GatedEngine,
    GenerateOnlyEngine,
    make_gateway,
    tokenizer,
    weather_reply,
)


@pytest.fixture
async def gateway():
    gateway = make_gateway()
    await gateway.start_http()
    yield gateway
    await gateway.stop_http()


@pytest.fixture
async def client(gateway):
    async with httpx.AsyncClient(base_url=gateway.base_url, timeout=30) as http:
        yield http


def _key(gateway, agent="agent", episode_id="ep", **kwargs):
    session = (
        gateway._sessions.get(episode_id) or gateway.open_episode(episode_id, **kwargs).session
    )
    return gateway.issue_key(session, agent)


def _auth(key):
    return {"Authorization": f"Bearer {key}"}


USER = [{"role": "user", "content": "Weather in Paris?"}]


# ------------------------------------------------------------------------------ basics


async def test_binds_to_localhost_by_default(gateway):
    assert gateway.base_url.startswith("http://127.0.0.1:")


async def test_accepted_connections_send_without_waiting_for_acks(gateway, client):
    """TCP_NODELAY on every connection: a response written in two parts otherwise waits for the
    client's delayed ACK, about 40 ms a request on Linux (the gateway's listening socket once
    said proto 0, and asyncio sets the option only on sockets that say TCP)."""
    import socket

    assert (await client.get("/../health")).status_code == 200  # a kept-alive connection
    connections = list(gateway._server.server_state.connections)
    assert connections
    for connection in connections:
        sock = connection.transport.get_extra_info("socket")
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0


async def test_health_and_models(gateway, client):
    assert (await client.get("/../health")).json() == {"status": "ok"}
    response = await client.get("/models", headers=_auth(_key(gateway)))
    assert response.status_code == 200
    assert response.json()["data"][0]["id"] == gateway.model_name


async def test_non_streaming_completion_with_a_parsed_tool_call(gateway, client):
    key = _key(gateway)
    response = await client.post(
        "/chat/completions",
        headers=_auth(key),
        json={"model": "anything", "messages": USER, "tools": [WEATHER_TOOL]},
    )
    assert response.status_code == 200
    body = response.json()
    choice = body["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    call = choice["message"]["tool_calls"][0]
    assert call["id"].startswith("call_") and call["function"]["name"] == "get_weather"
    assert json.loads(call["function"]["arguments"]) == {"city": "Paris"}
    assert body["usage"]["completion_tokens"] > 0 and body["model"] == "anything"
    [recorded] = gateway._sessions["ep"].calls
    assert recorded.reply == choice["message"] and recorded.agent == "agent"


async def test_routinely_sent_parameters_are_accepted(gateway, client):
    response = await client.post(
        "/chat/completions",
        headers=_auth(_key(gateway)),
        json={
            "messages": USER,
            "n": 1,
            "stream_options": {"include_usage": True},
            "parallel_tool_calls": False,
            "user": "u1",
            "metadata": {"a": "b"},
            "response_format": {"type": "json_object"},
            "frequency_penalty": 0,
            "presence_penalty": 0,
            "logprobs": False,
            "store": False,
            "max_completion_tokens": 50,
            "seed": 3,
            "stop": ["\n\n"],
            "tool_choice": "auto",
            "tools": [WEATHER_TOOL],
        },
    )
    assert response.status_code == 200, response.text


async def test_max_completion_tokens_cuts_the_reply(gateway, client):
    response = await client.post(
        "/chat/completions",
        headers=_auth(_key(gateway)),
        json={"messages": USER, "max_completion_tokens": 2},
    )
    assert response.json()["choices"][0]["finish_reason"] == "length"
    assert response.json()["usage"]["completion_tokens"] == 2


async def test_tool_choice_none_returns_the_text_as_content(gateway, client):
    response = await client.post(
        "/chat/completions",
        headers=_auth(_key(gateway)),
        json={"messages": USER, "tools": [WEATHER_TOOL], "tool_choice": "none"},
    )
    message = response.json()["choices"][0]["message"]
    assert "tool_calls" not in message and message["content"].startswith("<tool_call>")


async def test_malformed_tool_call_text_comes_back_as_content_and_is_counted():
    broken = '<tool_call>\n{"name": "get_weather", "arguments": {"city": \n</tool_call>'
    gateway = make_gateway(reply=lambda prompt: broken)
    episode = gateway.open_episode("ep")
    key = gateway.issue_key(episode.session, "agent")
    reply = await gateway.chat_completion(key, {"messages": USER, "tools": [WEATHER_TOOL]})
    message = reply["choices"][0]["message"]
    assert message["content"] == broken and "tool_calls" not in message
    assert reply["choices"][0]["finish_reason"] == "stop"
    recording = episode.close()
    assert recording.malformed_tool_calls == 1 and recording.calls[0].malformed_tool_call
    assert gateway.stats.malformed_tool_calls == 1


# ------------------------------------------------------------------------------ errors


def _error(response, status, param=None, code=None):
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["message"]
    if param is not None:
        assert error["param"] == param, error
    if code is not None:
        assert error["code"] == code, error
    return error


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"messages": []}, "messages"),
        ({}, "messages"),
        ({"messages": "hi"}, "messages"),
        ({"messages": [{"role": "wizard", "content": "hi"}]}, "messages[0].role"),
        ({"messages": ["hi"]}, "messages[0]"),
        ({"messages": [{"role": "user", "content": 7}]}, "messages[0].content"),
        (
            {
                "messages": [
                    {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}
                ]
            },
            "messages[0].content[0].type",
        ),
        (
            {"messages": [{"role": "user", "content": [{"type": "input_audio"}]}]},
            "messages[0].content[0].type",
        ),
        (
            {
                "messages": [
                    {"role": "assistant", "content": None, "tool_calls": [{"function": {}}]}
                ]
            },
            "messages[0].tool_calls[0].function.name",
        ),
        ({"messages": USER, "n": 17}, "n"),
        ({"messages": USER, "temperature": "hot"}, "temperature"),
        ({"messages": USER, "temperature": 3}, "temperature"),
        ({"messages": USER, "top_p": 1.5}, "top_p"),
        ({"messages": USER, "top_p": 0}, "top_p"),
        ({"messages": USER, "max_tokens": 0}, "max_tokens"),
        ({"messages": USER, "max_completion_tokens": "many"}, "max_completion_tokens"),
        ({"messages": USER, "stop": 5}, "stop"),
        ({"messages": USER, "seed": "s"}, "seed"),
        ({"messages": USER, "stream": "yes"}, "stream"),
        ({"messages": USER, "stream_options": "x"}, "stream_options"),
        ({"messages": USER, "model": 5}, "model"),
        ({"messages": USER, "tools": {"a": 1}}, "tools"),
        (
            {"messages": USER, "tools": [{"type": "function", "function": {"name": ""}}]},
            "tools[0].function.name",
        ),
        ({"messages": USER, "tools": [{"type": "retrieval"}]}, "tools[0].type"),
        (
            {
                "messages": USER,
                "tools": [WEATHER_TOOL],
                "tool_choice": {"type": "function", "function": {"name": "nope"}},
            },
            "tool_choice",
        ),
        ({"messages": USER, "tool_choice": 3}, "tool_choice"),
    ],
)
async def test_bad_requests_get_400_naming_the_field(gateway, client, body, param):
    response = await client.post("/chat/completions", headers=_auth(_key(gateway)), json=body)
    _error(response, 400, param=param)


async def test_bodies_that_are_not_json_objects(gateway, client):
    headers = _auth(_key(gateway))
    _error(await client.post("/chat/completions", headers=headers, content=b"{not json"), 400)
    _error(await client.post("/chat/completions", headers=headers, json=[1, 2]), 400)


async def test_unknown_missing_and_revoked_keys_get_401(gateway, client):
    _error(
        await client.post("/chat/completions", json={"messages": USER}), 401, code="invalid_api_key"
    )
    _error(
        await client.post(
            "/chat/completions", headers=_auth("ajet-guess"), json={"messages": USER}
        ),
        401,
    )
    _error(await client.get("/models", headers=_auth("nope")), 401)
    key = _key(gateway)
    assert (
        await client.post("/chat/completions", headers=_auth(key), json={"messages": USER})
    ).status_code == 200
    gateway.close_episode("ep")
    _error(await client.post("/chat/completions", headers=_auth(key), json={"messages": USER}), 401)


async def test_unknown_routes_get_openai_style_404(client):
    _error(await client.get("/completions"), 404)
    _error(await client.get("/chat/completions"), 405)


async def test_context_length_exceeded_is_400_and_recorded_on_the_episode():
    gateway = make_gateway(max_model_len=40)
    await gateway.start_http()
    try:
        episode = gateway.open_episode("ep")
        key = gateway.issue_key(episode.session, "agent")
        async with httpx.AsyncClient(base_url=gateway.base_url) as http:
            long = [{"role": "user", "content": "word " * 200}]
            error = _error(
                await http.post("/chat/completions", headers=_auth(key), json={"messages": long}),
                400,
                param="messages",
                code="context_length_exceeded",
            )
            assert "40 tokens" in error["message"]
        recording = episode.close()
        assert [e["code"] for e in recording.errors] == ["context_length_exceeded"]
        assert recording.calls == []
    finally:
        await gateway.stop_http()


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (EngineError("CUDA out of memory"), 503, "engine_error"),
        (ZeroDivisionError("a bug"), 500, None),
    ],
)
async def test_engine_failures_never_take_the_gateway_down(error, status, code):
    engine = FailingEngine(tokenizer(), weather_reply, error=error)
    gateway = make_gateway(engine=engine)
    await gateway.start_http()
    try:
        episode = gateway.open_episode("ep")
        key = gateway.issue_key(episode.session, "agent")
        async with httpx.AsyncClient(base_url=gateway.base_url) as http:
            _error(
                await http.post("/chat/completions", headers=_auth(key), json={"messages": USER}),
                status,
                code=code,
            )
            again = await http.post(
                "/chat/completions", headers=_auth(key), json={"messages": USER}
            )
            assert again.status_code == 200
        assert len(episode.close().errors) == 1
    finally:
        await gateway.stop_http()


# --------------------------------------------------------------------------- streaming


async def _sse_events(response):
    events = []
    async for line in response.aiter_lines():
        if line.startswith("data: "):
            events.append(line[6:])
    return events


async def test_streaming_sends_text_deltas_then_done(gateway, client):
    key = _key(gateway)
    async with client.stream(
        "POST",
        "/chat/completions",
        headers=_auth(key),
        json={
            "messages": [{"role": "user", "content": "hi"}],
            "stream": True,
            "stream_options": {"include_usage": True},
        },
    ) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        events = await _sse_events(response)
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert len({c["id"] for c in chunks}) == 1
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert (
        text == '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'
    )
    assert sum(1 for c in chunks if c["choices"] and c["choices"][0]["delta"].get("content")) > 3
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] > 0


async def test_streamed_tool_calls_arrive_as_deltas(gateway):
    client = openai.AsyncOpenAI(base_url=gateway.base_url, api_key=_key(gateway), max_retries=0)
    stream = await client.chat.completions.create(
        model="m", messages=USER, tools=[WEATHER_TOOL], stream=True
    )
    deltas, finish = [], None
    async for chunk in stream:
        choice = chunk.choices[0]
        deltas.extend(choice.delta.tool_calls or [])
        finish = choice.finish_reason or finish
    assert finish == "tool_calls"
    assert deltas[0].id.startswith("call_") and deltas[0].function.name == "get_weather"
    assert json.loads("".join(d.function.arguments or "" for d in deltas)) == {"city": "Paris"}


async def test_first_chunk_leaves_before_generation_ends():
    engine = GatedEngine(tokenizer(), "Hello there.")
    gateway = make_gateway(engine=engine)
    await gateway.start_http()
    try:
        key = _key(gateway)
        async with httpx.AsyncClient(base_url=gateway.base_url) as http:
            async with http.stream(
                "POST",
                "/chat/completions",
                headers=_auth(key),
                json={"messages": USER, "stream": True},
            ) as response:
                lines = response.aiter_lines()
                # A hang guard only (the engine is gated, so the order is not timing-dependent);
                # generous for a loaded machine.
                first = await asyncio.wait_for(anext(lines), timeout=120)
                assert json.loads(first[6:])["choices"][0]["delta"]["role"] == "assistant"
                assert not engine.finished  # the engine has not produced a single token yet
                engine.release()
                rest = [line async for line in lines if line.startswith("data: ")]
        assert rest[-1] == "data: [DONE]" and engine.finished
    finally:
        await gateway.stop_http()


@pytest.mark.parametrize("streams", [True, False], ids=["streaming-engine", "generate-only"])
async def test_streaming_errors_arrive_in_band(streams):
    failing = FailingEngine(tokenizer(), "x", error=ZeroDivisionError("boom"))
    # generate-only: an engine class without generate_stream (verl's, trinity's), answered
    # through the gateway's non-streaming path; the error must reach the stream all the same.
    engine = failing if streams else GenerateOnlyEngine(failing)
    assert hasattr(type(engine), "generate_stream") is streams
    gateway = make_gateway(engine=engine)
    episode = gateway.open_episode("ep")
    key = gateway.issue_key(episode.session, "agent")
    stream = await gateway.chat_completion(key, {"messages": USER, "stream": True})
    events = [chunk async for chunk in stream]
    assert b"boom" in events[-2] and events[-1] == b"data: [DONE]\n\n"
    assert episode.close().errors[0]["status"] == 500


# ----------------------------------------------------------------------- openai clients


async def test_official_async_and_sync_clients(gateway):
    key = _key(gateway)
    async_client = openai.AsyncOpenAI(base_url=gateway.base_url, api_key=key, max_retries=0)
    reply = await async_client.chat.completions.create(
        model="policy", messages=USER, tools=[WEATHER_TOOL]
    )
    assert reply.choices[0].message.tool_calls[0].function.name == "get_weather"

    def sync_call():
        sync_client = openai.OpenAI(base_url=gateway.base_url, api_key=key, max_retries=0)
        return sync_client.chat.completions.create(
            model="policy", messages=[{"role": "user", "content": "hi"}]
        )

    reply = await asyncio.to_thread(sync_call)
    assert "get_weather" in reply.choices[0].message.content
    assert len(gateway._sessions["ep"].calls) == 2

    def bad_key():
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(
                base_url=gateway.base_url, api_key="wrong", max_retries=0
            ).chat.completions.create(model="m", messages=USER)

    await asyncio.to_thread(bad_key)


# ------------------------------------------------------------------------------ sampling


async def test_training_samples_with_the_rollout_config_not_the_request():
    config = AjetConfig.model_validate(
        {"rollout": {"temperature": 0.7, "top_p": 0.9, "top_k": 20, "max_tokens_per_call": 8}}
    )
    gateway = make_gateway(config=config, mode="train")
    episode = gateway.open_episode("ep", seed=11)
    key = gateway.issue_key(episode.session, "agent")
    await gateway.chat_completion(
        key, {"messages": USER, "temperature": 0.0, "top_p": 0.1, "max_tokens": 100}
    )
    sampling = gateway.engine.requests[-1][1]
    assert (sampling.temperature, sampling.top_p, sampling.top_k, sampling.max_tokens) == (
        0.7,
        0.9,
        20,
        8,
    )
    assert sampling.seed is not None  # derived from the episode seed
    assert episode.close().calls[0].temperature == 0.7


@pytest.mark.parametrize("mode", ["rollout", "eval"])
async def test_rollout_and_eval_modes_honour_the_request(mode):
    gateway = make_gateway(mode=mode)
    episode = gateway.open_episode("ep")
    key = gateway.issue_key(episode.session, "agent")
    await gateway.chat_completion(
        key, {"messages": USER, "temperature": 0.3, "top_p": 0.5, "max_tokens": 100, "seed": 5}
    )
    sampling = gateway.engine.requests[-1][1]
    assert (sampling.temperature, sampling.top_p, sampling.max_tokens, sampling.seed) == (
        0.3,
        0.5,
        100,
        5,
    )
    assert episode.close().calls[0].temperature == 0.3


async def test_episode_token_budget():
    config = AjetConfig.model_validate({"rollout": {"max_tokens_per_episode": 10}})
    gateway = make_gateway(
        config=config, reply=lambda p: "one two three four five six seven eight nine ten eleven"
    )
    episode = gateway.open_episode("ep")
    key = gateway.issue_key(episode.session, "agent")
    reply = await gateway.chat_completion(key, {"messages": USER})
    assert (
        reply["usage"]["completion_tokens"] == 10
        and reply["choices"][0]["finish_reason"] == "length"
    )
    with pytest.raises(Exception) as caught:
        await gateway.chat_completion(key, {"messages": USER})
    assert caught.value.code == "episode_token_budget_exhausted"


# -------------------------------------------------------------------- fixed endpoints


async def test_non_trainable_agents_can_use_a_fixed_external_endpoint(gateway):
    # The "external" model is a second gateway, reached over real HTTP.
    external = make_gateway(reply=lambda prompt: "I am the fixed model.", mode="rollout")
    await external.start_http()
    try:
        ext_episode = external.open_episode("ext")
        ext_key = external.issue_key(ext_episode.session, "x")
        config = AjetConfig.model_validate(
            {
                "rollout": {
                    "fixed_endpoints": {
                        "judge": {
                            "base_url": external.base_url,
                            "api_key": ext_key,
                            "model": "fixed-model",
                        }
                    }
                }
            }
        )
        policy = make_gateway(config=config)
        episode = policy.open_episode("ep", trainable_targets=["solver"])
        tuner = episode.tuner
        judge = tuner.as_raw_openai_sdk_client(agent_name="judge")
        solver = tuner.as_raw_openai_sdk_client(agent_name="solver")
        helper = tuner.as_raw_openai_sdk_client(
            agent_name="helper"
        )  # not trained, no endpoint: policy
        judged = await judge.chat.completions.create(
            messages=[{"role": "user", "content": "score it"}]
        )
        assert judged.choices[0].message.content == "I am the fixed model."
        await solver.chat.completions.create(messages=USER)
        await helper.chat.completions.create(messages=USER)
        stream = await judge.chat.completions.create(
            messages=[{"role": "user", "content": "again"}], stream=True
        )
        streamed = "".join([c.choices[0].delta.content or "" async for c in stream])
        assert streamed == "I am the fixed model."
        calls = {(c.agent, c.trainable, c.fixed_endpoint) for c in episode.close().calls}
        assert calls == {("judge", False, "judge"), ("solver", True, None), ("helper", False, None)}
        assert ext_episode.close().calls[0].messages == [{"role": "user", "content": "score it"}]
    finally:
        await external.stop_http()


async def test_stats_endpoint_reports_overhead_percentiles(gateway, client):
    key = _key(gateway)
    for _ in range(3):
        await client.post("/chat/completions", headers=_auth(key), json={"messages": USER})
    stats = (await client.get("/../ajet/stats")).json()
    assert stats["calls"] == 3 and stats["overhead_ms"]["count"] == 3
    assert 0 < stats["overhead_ms"]["p50"] < 1000


async def test_stop_strings_end_the_reply_and_never_leak_into_the_stream():
    gateway = make_gateway(reply=lambda prompt: "Thought: go left\nObservation: hole")
    episode = gateway.open_episode("ep")
    key = gateway.issue_key(episode.session, "agent")
    reply = await gateway.chat_completion(key, {"messages": USER, "stop": ["Observation:"]})
    assert reply["choices"][0]["message"]["content"] == "Thought: go left\n"
    assert reply["choices"][0]["finish_reason"] == "stop"
    stream = await gateway.chat_completion(
        key, {"messages": USER, "stop": ["Observation:"], "stream": True}
    )
    chunks = [
        json.loads(c[6:]) for c in [chunk async for chunk in stream] if c != b"data: [DONE]\n\n"
    ]
    streamed = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)
    assert streamed == "Thought: go left\n"
    recording = episode.close()
    # The stop string's tokens were sampled, so they stay in the record (mask 1), then the
    # template's end-of-turn closes the turn at mask 0.
    call = recording.calls[0]
    assert "Observation:" in tokenizer().decode(call.response_ids)
    assert call.response_mask[-1] == 0 and call.response_mask[0] == 1


async def test_many_concurrent_episodes_stay_isolated_with_zero_drift(gateway):
    async def episode(index):
        handle = gateway.open_episode(f"conc-{index}")
        client = handle.tuner.as_raw_openai_sdk_client(agent_name=f"agent{index % 3}")
        messages = [{"role": "user", "content": f"Weather in city {index}?"}]
        for _ in range(2):
            reply = await client.chat.completions.create(messages=messages, tools=[WEATHER_TOOL])
            message = reply.choices[0].message
            messages.append(message.model_dump(exclude_none=True))
            for call in message.tool_calls or []:
                messages.append(
                    {"role": "tool", "tool_call_id": call.id, "content": f"sunny {index}"}
                )
        return handle.close()

    recordings = await asyncio.gather(*(episode(i) for i in range(24)))
    for index, recording in enumerate(recordings):
        assert recording.drift_fallbacks == 0 and len(recording.calls) == 2
        first, second = recording.calls
        assert second.parent_call_id == first.call_id
        assert f"city {index}?" in tokenizer().decode(first.prompt_ids)
        assert f"sunny {index}" in tokenizer().decode(second.prompt_ids)
    assert gateway.stats.calls == 48 and gateway.stats_json()["open_episodes"] == 0
