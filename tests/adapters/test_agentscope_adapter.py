"""``tuner.as_agentscope_model()`` with AgentScope 2.x against the real gateway and tiny model.

An ``agentscope.agent.Agent`` with a tool runs a tool conversation: the model's Hermes tool call is
parsed, AgentScope runs the tool and sends its own re-serialised history back, and the gateway
still recognises its replies (zero drift fallbacks). Masks decode to exactly the sampled replies.
Then a multi-agent episode where only the trainable agent's calls become samples.
"""

from __future__ import annotations

from importlib import metadata
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

pytest.importorskip("ajet_plugins_agentscope")
pytest.importorskip("agentscope")
if int(metadata.version("agentscope").split(".")[0]) != 2:  # pragma: no cover - other envs
    pytest.skip("these tests use the AgentScope 2.x agent API", allow_module_level=True)

from agentscope.agent import Agent, InjectionConfig
from agentscope.message import Msg, TextBlock
from agentscope.model import OpenAIChatModel
from agentscope.tool import FunctionTool, Toolkit

WEATHER_CALLS: list[str] = []


def get_weather(city: str) -> str:
    """Get the current weather in a city.

    Args:
        city: City name
    """
    WEATHER_CALLS.append(city)
    return "sunny"


def weather_agent(model, name: str = "solver") -> Agent:
    return Agent(
        name=name,
        system_prompt=SYSTEM_PROMPT,
        model=model,
        # Read-only tools run without asking a user (there is none in an episode).
        toolkit=Toolkit(tools=[FunctionTool(get_weather, is_read_only=True)]),
        # The runtime-state reminder (current time) would make every prompt differ between runs;
        # the tiny model also answers it instead of calling the tool.
        injection_config=InjectionConfig(inject_runtime_state=False),
    )


def user(text: str) -> Msg:
    return Msg(name="user", content=[TextBlock(text=text)], role="user")


@pytest.mark.parametrize("stream", [True, False], ids=["streaming", "not-streaming"])
async def test_agent_tool_conversation_without_drift(engine, stream):
    config = make_config()
    gateway = make_gateway(engine, config)
    handle = gateway.open_episode("ep", seed=0)
    model = handle.tuner.as_agentscope_model(agent_name="solver", stream=stream)
    assert isinstance(model, OpenAIChatModel) and model.stream is stream
    WEATHER_CALLS.clear()
    final = await weather_agent(model).reply(user(WEATHER_QUESTION))
    recording = handle.close()

    assert WEATHER_CALLS, "the agent never ran the tool"
    calls = recording.calls
    assert len(calls) >= 2 and recording.drift_fallbacks == 0
    assert calls[0].finish_reason == "tool_calls"
    assert "<tool_call>" in engine.tokenizer.decode(sampled_ids(calls[0]))
    for parent, child in pairwise(calls):
        assert child.parent_call_id == parent.call_id
    # The agent's final text is the last reply the model sampled.
    last_reply = engine.tokenizer.decode(sampled_ids(calls[-1]), skip_special_tokens=True)
    assert final.get_text_content().strip() == last_reply.strip()

    samples = samples_of(recording, config)
    assert len(samples) == 1
    assert samples[0].agent == "solver"
    assert_samples_train_exactly_the_sampled_tokens(samples, calls, engine.tokenizer)


async def test_only_the_trainable_agent_yields_samples(engine):
    config = make_config()
    gateway = make_gateway(engine, config)
    handle = gateway.open_episode("ep", seed=0, trainable_targets=["a"])
    tuner = handle.tuner
    agent_a = weather_agent(tuner.as_agentscope_model(agent_name="alice", target_tag="a"), "alice")
    agent_b = weather_agent(tuner.as_agentscope_model(agent_name="bob", target_tag="b"), "bob")
    await agent_a.reply(user(WEATHER_QUESTION))
    await agent_b.reply(user("What is the weather in Rome?"))
    await agent_a.reply(user("And in Oslo?"))
    recording = handle.close()

    calls = recording.calls
    assert recording.drift_fallbacks == 0
    by_agent = {name: [c for c in calls if c.agent == name] for name in ("alice", "bob")}
    assert by_agent["alice"] and by_agent["bob"], "both agents' calls are recorded"
    assert all(c.trainable and c.target_tag == "a" for c in by_agent["alice"])
    assert not any(c.trainable for c in by_agent["bob"]) and by_agent["bob"][0].target_tag == "b"

    samples = samples_of(recording, config)
    assert samples and {(s.agent, s.target_tag) for s in samples} == {("alice", "a")}
    trained_calls = {c for s in samples for c in s.call_ids}
    assert trained_calls == {c.call_id for c in by_agent["alice"]}
    assert_samples_train_exactly_the_sampled_tokens(samples, calls, engine.tokenizer)


def test_reserved_options_are_refused():
    from ajet_plugins_agentscope.model import make_agentscope_model

    from ajet_core.tuner import ModelEndpoint

    endpoint = ModelEndpoint(base_url="http://x/v1", api_key="k", model="m")
    with pytest.raises(TypeError, match="base_url"):
        make_agentscope_model(endpoint, client_kwargs={"base_url": "http://elsewhere/v1"})
    with pytest.raises(TypeError, match="credential"):
        make_agentscope_model(endpoint, credential=None)
    model = make_agentscope_model(endpoint, stream=False)
    assert model.model == "m" and str(model.client.base_url) == "http://x/v1/"
    assert model.client.max_retries == 0 and model.max_retries == 0


@pytest.mark.parametrize("stream", [True, False], ids=["streaming", "not-streaming"])
async def test_structured_output_arrives_through_the_gateway(engine, stream):
    """``reply(..., structured_schema=...)``: AgentScope offers its GenerateStructuredOutput tool,
    the model's Hermes call to it is parsed by the gateway, and AgentScope validates it into
    ``structured_output``. The model's side is scripted (with the tiny model's tokenizer): the
    tiny model was never taught this tool, and what is tested is the plumbing around the reply."""
    from pydantic import BaseModel

    from ajet_core.gateway.scripted_engine import ScriptedEngine

    class Forecast(BaseModel):
        city: str
        celsius: int

    prompts: list[str] = []

    def model_reply(prompt: str) -> str:
        prompts.append(prompt)
        call = '{"name": "GenerateStructuredOutput", "arguments": {"city": "Paris", "celsius": 21}}'
        return f"<tool_call>\n{call}\n</tool_call>"

    scripted = ScriptedEngine(engine.tokenizer, model_reply, max_model_len=engine.max_model_len)
    config = make_config()
    handle = make_gateway(scripted, config).open_episode("ep", seed=0)
    agent = Agent(
        name="forecaster",
        system_prompt=SYSTEM_PROMPT,
        model=handle.tuner.as_agentscope_model(agent_name="forecaster", stream=stream),
        injection_config=InjectionConfig(inject_runtime_state=False),
    )
    final = await agent.reply(user("Forecast for Paris?"), structured_schema=Forecast)
    recording = handle.close()

    assert final.structured_output == {"city": "Paris", "celsius": 21}
    # The schema reached the model as a tool in the prompt, and the reply was a parsed tool call.
    assert "GenerateStructuredOutput" in prompts[0] and '"celsius"' in prompts[0]
    assert recording.calls[0].finish_reason == "tool_calls"
    assert (
        recording.calls[0].reply["tool_calls"][0]["function"]["name"] == "GenerateStructuredOutput"
    )
    assert recording.drift_fallbacks == 0 and recording.malformed_tool_calls == 0
    assert_samples_train_exactly_the_sampled_tokens(
        samples_of(recording, config), recording.calls, engine.tokenizer
    )
