"""AutoGen and LlamaIndex agents as a new user wires them, on the tiny model through the gateway
over real HTTP: the episode of tests/core/gateway/test_framework_conformance.py (a tool-using
conversation captured, no drift fallback or the framework's documented one, the samples training
exactly the sampled tokens, one policy update). These frameworks pin versions the main
environment cannot hold, so they run in the frameworks environment (elsewhere conftest.py
skips them; there a missing framework fails its test at import).
"""

from __future__ import annotations

import pytest

from ..core.gateway import framework_episode
from ..core.gateway.framework_episode import (
    QUESTION,
    TOOL_RESULTS,
    check_episode,
    exact_samples,
    get_weather,
    train_one_step,
)

pytest.importorskip("torch")
# A gateway serving the tiny model's engine (the conftest's) over HTTP: a fixture.
gateway = framework_episode.gateway


# ------------------------------------------------------------------------------ AutoGen


@pytest.mark.parametrize("stream", [False, True], ids=["create", "create_stream"])
@pytest.mark.parametrize("after_the_tool", ["tool_iterations", "reflection"])
async def test_autogen_assistant_agent_tool_episode(gateway, engine, after_the_tool, stream):
    from autogen_agentchat.agents import AssistantAgent
    from autogen_agentchat.messages import ToolCallExecutionEvent
    from autogen_core.models import ModelInfo
    from autogen_core.tools import FunctionTool
    from autogen_ext.models.openai import OpenAIChatCompletionClient

    handle = gateway.open_episode("ep", seed=2)
    endpoint = handle.tuner.as_oai_baseurl_apikey()
    client = OpenAIChatCompletionClient(
        model=endpoint.model,
        base_url=endpoint.base_url,
        api_key=endpoint.api_key,
        max_retries=0,
        # A model name AutoGen does not know needs its capabilities stated.
        model_info=ModelInfo(
            vision=False,
            function_calling=True,
            json_output=True,
            family="unknown",
            structured_output=True,
        ),
    )
    # strict: AssistantAgent always sends tool_choice "auto", so the tool's schema is what the
    # gateway can enforce once the model opens a call (the tiny model's free arguments leave
    # the closed set of cities otherwise).
    tool = FunctionTool(get_weather, description=get_weather.__doc__, strict=True)
    agent = AssistantAgent(
        "weather",
        model_client=client,
        tools=[tool],
        system_message="Answer with the weather. Use the tool.",
        # Either a second call with the tools (the loop goes on), or AutoGen's reflection:
        # a second call with tool_choice "none" and no tools.
        max_tool_iterations=2 if after_the_tool == "tool_iterations" else 1,
        reflect_on_tool_use=after_the_tool == "reflection",
        model_client_stream=stream,  # SSE: the same calls, the same record
    )
    try:
        result = await agent.run(task=QUESTION)
    finally:
        await client.close()
    executed = [m for m in result.messages if isinstance(m, ToolCallExecutionEvent)]
    assert len(TOOL_RESULTS) == 1  # the tool ran, and AutoGen saw its result
    assert [r.content for r in executed[0].content] == [f"sunny in {TOOL_RESULTS[0]}"]
    recording = handle.close()
    if after_the_tool == "tool_iterations":
        check_episode(recording, engine)
        return
    # The reflection call sends no tools, so its prompt renders the system turn without them
    # and cannot extend the tool call (as LangGraph's structured answer): one documented
    # tools_changed fallback, and the reflection is a sample of its own.
    assert len(recording.calls) == 2 and not recording.errors
    assert recording.fallback_reasons == {"tools_changed": 1}
    assert recording.calls[1].tools is None
    samples = exact_samples(recording, engine)
    assert len(samples) == 2
    train_one_step(engine, samples)


# --------------------------------------------------------------------------- LlamaIndex


async def test_llamaindex_function_agent_streams_a_tool_episode(gateway, engine):
    from llama_index.core.agent.workflow import FunctionAgent, ToolCallResult
    from llama_index.core.tools import FunctionTool
    from llama_index.llms.openai_like import OpenAILike

    handle = gateway.open_episode("ep", seed=3)
    endpoint = handle.tuner.as_oai_baseurl_apikey()
    # OpenAILike: LlamaIndex's OpenAI class refuses a model name it does not know; strict
    # tool schemas, which the gateway enforces.
    llm = OpenAILike(
        model=endpoint.model,
        api_base=endpoint.base_url,
        api_key=endpoint.api_key,
        is_chat_model=True,
        is_function_calling_model=True,
        context_window=2048,
        max_retries=0,
        strict=True,
    )
    agent = FunctionAgent(
        tools=[FunctionTool.from_defaults(get_weather)],
        llm=llm,
        system_prompt="Answer with the weather. Use the tool.",
        # The first call must be the tool (tool_choice naming it); then the agent loops on
        # "auto" until the model answers. FunctionAgent streams (SSE) by default.
        initial_tool_choice="get_weather",
    )
    handler = agent.run(user_msg=QUESTION, max_iterations=4)
    results = [
        event async for event in handler.stream_events() if isinstance(event, ToolCallResult)
    ]
    await handler
    assert len(TOOL_RESULTS) == 1  # the tool ran, and the agent streamed its result
    assert [r.tool_output.content for r in results] == [f"sunny in {TOOL_RESULTS[0]}"]
    check_episode(handle.close(), engine)
