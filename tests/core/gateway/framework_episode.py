"""The episode every framework conformance test runs, and what it checks: the tiny model served
by the gateway over real HTTP, a closed-set weather tool, the tracker's samples (each training
exactly the sampled tokens) and one policy update on them.

Shared by tests/core/gateway/test_framework_conformance.py (frameworks in the main environment)
and tests/frameworks/ (frameworks in the frameworks environment); imported by name.
"""

# No `from __future__ import annotations`: LlamaIndex builds its tool schema from the function's
# annotations as objects, and cannot resolve get_weather's `Literal` from a string.
import copy
from typing import Literal

import openai
import pytest

from ajet_core.config.models import AjetConfig, TrainerConfig
from ajet_core.gateway import Gateway
from ajet_core.schema import EpisodeRecord, Task
from ajet_core.testing.samples import assert_samples_train_exactly_the_sampled_tokens
from ajet_core.tracking.timeline_merge import TimelineMergeTracker

QUESTION = "What is the weather in Paris?"

TOOL_RESULTS: list[str] = []


def get_weather(city: Literal["Paris", "Rome", "Oslo"]) -> str:
    """Get the current weather in a city."""
    # A closed set of cities: the tiny model's arguments stay short under the constraint.
    TOOL_RESULTS.append(city)
    return f"sunny in {city}"


@pytest.fixture
async def gateway(engine):
    config = AjetConfig.model_validate({"rollout": {"temperature": 1.0, "max_tokens_per_call": 48}})
    gateway = Gateway(engine, config, mode="train")
    await gateway.start_http()
    TOOL_RESULTS.clear()
    yield gateway
    await gateway.stop_http()


def check_episode(recording, engine, min_calls=2):
    """Captured, no drift, one merged sample over the whole conversation, one train step."""
    assert len(recording.calls) >= min_calls and not recording.errors
    assert recording.drift_fallbacks == 0
    samples = exact_samples(recording, engine)
    assert len(samples) == 1, [s.call_ids for s in samples]
    train_one_step(engine, samples)


def exact_samples(recording, engine):
    """The tracker's samples of the episode, each training exactly the tokens it sampled."""
    record = EpisodeRecord(episode_id="ep", task=Task(main_query=QUESTION), calls=recording.calls)
    samples = TimelineMergeTracker().build_samples(record)
    assert_samples_train_exactly_the_sampled_tokens(samples, recording.calls, engine.tokenizer)
    return samples


def train_one_step(engine, samples):
    """One policy update on the episode's samples (a copy of the served model, so the other
    tests keep sampling from the same weights)."""
    from ajet_backbone_debug.training.trainer import PolicyTrainer

    for sample in samples:
        sample.advantage = 1.0
    with engine.paused() as model:
        policy = copy.deepcopy(model)
    trainer = PolicyTrainer(policy, TrainerConfig(lr=1e-3), temperature=1.0)
    before = {name: p.detach().clone() for name, p in trainer.trainable_parameters()}
    trainer.train_step(samples)
    moved = max(
        float((p.detach() - before[name]).abs().max()) for name, p in trainer.trainable_parameters()
    )
    assert trainer.step == 1 and moved > 0


def client_for(handle) -> openai.AsyncOpenAI:
    endpoint = handle.tuner.as_oai_baseurl_apikey()
    return openai.AsyncOpenAI(base_url=endpoint.base_url, api_key=endpoint.api_key, max_retries=0)
