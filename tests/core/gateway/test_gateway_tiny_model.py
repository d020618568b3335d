"""End to end on the real tiny local model (``ajet model init-tiny``) and the debug backbone's
TransformersEngine: OpenAI SDK (async and sync) and raw httpx over real HTTP, streaming and not,
a multi-turn tool conversation whose tool call is parsed, zero drift fallbacks, loss masks
checked by decoding, and the merging invariant under the model's own forward pass."""

from __future__ import annotations

import asyncio
import json

import httpx
import openai
import pytest

from ajet_core.config.models import AjetConfig
from ajet_core.gateway import Gateway
from ajet_core.schema import EpisodeRecord, Task
from ajet_core.testing.samples import assert_samples_train_exactly_the_sampled_tokens, sampled_ids
from ajet_core.tracking.per_call import PerCallTracker
from ajet_core.tracking.timeline_merge import TimelineMergeTracker
from ajet_core.workflow import Workflow, WorkflowOutput, WorkflowTask

from .gateway_fixtures import GenerateOnlyEngine

torch = pytest.importorskip("torch")

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string", "description": "City name"}},
            "required": ["city"],
        },
    },
}


def make_gateway(engine, temperature=0.0, mode="train"):
    config = AjetConfig.model_validate(
        {"rollout": {"temperature": temperature, "max_tokens_per_call": 64}}
    )
    return Gateway(engine, config, mode=mode)


class WeatherAgent(Workflow):
    """Asks for the weather with a tool, runs the tool, and lets the model answer."""

    async def execute(self, task: WorkflowTask, tuner) -> WorkflowOutput:
        client = tuner.as_raw_openai_sdk_client(agent_name="solver")
        messages = [
            {"role": "system", "content": "You are a helpful agent. Use the tools when they help."},
            {"role": "user", "content": task.task.main_query},
        ]
        tool_calls_seen = []
        for _ in range(3):
            reply = await client.chat.completions.create(messages=messages, tools=[WEATHER_TOOL])
            message = reply.choices[0].message
            messages.append(message.model_dump(exclude_none=True))
            if not message.tool_calls:
                break
            for call in message.tool_calls:
                tool_calls_seen.append((call.function.name, json.loads(call.function.arguments)))
                messages.append({"role": "tool", "tool_call_id": call.id, "content": "sunny"})
        return WorkflowOutput(
            reward=1.0, metadata={"tool_calls": tool_calls_seen, "final": messages[-1]}
        )


async def run_episode(gateway, workflow, query, episode_id, seed=None):
    handle = gateway.open_episode(episode_id, seed=seed)
    output = await workflow.execute(WorkflowTask(task=Task(main_query=query)), handle.tuner)
    recording = handle.close()
    record = EpisodeRecord(
        episode_id=episode_id,
        task=Task(main_query=query),
        calls=recording.calls,
        drift_fallbacks=recording.drift_fallbacks,
    )
    return output, recording, record


async def test_openai_sdk_tool_workflow_over_http(engine):
    gateway = make_gateway(engine)
    await gateway.start_http()
    try:
        output, recording, record = await run_episode(
            gateway, WeatherAgent(), "What is the weather in Paris?", "ep1"
        )
    finally:
        await gateway.stop_http()
    # A ~1M-parameter model gets the format right, not always the tool or the argument: the
    # point here is that its Hermes text is parsed into an OpenAI tool call.
    name, arguments = output.metadata["tool_calls"][0]
    assert name and isinstance(arguments, dict)
    assert recording.drift_fallbacks == 0 and recording.malformed_tool_calls == 0
    first, *later = recording.calls
    assert first.finish_reason == "tool_calls" and later
    for parent, child in zip(recording.calls, later):
        assert child.parent_call_id == parent.call_id
    tokenizer = engine.tokenizer
    assert "<tool_call>" in tokenizer.decode(sampled_ids(first))
    second = recording.calls[-1]
    [sample] = TimelineMergeTracker().build_samples(record)
    assert_samples_train_exactly_the_sampled_tokens([sample], recording.calls, tokenizer)
    assert sample.input_ids == second.full_ids


async def test_raw_http_streaming_and_non_streaming(engine):
    gateway = make_gateway(engine)
    handle = gateway.open_episode("raw")
    endpoint = handle.tuner.as_oai_baseurl_apikey(agent_name="raw")  # starts the HTTP server
    headers = {"Authorization": f"Bearer {endpoint.api_key}"}
    try:
        async with httpx.AsyncClient(
            base_url=endpoint.base_url, headers=headers, timeout=60
        ) as http:
            messages = [{"role": "user", "content": "What is the weather in Oslo?"}]
            body = {"model": endpoint.model, "messages": messages, "tools": [WEATHER_TOOL]}
            first = (await http.post("/chat/completions", json=body)).json()
            message = first["choices"][0]["message"]
            assert message["tool_calls"][0]["function"][
                "name"
            ]  # parsed from the model's Hermes text
            assert isinstance(json.loads(message["tool_calls"][0]["function"]["arguments"]), dict)
            messages += [
                message,
                {
                    "role": "tool",
                    "tool_call_id": message["tool_calls"][0]["id"],
                    "content": "rainy",
                },
            ]
            text, finish = "", None
            async with http.stream(
                "POST", "/chat/completions", json={**body, "messages": messages, "stream": True}
            ) as r:
                async for line in r.aiter_lines():
                    if line.startswith("data: ") and line != "data: [DONE]":
                        choice = json.loads(line[6:])["choices"][0]
                        text += choice["delta"].get("content") or ""
                        finish = choice["finish_reason"] or finish
            assert text and finish in ("stop", "length")
    finally:
        await gateway.stop_http()
    recording = handle.close()
    assert recording.drift_fallbacks == 0
    assert recording.calls[1].parent_call_id == recording.calls[0].call_id
    assert recording.calls[1].reply["content"] == text


async def stream_reply(gateway, messages, tools=None) -> tuple[dict, list[str]]:
    """One stream=True request over HTTP: the reply put back together, and each chunk's kind."""
    handle = gateway.open_episode(f"stream-{len(messages)}")
    endpoint = handle.tuner.as_oai_baseurl_apikey(agent_name="solver")
    client = openai.AsyncOpenAI(base_url=endpoint.base_url, api_key=endpoint.api_key, max_retries=0)
    extra = {"tools": tools} if tools else {}
    stream = await client.chat.completions.create(
        model=endpoint.model, messages=messages, stream=True, **extra
    )
    content, calls, finish, kinds = "", {}, None, []
    async for chunk in stream:
        delta = chunk.choices[0].delta
        kinds.append("role" if delta.role else "content" if delta.content else "tools")
        content += delta.content or ""
        for call in delta.tool_calls or []:
            entry = calls.setdefault(call.index, {"name": "", "arguments": ""})
            entry["name"] += call.function.name or ""
            entry["arguments"] += call.function.arguments or ""
        finish = chunk.choices[0].finish_reason or finish
    recording = handle.close()
    assert recording.drift_fallbacks == 0 and len(recording.calls) == 1
    return {"content": content, "tool_calls": list(calls.values()), "finish": finish}, kinds


async def test_an_engine_that_cannot_stream_answers_stream_requests_in_full(engine):
    # verl's and trinity's engines have no generate_stream: the gateway must answer a stream
    # request from one generate() call, with the same reply a streaming engine gives (greedy).
    plain = GenerateOnlyEngine(engine)
    assert not hasattr(type(plain), "generate_stream")
    weather = [{"role": "user", "content": "What is the weather in Oslo?"}]
    math = [{"role": "user", "content": "What is 41 + 26?"}]
    replies = {}
    for name, which in (("plain", plain), ("streaming", engine)):
        gateway = make_gateway(which)
        try:
            replies[name] = [
                await stream_reply(gateway, weather, [WEATHER_TOOL]),
                await stream_reply(gateway, math),
            ]
        finally:
            await gateway.stop_http()
    assert plain.generate_calls == 2
    (tool_reply, tool_kinds), (text_reply, text_kinds) = replies["plain"]
    assert tool_reply["finish"] == "tool_calls" and tool_reply["tool_calls"][0]["name"]
    assert isinstance(json.loads(tool_reply["tool_calls"][0]["arguments"]), dict)
    assert "\\boxed{" in text_reply["content"] and text_reply["finish"] == "stop"
    # The role first, then the whole text in one piece: nothing streamed token by token.
    assert text_kinds[0] == "role" and text_kinds.count("content") == 1, text_kinds
    assert tool_kinds[0] == "role" and "tools" in tool_kinds, tool_kinds
    assert [reply for reply, _ in replies["plain"]] == [r for r, _ in replies["streaming"]]


async def test_sync_openai_client_streaming_and_not(engine):
    gateway = make_gateway(engine, mode="rollout")
    await gateway.start_http()
    handle = gateway.open_episode("sync")
    endpoint = handle.tuner.as_oai_baseurl_apikey()

    def conversation():
        client = openai.OpenAI(base_url=endpoint.base_url, api_key=endpoint.api_key, max_retries=0)
        messages = [{"role": "user", "content": "Hello!"}]
        reply = client.chat.completions.create(
            model=endpoint.model, messages=messages, temperature=0
        )
        messages += [
            reply.choices[0].message.model_dump(exclude_none=True),
            {"role": "user", "content": "Thank you."},
        ]
        stream = client.chat.completions.create(
            model=endpoint.model, messages=messages, temperature=0, stream=True
        )
        return reply.choices[0].message.content, "".join(
            c.choices[0].delta.content or "" for c in stream if c.choices
        )

    try:
        first, second = await asyncio.to_thread(conversation)
    finally:
        await gateway.stop_http()
    assert first and second
    recording = handle.close()
    assert recording.drift_fallbacks == 0 and [c.temperature for c in recording.calls] == [0.0, 0.0]


class TwoAgentsWithRetry(Workflow):
    """Multi-turn chat for two agents, plus a retry from the middle (a fork)."""

    async def execute(self, task, tuner) -> WorkflowOutput:
        solver = tuner.as_raw_openai_sdk_client(agent_name="solver")
        critic = tuner.as_raw_openai_sdk_client(agent_name="critic")
        messages = [{"role": "user", "content": task.task.main_query}]
        for follow_up in ("Calculate 12 + 30.", "Thank you."):
            reply = await solver.chat.completions.create(messages=messages, tools=[WEATHER_TOOL])
            messages += [
                reply.choices[0].message.model_dump(exclude_none=True),
                {"role": "user", "content": follow_up},
            ]
        forked = messages[:-1] + [{"role": "user", "content": "Tell me a joke."}]
        await asyncio.gather(
            solver.chat.completions.create(messages=messages, tools=[WEATHER_TOOL]),
            solver.chat.completions.create(messages=forked, tools=[WEATHER_TOOL]),  # parallel calls
        )
        await critic.chat.completions.create(
            messages=[
                {"role": "system", "content": "You grade answers."},
                {"role": "user", "content": "Grade this answer.\nQuestion: 2 + 2\nAnswer: 4"},
            ]
        )
        return WorkflowOutput(reward=0.0)


def model_logprobs(model, samples, calls, temperature):
    """(call id, response offset) -> logprob of every trained token, from a forward pass."""
    by_id = {c.call_id: c for c in calls}
    found = {}
    for sample in samples:
        ids = torch.tensor([sample.input_ids])
        with torch.no_grad():
            logits = model(input_ids=ids).logits[0].float()
        logprobs = torch.log_softmax(logits / temperature, dim=-1)
        for call_id in sample.call_ids:
            call = by_id[call_id]
            start = len(call.prompt_ids)
            for offset, mask in enumerate(call.response_mask):
                position = start + offset
                if mask and sample.loss_mask[position]:
                    found[(call_id, offset)] = float(
                        logprobs[position - 1, sample.input_ids[position]]
                    )
    return found


async def test_merging_invariant_under_the_model(engine):
    temperature = 0.8
    gateway = make_gateway(engine, temperature=temperature)
    records = []
    for index, (workflow, query) in enumerate(
        [
            (WeatherAgent(), "Check the weather for Tokyo."),
            (WeatherAgent(), "Is it raining in Lima?"),
            (TwoAgentsWithRetry(), "Hello!"),
        ]
    ):
        _, recording, record = await run_episode(
            gateway, workflow, query, f"inv{index}", seed=100 + index
        )
        assert recording.drift_fallbacks == 0
        records.append(record)
    calls = [c for r in records for c in r.calls]
    per_call = [s for r in records for s in PerCallTracker().build_samples(r)]
    merged = [s for r in records for s in TimelineMergeTracker().build_samples(r)]
    assert len(merged) < len(per_call) and sum(map(len, merged)) < sum(map(len, per_call))
    assert_samples_train_exactly_the_sampled_tokens(per_call, calls, engine.tokenizer)
    assert_samples_train_exactly_the_sampled_tokens(merged, calls, engine.tokenizer)
    with engine.paused() as model:
        from_per_call = model_logprobs(model, per_call, calls, temperature)
        from_merged = model_logprobs(model, merged, calls, temperature)
    assert from_per_call.keys() == from_merged.keys()
    assert len(from_per_call) == sum(s.num_trained_tokens for s in per_call)
    worst = max(abs(from_per_call[k] - from_merged[k]) for k in from_per_call)
    assert worst < 1e-5, worst
    # And the engine recorded the same quantity while sampling (KV-cache numerics aside).
    recorded = {
        (c.call_id, i): lp
        for c in calls
        for i, (lp, m) in enumerate(zip(c.response_logprobs, c.response_mask))
        if m
    }
    assert max(abs(recorded[k] - from_merged[k]) for k in recorded) < 1e-3


SMALL_TALK = [
    {"role": "system", "content": "You are a helpful agent. Use the tools when they help."},
    {"role": "user", "content": "Hello! How are you?"},
]


@pytest.mark.parametrize("stream", [False, True], ids=["not-streaming", "streaming"])
async def test_tool_choice_forces_the_call_and_the_forced_tokens_are_not_trained(engine, stream):
    """``tool_choice`` naming a tool (or ``required``) is honoured: the gateway writes the call's
    opening into the reply and the model continues from there. Those tokens are in the response
    at loss mask 0 (the policy did not choose them); the model's continuation is trained."""
    gateway = make_gateway(engine)
    parser = gateway.tool_parser
    for choice, forced_text in (
        (
            {"type": "function", "function": {"name": "get_weather"}},
            parser.forced_call_prefix("get_weather"),
        ),
        ("required", parser.forced_call_prefix(None)),
    ):
        handle = gateway.open_episode(seed=0)
        client = handle.tuner.as_raw_openai_sdk_client()
        if stream:
            chunks = [
                c
                async for c in await client.chat.completions.create(
                    messages=SMALL_TALK, tools=[WEATHER_TOOL], tool_choice=choice, stream=True
                )
            ]
            names = [
                t.function.name
                for c in chunks
                if c.choices
                for t in (c.choices[0].delta.tool_calls or [])
                if t.function and t.function.name
            ]
            finish = next(
                c.choices[0].finish_reason
                for c in chunks
                if c.choices and c.choices[0].finish_reason
            )
        else:
            reply = await client.chat.completions.create(
                messages=SMALL_TALK, tools=[WEATHER_TOOL], tool_choice=choice
            )
            names = [t.function.name for t in reply.choices[0].message.tool_calls or []]
            finish = reply.choices[0].finish_reason
        recording = handle.close()
        assert (names, finish) == (["get_weather"], "tool_calls"), choice
        [call] = recording.calls
        forced = len(engine.tokenizer.encode(forced_text, add_special_tokens=False))
        assert engine.tokenizer.decode(call.response_ids[:forced]) == forced_text
        assert call.response_mask[:forced] == [0] * forced and call.response_mask[forced] == 1
        assert call.response_logprobs[:forced] == [0.0] * forced
        [sample] = TimelineMergeTracker().build_samples(
            EpisodeRecord(episode_id="e", task=Task(), calls=recording.calls)
        )
        start = len(call.prompt_ids)
        assert sample.loss_mask[start : start + forced] == [0] * forced

    # The choice, not the model, picks the tool: asked for the weather, the model calls
    # get_weather; told to call search, the reply is a search call, opened by the gateway.
    search = {
        "type": "function",
        "function": {
            **WEATHER_TOOL["function"],
            "name": "search",
            "description": "Search the web.",
        },
    }
    question = [SMALL_TALK[0], {"role": "user", "content": "What is the weather in Paris?"}]
    for choice, opening in (
        ("auto", None),
        ({"type": "function", "function": {"name": "search"}}, parser.forced_call_prefix("search")),
    ):
        handle = gateway.open_episode(seed=0)
        reply = await handle.tuner.as_raw_openai_sdk_client().chat.completions.create(
            messages=question, tools=[WEATHER_TOOL, search], tool_choice=choice
        )
        [call] = handle.close().calls
        if opening is None:
            assert [t.function.name for t in reply.choices[0].message.tool_calls] == ["get_weather"]
        else:
            text = engine.tokenizer.decode(call.response_ids)
            assert text.startswith(opening) and 0 in call.response_mask and 1 in call.response_mask
