"""The gateway tells engines whose call they serve (``ajet_core.engine.call_origin``): verl's
engine turns it into one sticky request id per episode and agent."""

from __future__ import annotations

import pytest

from ajet_core.engine import call_origin
from ajet_core.gateway.scripted_engine import ScriptedEngine

from .gateway_fixtures import make_gateway, tokenizer

USER = [{"role": "user", "content": "Hello?"}]


class OriginRecordingEngine(ScriptedEngine):
    def __init__(self) -> None:
        super().__init__(tokenizer(), lambda prompt: "Hi.")
        self.origins: list[tuple[str, str]] = []

    def _note(self) -> None:
        origin = call_origin.get()
        assert origin is not None, "the engine was called without a call origin"
        self.origins.append((origin.episode_id, origin.agent))

    async def generate(self, prompt_ids, sampling):
        self._note()
        return await super().generate(prompt_ids, sampling)

    async def generate_stream(self, prompt_ids, sampling):
        self._note()
        async for piece in super().generate_stream(prompt_ids, sampling):
            yield piece


@pytest.mark.parametrize("stream", [False, True])
async def test_each_engine_call_knows_its_episode_and_agent(stream):
    engine = OriginRecordingEngine()
    gateway = make_gateway(engine=engine)
    handle = gateway.open_episode("episode-7", seed=1)
    for agent in ("solver", "checker"):
        key = gateway.issue_key(handle.session, agent)
        reply = await gateway.chat_completion(key, {"messages": USER, "stream": stream, "n": 2})
        if stream:
            [chunk async for chunk in reply]
    handle.close()
    # n=2: both continuations of each request carry the origin (gather copies the context).
    assert engine.origins == [("episode-7", "solver")] * 2 + [("episode-7", "checker")] * 2
    assert call_origin.get() is None  # nothing leaks into the caller's context
