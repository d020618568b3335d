"""AjetTuner: AgentJet's names, per-agent keys, trainable targets and model clients."""

from __future__ import annotations

import httpx
import openai
import pytest

from ajet_core.errors import PluginUnavailableError
from ajet_core.hookspecs import hookimpl
from ajet_core.tuner import ModelEndpoint

from .gateway_fixtures import WEATHER_TOOL, make_gateway

USER = [{"role": "user", "content": "Weather in Paris?"}]


async def test_raw_client_is_an_async_openai_and_needs_no_model_argument():
    gateway = make_gateway()  # no HTTP server: the client goes through the ASGI app in-process
    episode = gateway.open_episode("ep")
    client = episode.tuner.as_raw_openai_sdk_client()
    assert isinstance(client, openai.AsyncOpenAI)
    reply = await client.chat.completions.create(messages=USER, tools=[WEATHER_TOOL])
    assert reply.choices[0].message.tool_calls[0].function.name == "get_weather"
    assert reply.model == gateway.model_name
    reply = await client.chat.completions.create(model="explicit", messages=USER)
    assert reply.model == "explicit"
    assert [c.agent for c in episode.close().calls] == ["default", "default"]


async def test_baseurl_apikey_starts_the_http_server_on_first_use():
    gateway = make_gateway()
    try:
        episode = gateway.open_episode("ep", trainable_targets=["solver"])
        endpoint = episode.tuner.as_oai_baseurl_apikey(agent_name="solver")
        assert (
            endpoint.base_url.startswith("http://127.0.0.1:")
            and endpoint.model == gateway.model_name
        )
        async with httpx.AsyncClient() as http:
            response = await http.post(
                endpoint.base_url + "/chat/completions",
                headers={"Authorization": f"Bearer {endpoint.api_key}"},
                json={"messages": USER},
            )
        assert response.status_code == 200
        [recorded] = episode.close().calls
        assert (recorded.agent, recorded.target_tag, recorded.trainable) == (
            "solver",
            "solver",
            True,
        )
    finally:
        await gateway.stop_http()


async def test_each_agent_gets_its_own_key_and_target_tag_decides_training():
    gateway = make_gateway()
    episode = gateway.open_episode("ep", trainable_targets=["policy_agent"])
    tuner = episode.tuner
    a = tuner.as_raw_openai_sdk_client(agent_name="alice", target_tag="policy_agent")
    b = tuner.as_raw_openai_sdk_client(agent_name="bob", target_tag="opponent")
    assert a.api_key != b.api_key
    assert (
        tuner.as_raw_openai_sdk_client(agent_name="alice", target_tag="policy_agent").api_key
        == a.api_key
    )
    await a.chat.completions.create(messages=USER)
    await b.chat.completions.create(messages=USER)
    calls = episode.close().calls
    assert [(c.agent, c.target_tag, c.trainable) for c in calls] == [
        ("alice", "policy_agent", True),
        ("bob", "opponent", False),
    ]
    with pytest.raises(openai.AuthenticationError):
        await a.chat.completions.create(messages=USER)  # revoked with the episode
    with pytest.raises(RuntimeError, match="closed"):
        tuner.as_raw_openai_sdk_client()


@pytest.mark.parametrize("targets", [None, []])
async def test_no_trainable_targets_means_every_agent_is_trained(targets):
    gateway = make_gateway()
    episode = gateway.open_episode("ep", trainable_targets=targets)
    await episode.tuner.as_raw_openai_sdk_client(agent_name="x").chat.completions.create(
        messages=USER
    )
    assert episode.close().calls[0].trainable


def test_unknown_debug_model_names_the_config_key():
    gateway = make_gateway()
    episode = gateway.open_episode("ep", trainable_targets=["solver"])
    with pytest.raises(ValueError, match="rollout.fixed_endpoints"):
        episode.tuner.as_raw_openai_sdk_client(agent_name="judge", debug_model="gpt-x")


async def test_a_model_object_as_debug_model_serves_untrained_agents_only(register_ajet_plugin):
    """AgentJet's werewolves pass a framework model object as debug_model for every player."""
    register_ajet_plugin(_ClientPlugin(), name="echo_framework_plugin")
    gateway = make_gateway()
    episode = gateway.open_episode("ep", trainable_targets=["werewolf"])
    fixed = object()
    villager = episode.tuner.as_model_client("echo_framework", "villager", debug_model=fixed)
    assert villager is fixed
    wolf = episode.tuner.as_model_client(
        "echo_framework", "wolf", target_tag="werewolf", debug_model=fixed
    )
    assert isinstance(wolf, _EchoModel)  # the trained agent samples from the policy
    await wolf.client.chat.completions.create(messages=USER)
    with pytest.raises(TypeError, match=r"debug_model is a object object.*fixed_endpoints"):
        episode.tuner.as_raw_openai_sdk_client("villager", debug_model=fixed)
    assert [(c.agent, c.trainable) for c in episode.close().calls] == [("wolf", True)]


def test_missing_model_clients_name_the_package_to_install(ajet_plugins):
    gateway = make_gateway()
    tuner = gateway.open_episode("ep").tuner
    with pytest.raises(PluginUnavailableError, match="ajet-plugins-agentscope"):
        tuner.as_agentscope_model()
    with pytest.raises(PluginUnavailableError, match="ajet-plugins-langchain"):
        tuner.as_langchain_chat_model()


class _EchoModel:
    def __init__(self, endpoint: ModelEndpoint, **kwargs):
        self.endpoint = endpoint
        self.kwargs = kwargs
        self.client = endpoint.openai_client()


class _ClientPlugin:
    @hookimpl
    def ajet_register_model_clients(self, registry):
        registry.add("echo_framework", _EchoModel)


async def test_registered_model_clients_get_an_endpoint_bound_to_the_episode(register_ajet_plugin):
    register_ajet_plugin(_ClientPlugin(), name="echo_framework_plugin")
    gateway = make_gateway()
    episode = gateway.open_episode("ep")
    model = episode.tuner.as_model_client("echo_framework", agent_name="writer", temperature=0.2)
    assert model.endpoint.agent_name == "writer" and model.kwargs == {"temperature": 0.2}
    await model.client.chat.completions.create(messages=USER)
    assert episode.close().calls[0].agent == "writer"
