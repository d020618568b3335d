"""Agents that share one message list: when one agent's messages continue another agent's
sampled reply in the same episode, the gateway reuses that reply's exact tokens, so the
timeline merges both agents' calls into one sample; the merge invariant (the same per-token
logprobs as per-call samples) holds, and trainable_targets still decides what is trained. On the
tiny model."""

from __future__ import annotations

import pytest

from ajet_core.config.models import AjetConfig
from ajet_core.gateway import Gateway
from ajet_core.schema import EpisodeRecord, Task
from ajet_core.testing.samples import assert_samples_train_exactly_the_sampled_tokens
from ajet_core.tracking.per_call import PerCallTracker
from ajet_core.tracking.timeline_merge import TimelineMergeTracker

from .test_gateway_tiny_model import model_logprobs

torch = pytest.importorskip("torch")
TEMPERATURE = 0.8


async def debate(engine, trainable_targets=None):
    """A solver answers, a critic (another key) reads the same list and replies, the solver
    answers the critique: three calls over one growing message list."""
    config = AjetConfig.model_validate(
        {"rollout": {"temperature": TEMPERATURE, "max_tokens_per_call": 16}}
    )
    gateway = Gateway(engine, config, mode="train")
    handle = gateway.open_episode("ep", trainable_targets=trainable_targets, seed=11)
    solver = handle.tuner.as_raw_openai_sdk_client(agent_name="solver")
    critic = handle.tuner.as_raw_openai_sdk_client(agent_name="critic")
    messages = [{"role": "user", "content": "What is 3 + 4?"}]
    for client, follow_up in (
        (solver, "Critique that."),
        (critic, "Answer again."),
        (solver, None),
    ):
        reply = await client.chat.completions.create(messages=messages)
        messages.append({"role": "assistant", "content": reply.choices[0].message.content})
        if follow_up:
            messages.append({"role": "user", "content": follow_up})
    recording = handle.close()
    record = EpisodeRecord(episode_id="ep", task=Task(main_query="q"), calls=recording.calls)
    return recording, record


async def test_a_shared_message_list_reuses_the_other_agents_tokens_and_merges(engine):
    recording, record = await debate(engine)
    first, second, third = recording.calls
    assert [c.agent for c in recording.calls] == ["solver", "critic", "solver"]
    assert recording.drift_fallbacks == 0
    assert second.parent_call_id == first.call_id and third.parent_call_id == second.call_id
    assert second.prompt_ids[: len(first.full_ids)] == first.full_ids
    assert third.prompt_ids[: len(second.full_ids)] == second.full_ids
    per_call = PerCallTracker().build_samples(record)
    [merged] = TimelineMergeTracker().build_samples(record)
    assert merged.call_ids == [first.call_id, second.call_id, third.call_id]
    assert_samples_train_exactly_the_sampled_tokens([merged], recording.calls, engine.tokenizer)
    with engine.paused() as model:
        from_per_call = model_logprobs(model, per_call, recording.calls, TEMPERATURE)
        from_merged = model_logprobs(model, [merged], recording.calls, TEMPERATURE)
    assert from_per_call.keys() == from_merged.keys()
    assert max(abs(from_per_call[k] - from_merged[k]) for k in from_per_call) < 1e-5


async def test_trainable_targets_still_decide_what_a_shared_sample_trains(engine):
    recording, record = await debate(engine, trainable_targets=["solver"])
    first, second, third = recording.calls
    assert (first.trainable, second.trainable, third.trainable) == (True, False, True)
    assert third.parent_call_id == second.call_id  # the tokens are still reused
    samples = TimelineMergeTracker().build_samples(record)
    trained = {call_id for sample in samples for call_id in sample.call_ids}
    assert trained == {first.call_id, third.call_id}
    assert_samples_train_exactly_the_sampled_tokens(samples, [first, third], engine.tokenizer)
    critic_positions = range(len(second.prompt_ids), len(second.full_ids))
    for sample in samples:
        if len(sample.input_ids) >= len(second.full_ids):
            assert not any(sample.loss_mask[p] for p in critic_positions)
