"""``tuner.as_agentscope_model()`` with AgentScope 1.x (``ReActAgent``, the API AgentJet's own
tutorials use) against the real gateway and tiny model.

AgentScope 1.x lives in the trinity environment, so in any other environment this module runs
itself there (``test_in_the_environment_that_has_agentscope_1``) and skips its own episode test.
"""

from __future__ import annotations

import os
import subprocess
from importlib import metadata
from pathlib import Path

import pytest

from ajet_core.testing.samples import assert_samples_train_exactly_the_sampled_tokens, sampled_ids

from .helpers import (
    SYSTEM_PROMPT,
    WEATHER_QUESTION,
    make_config,
    make_gateway,
    samples_of,
    trinity_python_with_agentscope_1,
)

REPO = Path(__file__).resolve().parents[2]


def agentscope_major() -> int | None:
    try:
        return int(metadata.version("agentscope").split(".")[0])
    except metadata.PackageNotFoundError:
        return None


WEATHER_CALLS: list[str] = []


def get_weather(city: str):
    """Get the current weather in a city.

    Args:
        city (str): City name
    """
    from agentscope.message import TextBlock
    from agentscope.tool import ToolResponse

    WEATHER_CALLS.append(city)
    return ToolResponse(content=[TextBlock(type="text", text="sunny")])


@pytest.mark.skipif(agentscope_major() != 1, reason="needs AgentScope 1.x (trinity environment)")
async def test_react_agent_tool_conversation_without_drift(engine):
    from agentscope.agent import ReActAgent
    from agentscope.formatter import OpenAIChatFormatter
    from agentscope.message import Msg
    from agentscope.tool import Toolkit

    config = make_config()
    gateway = make_gateway(engine, config)
    handle = gateway.open_episode("ep", seed=0)
    toolkit = Toolkit()
    toolkit.register_tool_function(get_weather)
    agent = ReActAgent(
        name="solver",
        sys_prompt=SYSTEM_PROMPT,
        model=handle.tuner.as_agentscope_model(agent_name="solver"),
        formatter=OpenAIChatFormatter(),
        toolkit=toolkit,
        max_iters=3,
    )
    WEATHER_CALLS.clear()
    await agent(Msg(name="user", content=WEATHER_QUESTION, role="user"))
    recording = handle.close()

    assert WEATHER_CALLS, "the agent never ran the tool"
    calls = recording.calls
    assert len(calls) >= 2 and recording.drift_fallbacks == 0
    assert calls[0].finish_reason == "tool_calls"
    assert "<tool_call>" in engine.tokenizer.decode(sampled_ids(calls[0]))
    samples = samples_of(recording, config)
    assert samples and all(s.agent == "solver" for s in samples)
    assert_samples_train_exactly_the_sampled_tokens(samples, calls, engine.tokenizer)


@pytest.mark.timeout(1200)  # a whole job in a subprocess: the hang detector, sized for load
@pytest.mark.skipif(agentscope_major() == 1, reason="this environment runs the 1.x test itself")
def test_in_the_environment_that_has_agentscope_1():
    python, why = trinity_python_with_agentscope_1()
    if python is None:
        pytest.skip(why)
    result = subprocess.run(
        [
            str(python),
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            f"{Path(__file__).relative_to(REPO)}::test_react_agent_tool_conversation_without_drift",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
        env={**os.environ, "AJET_TEST_ENV": "trinity"},
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "1 passed" in result.stdout
