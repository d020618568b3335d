"""The gateway is strict about what it serves: oversized bodies get 413; JSON nested too deep,
lone surrogates and out-of-range seeds get 400 in OpenAI's error shape (never a 500, never a
recorded call), streaming or not; ``ajet serve --api-key`` guards ``/ajet/stats`` too; and a
gateway listening beyond loopback says so. Over real HTTP, with the scripted engine (protocol
tests; the tiny-model files cover what a model does)."""

from __future__ import annotations

import logging

import httpx
import pytest

from ajet_core.config.models import AjetConfig
from ajet_core.gateway.scripted_engine import ScriptedEngine
from ajet_core.gateway.serving import ServingGateway

from .gateway_fixtures import make_gateway, tokenizer

USER = [{"role": "user", "content": "hi"}]


@pytest.fixture
async def served():
    config = AjetConfig.model_validate({"rollout": {"gateway": {"max_request_bytes": 4096}}})
    gateway = make_gateway(config=config)
    await gateway.start_http()
    handle = gateway.open_episode("ep")
    key = gateway.issue_key(handle.session, "agent")
    async with httpx.AsyncClient(
        base_url=gateway.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=60
    ) as http:
        yield gateway, handle, http
    await gateway.stop_http()


def assert_openai_error(response, status, code=None, param=None):
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["message"]
    if code is not None:
        assert error["code"] == code
    if param is not None:
        assert error["param"] == param
    return error


def raw_json(text: str) -> dict:
    return {"content": text.encode(), "headers": {"content-type": "application/json"}}


async def test_a_body_over_the_limit_gets_413_and_is_not_recorded(served):
    gateway, handle, http = served
    big = [{"role": "user", "content": "x" * 5000}]
    response = await http.post("/chat/completions", json={"messages": big})
    error = assert_openai_error(response, 413, code="request_too_large")
    assert "rollout.gateway.max_request_bytes" in error["message"]

    # Chunked upload (no Content-Length): the limit holds while reading.
    async def chunks():
        for _ in range(6):
            yield b'{"messages": [{"role": "user", "content": "' + b"y" * 1000

    response = await http.post(
        "/chat/completions", content=chunks(), headers={"content-type": "application/json"}
    )
    assert_openai_error(response, 413, code="request_too_large")
    ok = await http.post("/chat/completions", json={"messages": USER})
    assert ok.status_code == 200
    assert len(handle.close().calls) == 1


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(
    ("body", "code", "param"),
    [
        # deeper than json.loads can parse at all
        ('{"messages": ' + "[" * 5000 + "]" * 5000 + "}", "json_too_deep", None),
        # parses, but no client nests a chat request like this
        (
            '{"messages": [{"role": "user", "content": "hi"}], "metadata": '
            + '{"a": ' * 150
            + "1"
            + "}" * 150
            + "}",
            "json_too_deep",
            None,
        ),
        ('{"model": "\\ud800", "messages": [{"role": "user", "content": "hi"}]}', None, "model"),
        (
            '{"messages": [{"role": "user", "content": "a\\udfffb"}]}',
            "invalid_unicode",
            "messages[0].content",
        ),
        (
            '{"messages": [{"role": "user", "content": "hi"}], "seed": ' + str(10**30) + "}",
            None,
            "seed",
        ),
    ],
)
async def test_hostile_bodies_get_400_in_openai_shape_streaming_or_not(
    served, body, code, param, stream
):
    gateway, handle, http = served
    gateway.config.rollout.gateway.max_request_bytes = 1 << 20
    if stream:
        body = body[:-1] + ', "stream": true}'
    response = await http.post("/chat/completions", **raw_json(body))
    assert_openai_error(response, 400, code=code, param=param)
    recording = handle.close()
    assert recording.calls == [] and [e["status"] for e in recording.errors] in ([], [400])
    assert gateway.stats.calls == 0


async def test_seed_at_the_int64_edges_is_served(served):
    gateway, handle, http = served
    for seed in (2**63 - 1, -(2**63)):
        response = await http.post("/chat/completions", json={"messages": USER, "seed": seed})
        assert response.status_code == 200, response.text
    response = await http.post("/chat/completions", json={"messages": USER, "seed": 2**63})
    assert_openai_error(response, 400, param="seed")


async def test_an_error_inside_a_stream_still_ends_with_done():
    class BrokenStreamEngine(ScriptedEngine):
        async def generate_stream(self, prompt_ids, sampling):
            yield await _raise(RuntimeError("decode kernel crashed"))

    async def _raise(exc):
        raise exc

    gateway = make_gateway(engine=BrokenStreamEngine(tokenizer(), "unused"))
    await gateway.start_http()
    try:
        key = gateway.issue_key(gateway.open_episode("ep").session, "a")
        async with httpx.AsyncClient(base_url=gateway.base_url, timeout=60) as http:
            response = await http.post(
                "/chat/completions",
                headers={"Authorization": f"Bearer {key}"},
                json={"messages": USER, "stream": True},
            )
    finally:
        await gateway.stop_http()
    events = [line[6:] for line in response.text.splitlines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    assert '"error"' in events[-2] and "decode kernel crashed" in events[-2]


async def test_serve_api_key_guards_the_stats_endpoint_too():
    engine = ScriptedEngine(tokenizer(), "ok")
    gateway = ServingGateway(engine, api_key="s3cret")
    await gateway.start_http()
    try:
        async with httpx.AsyncClient(base_url=gateway.base_url.removesuffix("/v1")) as http:
            for path in ("/ajet/stats", "/ajet/stats?reset=1"):
                assert_openai_error(await http.get(path), 401, code="invalid_api_key")
                wrong = await http.get(path, headers={"Authorization": "Bearer nope"})
                assert_openai_error(wrong, 401)
            good = await http.get("/ajet/stats", headers={"Authorization": "Bearer s3cret"})
            assert good.status_code == 200 and "calls" in good.json()
    finally:
        await gateway.stop_http()


async def test_a_gateway_beyond_loopback_warns(caplog):
    gateway = make_gateway()
    with caplog.at_level(logging.WARNING, logger="ajet_core.gateway.core"):
        await gateway.start_http(host="0.0.0.0", port=0)
        await gateway.stop_http()
        assert any("not a loopback address" in r.getMessage() for r in caplog.records)
        caplog.clear()
        await gateway.start_http(host="127.0.0.1", port=0)
        await gateway.stop_http()
    assert not any("loopback" in r.getMessage() for r in caplog.records)
