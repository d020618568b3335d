"""``tuner.as_langchain_chat_model()`` against the real gateway serving the tiny model.

LangChain's ``create_agent`` drives a multi-turn tool conversation; LangChain re-serialises the
tool-call arguments it sends back, and the gateway must still recognise its own replies (zero
drift fallbacks). The merged samples' loss masks must decode to exactly the sampled replies.
"""

from __future__ import annotations

import asyncio
from itertools import pairwise

import pytest

from ajet_core.testing.samples import assert_samples_train_exactly_the_sampled_tokens, sampled_ids

from .helpers import (
    SYSTEM_PROMPT,
    WEATHER_QUESTION,
    make_config,
    make_gateway,
    samples_of,
)

pytest.importorskip("ajet_plugins_langchain")
pytest.importorskip("langchain_core")
# E402 cannot hold here: these imports must come after the skips above, so that an environment
# without LangChain skips this module instead of failing to collect it.
from langchain.agents import create_agent  # noqa: E402
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage  # noqa: E402
from langchain_core.tools import tool  # noqa: E402

WEATHER_CALLS: list[dict] = []


@tool
def get_weather(city: str) -> str:
    """Get the current weather in a city."""
    WEATHER_CALLS.append({"city": city})
    return "sunny"


@pytest.mark.parametrize("streaming", [False, True], ids=["not-streaming", "streaming"])
async def test_create_agent_runs_a_tool_conversation_without_drift(engine, streaming):
    config = make_config()
    gateway = make_gateway(engine, config)
    handle = gateway.open_episode("ep", seed=0)
    model = handle.tuner.as_langchain_chat_model(agent_name="solver", streaming=streaming)
    agent = create_agent(model, tools=[get_weather], system_prompt=SYSTEM_PROMPT)
    WEATHER_CALLS.clear()
    state = await agent.ainvoke(
        {"messages": [HumanMessage(WEATHER_QUESTION)]}, {"recursion_limit": 8}
    )
    recording = handle.close()

    messages = state["messages"]
    tool_results = [m for m in messages if isinstance(m, ToolMessage)]
    assert tool_results and WEATHER_CALLS, [m.content for m in messages]
    first_ai = next(m for m in messages if isinstance(m, AIMessage))
    assert first_ai.tool_calls[0]["name"] == "get_weather"
    # The gateway's own ids survive LangChain's round trip.
    assert tool_results[0].tool_call_id == first_ai.tool_calls[0]["id"]

    calls = recording.calls
    assert len(calls) >= 2 and recording.drift_fallbacks == 0
    assert calls[0].finish_reason == "tool_calls"
    assert all(c.agent == "solver" and c.trainable for c in calls)
    for parent, child in pairwise(calls):
        assert child.parent_call_id == parent.call_id
    assert "<tool_call>" in engine.tokenizer.decode(sampled_ids(calls[0]))

    samples = samples_of(recording, config)
    assert len(samples) == 1  # one timeline: every turn extends the previous one
    assert_samples_train_exactly_the_sampled_tokens(samples, calls, engine.tokenizer)


async def test_invoke_stream_and_bind_tools_in_process(engine):
    # Room for the tool call with an argument the tiny model invents (it need not copy "Paris":
    # the format is what it learned, the content often not); the four text calls stop earlier.
    config = make_config(max_tokens_per_call=40)
    gateway = make_gateway(engine, config)
    handle = gateway.open_episode("ep", seed=0)
    model = handle.tuner.as_langchain_chat_model(agent_name="solver")
    prompt = [SystemMessage(SYSTEM_PROMPT), HumanMessage("Say hello.")]

    asynced = await model.ainvoke(prompt)
    # Sync calls run in a worker thread and reach the in-process gateway through its loop.
    synced = await asyncio.to_thread(model.invoke, prompt)
    chunks = await asyncio.to_thread(lambda: list(model.stream(prompt)))
    achunks = [chunk async for chunk in model.astream(prompt)]
    tooled = await model.bind_tools([get_weather]).ainvoke(
        [SystemMessage(SYSTEM_PROMPT), HumanMessage(WEATHER_QUESTION)]
    )
    recording = handle.close()

    assert isinstance(asynced.content, str) and asynced.content
    # Temperature 0: the same prompt gives the same reply on every path.
    assert synced.content == asynced.content
    assert len(chunks) > 1 and "".join(c.content for c in chunks) == asynced.content
    assert "".join(c.content for c in achunks) == asynced.content
    assert tooled.tool_calls and tooled.tool_calls[0]["name"] == "get_weather"

    calls = recording.calls
    assert len(calls) == 5 and recording.drift_fallbacks == 0
    assert [c.finish_reason for c in calls][-1] == "tool_calls"
    texts = {engine.tokenizer.decode(sampled_ids(c)) for c in calls[:4]}
    assert len(texts) == 1 and asynced.content in texts.pop()
    assert_samples_train_exactly_the_sampled_tokens(
        samples_of(recording, config), calls, engine.tokenizer
    )


async def test_sync_invoke_on_the_gateway_loop_fails_with_advice(engine):
    gateway = make_gateway(engine)
    handle = gateway.open_episode("ep")
    model = handle.tuner.as_langchain_chat_model()
    with pytest.raises(RuntimeError, match="ainvoke"):
        model.invoke("hello")
    assert handle.close().calls == []


async def test_over_http_the_model_uses_the_real_socket(engine):
    config = make_config(max_tokens_per_call=24)
    gateway = make_gateway(engine, config)
    base_url = await gateway.start_http()
    try:
        handle = gateway.open_episode("ep", seed=0)
        model = handle.tuner.as_langchain_chat_model(agent_name="solver")
        assert model.openai_api_base == base_url
        synced = await asyncio.to_thread(model.invoke, "Say hello.")
        streamed = [c async for c in model.astream("Say hello.")]
        recording = handle.close()
    finally:
        await gateway.stop_http()
    assert synced.content == "".join(c.content for c in streamed)
    assert len(recording.calls) == 2 and recording.drift_fallbacks == 0


def test_reserved_options_are_refused(engine):
    from ajet_plugins_langchain.model import make_langchain_chat_model

    from ajet_core.tuner import ModelEndpoint

    endpoint = ModelEndpoint(base_url="http://x/v1", api_key="k", model="m")
    with pytest.raises(TypeError, match="base_url"):
        make_langchain_chat_model(endpoint, base_url="http://elsewhere/v1")
    model = make_langchain_chat_model(endpoint, temperature=0.5)
    assert model.temperature == 0.5 and model.model_name == "m"


async def test_only_the_trainable_agent_yields_samples(engine):
    config = make_config(max_tokens_per_call=24)
    gateway = make_gateway(engine, config)
    handle = gateway.open_episode("ep", seed=0, trainable_targets=["a"])
    alice = handle.tuner.as_langchain_chat_model(agent_name="alice", target_tag="a")
    bob = handle.tuner.as_langchain_chat_model(agent_name="bob", target_tag="b")
    said = await alice.ainvoke([SystemMessage(SYSTEM_PROMPT), HumanMessage("Say hello.")])
    await bob.ainvoke([HumanMessage(f"Alice said: {said.content} What do you say?")])
    recording = handle.close()

    calls = recording.calls
    assert [(c.agent, c.target_tag, c.trainable) for c in calls] == [
        ("alice", "a", True),
        ("bob", "b", False),
    ]
    samples = samples_of(recording, config)
    assert [(s.agent, s.target_tag, s.call_ids) for s in samples] == [
        ("alice", "a", [calls[0].call_id])
    ]
    assert_samples_train_exactly_the_sampled_tokens(samples, calls, engine.tokenizer)
