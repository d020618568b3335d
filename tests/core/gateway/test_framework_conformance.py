"""Agent frameworks as a new user wires them, on the tiny model through the gateway: a tool-using
episode per framework, with the calls captured, no drift fallback, the conversation merged into
one sample that trains exactly the sampled tokens, structured output that holds, and one
policy update on the samples.

Seeds are fixed per episode, so each run samples the same replies (the assertions are about the
plumbing, not about what a ~1M-parameter model chooses to say). Frameworks that are not
installed are skipped: the main environment installs openai-agents, pydantic-ai, LangGraph,
LiteLLM, smolagents and DSPy; AutoGen and LlamaIndex, whose pins conflict with it, are tested in
the frameworks environment (tests/frameworks/).
"""

from __future__ import annotations

import asyncio
import json
from typing import Literal

import pytest
from pydantic import BaseModel, ConfigDict, Field

from . import framework_episode
from .framework_episode import (
    QUESTION,
    TOOL_RESULTS,
    check_episode,
    client_for,
    exact_samples,
    get_weather,
    train_one_step,
)

pytest.importorskip("torch")
# A gateway serving the tiny model's engine (the conftest's) over HTTP: a fixture.
gateway = framework_episode.gateway


@pytest.fixture(autouse=True, scope="module")
def forget_the_sdk_package_afterwards():
    """The openai-agents SDK's import package is named 'agents', as many projects' own folders
    are: leave sys.modules as it was, so later tests in this process can import a project's
    'agents/' package (AgentJet's layout) instead of finding the SDK's."""
    import atexit
    import sys

    before = set(sys.modules)
    yield
    # The SDK's exit hook imports its tracing modules lazily; with them forgotten it would
    # print an ignored ModuleNotFoundError at exit (tracing is disabled here anyway).
    setup = sys.modules.get("agents.tracing.setup")
    shutdown = getattr(setup, "_shutdown_global_trace_provider", None)
    if shutdown is not None:
        atexit.unregister(shutdown)
    for name in set(sys.modules) - before:
        if name == "agents" or name.startswith("agents."):
            del sys.modules[name]


class Forecast(BaseModel):
    city: str = Field(max_length=12)
    sunny: bool


# ---------------------------------------------------------------------- openai-agents


@pytest.mark.parametrize("api", ["responses", "chat"])
async def test_openai_agents_sdk_tool_episode_with_structured_output(gateway, engine, api):
    agents = pytest.importorskip("agents")
    agents.set_tracing_disabled(True)
    handle = gateway.open_episode("ep", seed=27)
    client = client_for(handle)
    model_class = (
        agents.OpenAIResponsesModel if api == "responses" else agents.OpenAIChatCompletionsModel
    )
    agent = agents.Agent(
        name="weather",
        instructions="Answer with the weather. Use the tool.",
        tools=[agents.function_tool(get_weather)],
        # required: the tiny model must call the tool on the first turn (the SDK resets the
        # choice to auto after a tool call, so the next turn may answer).
        model_settings=agents.ModelSettings(tool_choice="required"),
        model=model_class(model="ajet-policy", openai_client=client),
        output_type=Forecast,
    )
    result = await agents.Runner.run(agent, QUESTION, max_turns=6)
    assert isinstance(result.final_output, Forecast)  # schema-valid JSON, parsed by the SDK
    assert TOOL_RESULTS  # the tool really ran
    check_episode(handle.close(), engine)


# ------------------------------------------------------------------------- pydantic-ai


@pytest.mark.parametrize("api", ["responses", "chat"])
async def test_pydantic_ai_native_output_after_a_tool_call(gateway, engine, api):
    pytest.importorskip("pydantic_ai")
    from pydantic_ai import Agent, NativeOutput
    from pydantic_ai.models.openai import OpenAIChatModel, OpenAIResponsesModel
    from pydantic_ai.providers.openai import OpenAIProvider

    handle = gateway.open_episode("ep", seed=31)
    provider = OpenAIProvider(openai_client=client_for(handle))
    model_class = OpenAIResponsesModel if api == "responses" else OpenAIChatModel
    agent = Agent(
        model_class("ajet-policy", provider=provider),
        output_type=NativeOutput(Forecast),
        instructions="Answer with the weather.",
        tools=[get_weather],
    )
    result = await agent.run(QUESTION)
    assert isinstance(result.output, Forecast)
    check_episode(handle.close(), engine, min_calls=1)
    json.dumps(result.output.model_dump())


# --------------------------------------------------------------------------- LangGraph


async def test_langgraph_react_agent_with_response_format(gateway, engine):
    pytest.importorskip("langgraph")
    pytest.importorskip("ajet_plugins_langchain")
    from langchain_core.tools import tool
    from langgraph.prebuilt import create_react_agent

    handle = gateway.open_episode("ep", seed=1)
    agent = create_react_agent(
        handle.tuner.as_langchain_chat_model(), [tool(get_weather)], response_format=Forecast
    )
    state = await agent.ainvoke({"messages": [("user", QUESTION)]}, {"recursion_limit": 8})
    assert isinstance(state["structured_response"], Forecast)
    recording = handle.close()
    # LangGraph's structured answer is a last call without the tools: its prompt renders the
    # system turn without them, so it cannot extend the agent's calls (the documented reason).
    assert recording.fallback_reasons == {"tools_changed": 1} and not recording.errors
    final = recording.calls[-1]
    assert final.tools is None and json.loads(final.reply["content"])
    samples = exact_samples(recording, engine)
    assert len(samples) == 2  # the agent's conversation, and the structured answer
    train_one_step(engine, samples)


# ----------------------------------------------------------------------------- LiteLLM


async def test_litellm_tool_episode(gateway, engine, monkeypatch):
    # The bundled model-cost map: no network fetch at import.
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    litellm = pytest.importorskip("litellm")
    handle = gateway.open_episode("ep", seed=3)
    endpoint = handle.tuner.as_oai_baseurl_apikey()
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": get_weather.__doc__,
                "parameters": {
                    "type": "object",
                    "properties": {"city": {"enum": ["Paris", "Rome", "Oslo"]}},
                    "required": ["city"],
                },
            },
        }
    ]
    wire = {"model": "openai/" + endpoint.model, "api_base": endpoint.base_url}
    messages = [{"role": "user", "content": QUESTION}]
    first = await litellm.acompletion(
        **wire, api_key=endpoint.api_key, messages=messages, tools=tools, tool_choice="required"
    )
    call = first.choices[0].message.tool_calls[0]
    assert call.function.name == "get_weather"
    messages += [
        first.choices[0].message.model_dump(exclude_none=True),
        {
            "role": "tool",
            "tool_call_id": call.id,
            "content": get_weather(**json.loads(call.function.arguments)),
        },
    ]
    await litellm.acompletion(**wire, api_key=endpoint.api_key, messages=messages, tools=tools)
    check_episode(handle.close(), engine)


# -------------------------------------------------------------------------- smolagents


async def test_smolagents_tool_calling_agent_on_a_thread(gateway, engine):
    smolagents = pytest.importorskip("smolagents")
    handle = gateway.open_episode("ep", seed=2)
    endpoint = handle.tuner.as_oai_baseurl_apikey()
    # smolagents' models are synchronous (openai.OpenAI): the agent runs on a thread, so the
    # workflow's event loop stays free (docs/gateway.md, "Synchronous frameworks").
    model = smolagents.OpenAIServerModel(
        model_id=endpoint.model,
        api_base=endpoint.base_url,
        api_key=endpoint.api_key,
        client_kwargs={"max_retries": 0},
    )

    def weather(city: Literal["Paris", "Rome", "Oslo"]) -> str:
        """Get the current weather in a city.

        Args:
            city: the city
        """
        return get_weather(city)

    agent = smolagents.ToolCallingAgent(
        tools=[smolagents.tool(weather)], model=model, max_steps=2, verbosity_level=0
    )
    await asyncio.to_thread(agent.run, QUESTION)
    assert len(TOOL_RESULTS) == 2  # both steps called the tool, which ran
    recording = handle.close()
    calls = recording.calls
    # Two tool-calling steps (tool_choice "required", smolagents' default), then its final
    # answer call (a new system prompt: a conversation of its own, not drift).
    assert len(calls) == 3 and not recording.errors
    assert [bool(call.reply.get("tool_calls")) for call in calls] == [True, True, False]
    # smolagents replays a tool call as assistant text ("Calling tools:\n[...]") and its result
    # as a user "Observation:" turn, not as the reply the gateway returned: the second step
    # cannot extend the first (its documented reason), so each call is a sample of its own.
    replayed = calls[1].messages[2]
    assert replayed["role"] == "assistant" and not replayed.get("tool_calls")
    assert replayed["content"].startswith("Calling tools:")
    assert recording.fallback_reasons == {"reply_mismatch": 1}
    samples = exact_samples(recording, engine)
    assert len(samples) == 3
    train_one_step(engine, samples)


# ------------------------------------------------------------------------------- DSPy


class WeatherArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    city: Literal["Paris", "Rome", "Oslo"]


class ReActStep(BaseModel):
    """The fields of one DSPy ReAct step, as a JSON schema the gateway enforces."""

    model_config = ConfigDict(extra="forbid")
    next_thought: str = Field(max_length=20)
    next_tool_name: Literal["get_weather", "finish"]
    next_tool_args: WeatherArgs


class ReActAnswer(BaseModel):
    """The fields of ReAct's closing extraction (its ChainOfThought)."""

    model_config = ConfigDict(extra="forbid")
    reasoning: str = Field(max_length=20)
    answer: str = Field(max_length=20)


def json_schema_format(model: type[BaseModel]) -> dict:
    schema = model.model_json_schema()
    return {"type": "json_schema", "json_schema": {"name": model.__name__, "schema": schema}}


async def test_dspy_react_with_each_step_schema_enforced(gateway, engine, monkeypatch, tmp_path):
    # LiteLLM's bundled model-cost map (no network at import); DSPy's disk cache in tmp_path.
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    monkeypatch.setenv("DSPY_CACHEDIR", str(tmp_path))
    dspy = pytest.importorskip("dspy")
    handle = gateway.open_episode("ep", seed=4)
    endpoint = handle.tuner.as_oai_baseurl_apikey()

    def policy(output: type[BaseModel]):
        # cache=False: DSPy would otherwise answer a repeated prompt from its cache, and a
        # rollout must sample every call.
        return dspy.LM(
            "openai/" + endpoint.model,
            api_base=endpoint.base_url,
            api_key=endpoint.api_key,
            cache=False,
            num_retries=0,
            response_format=json_schema_format(output),
        )

    react = dspy.ReAct("question -> answer", tools=[get_weather], max_iters=2)
    # ReAct's step fields are text to DSPy's adapters (its next_tool_args is an open dict, so
    # even JSONAdapter asks for json_object only): a small policy gets each predictor's fields
    # as a JSON schema, which the gateway enforces by constrained decoding.
    react.react.set_lm(policy(ReActStep))
    react.extract.set_lm(policy(ReActAnswer))
    with dspy.context(adapter=dspy.JSONAdapter()):
        prediction = await react.acall(question=QUESTION)
    assert len(TOOL_RESULTS) == 2  # both steps called the tool, which ran
    assert prediction.trajectory["observation_1"] == f"sunny in {TOOL_RESULTS[1]}"
    recording = handle.close()
    calls = recording.calls
    assert len(calls) == 3 and not recording.errors  # two ReAct steps, then the extraction
    for step in calls[:2]:
        ReActStep.model_validate_json(step.reply["content"])  # the schema held
    # The first tool result reached the model through DSPy's trajectory.
    assert f"sunny in {TOOL_RESULTS[0]}" in calls[1].messages[-1]["content"]
    # DSPy sends no chat history: every call is a system and a user turn, the trajectory written
    # into the user turn. Nothing extends an earlier reply, so no reuse is refused (drift 0),
    # and each call is a sample of its own (its documented shape, not a merge failure).
    assert all([m["role"] for m in call.messages] == ["system", "user"] for call in calls)
    assert recording.drift_fallbacks == 0
    samples = exact_samples(recording, engine)
    assert len(samples) == 3
    train_one_step(engine, samples)
