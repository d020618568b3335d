"""No client can block the gateway: it serves on its own loop thread, and large requests render
on worker threads. On the real tiny model and the debug backbone's engine.

Before the gateway had its own loop, a synchronous call inside a workflow's ``async execute``
blocked the very loop that had to answer it: the call timed out, and its late request got 401.
"""

from __future__ import annotations

import asyncio

import openai
import pytest
import requests

from ajet_core.config.models import AjetConfig
from ajet_core.gateway import Gateway

pytest.importorskip("torch")

USER = [{"role": "user", "content": "Say hello."}]


def make_gateway(engine):
    config = AjetConfig.model_validate({"rollout": {"max_tokens_per_call": 8}})
    return Gateway(engine, config, mode="train")


async def async_episode(gateway, episode_id):
    handle = gateway.open_episode(episode_id)
    client = handle.tuner.as_raw_openai_sdk_client()
    reply = await client.chat.completions.create(messages=USER)
    return reply, handle.close()


async def test_a_blocking_requests_call_in_a_workflow_is_answered_while_another_episode_runs(
    engine,
):
    gateway = make_gateway(engine)
    try:

        async def blocking_episode():
            handle = gateway.open_episode("sync")
            endpoint = handle.tuner.as_oai_baseurl_apikey()
            await asyncio.sleep(0)  # let the other episode send its request first
            # A synchronous client on the workflow's own event loop thread: this blocks the
            # loop until the reply arrives (generous timeout: only a deadlock would reach it).
            response = requests.post(
                endpoint.base_url + "/chat/completions",
                headers={"Authorization": f"Bearer {endpoint.api_key}"},
                json={"model": endpoint.model, "messages": USER},
                timeout=600,
            )
            return response, handle.close()

        (response, sync_recording), (reply, async_recording) = await asyncio.gather(
            blocking_episode(), async_episode(gateway, "async")
        )
    finally:
        await gateway.stop_http()
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["role"] == "assistant"
    assert [call.agent for call in sync_recording.calls] == ["default"]
    assert reply.choices[0].message.role == "assistant"
    assert len(async_recording.calls) == 1 and not async_recording.errors


async def test_a_sync_openai_client_inside_async_execute_works_in_process_and_over_http(engine):
    gateway = make_gateway(engine)
    try:
        # In-process (no server): the sync transport runs the app on the gateway's loop.
        handle = gateway.open_episode("in-process")
        model_endpoint = handle.tuner.model_endpoint()
        assert model_endpoint.http_client is not None
        client = openai.OpenAI(
            base_url=model_endpoint.base_url,
            api_key=model_endpoint.api_key,
            http_client=model_endpoint.http_client,
            max_retries=0,
        )
        reply = client.chat.completions.create(model=model_endpoint.model, messages=USER)
        assert reply.choices[0].message.role == "assistant"
        assert len(handle.close().calls) == 1
        # Over HTTP: base URL and key, as a user wires any synchronous framework.
        handle = gateway.open_episode("http")
        http_endpoint = handle.tuner.as_oai_baseurl_apikey()
        client = openai.OpenAI(
            base_url=http_endpoint.base_url, api_key=http_endpoint.api_key, max_retries=0
        )
        reply = client.chat.completions.create(model=http_endpoint.model, messages=USER)
        assert reply.choices[0].message.role == "assistant"
        assert len(handle.close().calls) == 1
    finally:
        await gateway.stop_http()


async def test_a_huge_request_renders_off_the_loop_while_a_small_one_is_served(engine):
    gateway = make_gateway(engine)
    finished: list[str] = []
    big_handle = gateway.open_episode("big")
    big_client = big_handle.tuner.as_raw_openai_sdk_client()
    # About 3 MB of text: far past the tiny model's context, so it ends in a 400 once rendered
    # and tokenized; that takes the gateway seconds of work, done on a worker thread.
    huge = [{"role": "user", "content": "lorem ipsum dolor sit amet " * 110_000}]

    async def big():
        with pytest.raises(openai.BadRequestError) as caught:
            await big_client.chat.completions.create(messages=huge)
        finished.append("big")
        return caught.value

    async def small():
        await asyncio.sleep(0)  # the big request is sent first
        reply = await async_episode(gateway, "small")
        finished.append("small")
        return reply

    error, (reply, recording) = await asyncio.gather(big(), small())
    assert error.code == "context_length_exceeded"
    assert finished == ["small", "big"]
    assert len(recording.calls) == 1
    assert big_handle.close().calls == []
