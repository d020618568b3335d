"""Request options that change what is sampled or returned: ``n`` > 1 (n sampled replies of one
prompt, each recorded, merged and trained), ``logprobs`` (the recorded logprobs, per sampled
token) and ``parallel_tool_calls: false`` (at most one call per reply)."""

from __future__ import annotations

import json

import pytest

from ajet_core.config.models import AjetConfig
from ajet_core.gateway import Gateway
from ajet_core.schema import EpisodeRecord, Task
from ajet_core.testing.samples import assert_samples_train_exactly_the_sampled_tokens, sampled_ids
from ajet_core.tracking.timeline_merge import TimelineMergeTracker

from .gateway_fixtures import WEATHER_CALL_TEXT, WEATHER_TOOL, make_gateway

USER = [{"role": "user", "content": "Tell me a short story."}]


def tiny_gateway(engine):
    config = AjetConfig.model_validate({"rollout": {"temperature": 1.0, "max_tokens_per_call": 12}})
    return Gateway(engine, config, mode="train")


async def test_n_choices_are_n_recorded_samples_and_the_next_turn_extends_the_chosen_one(engine):
    gateway = tiny_gateway(engine)
    handle = gateway.open_episode("ep", seed=7)
    client = handle.tuner.as_raw_openai_sdk_client()
    reply = await client.chat.completions.create(messages=USER, n=3)
    assert [choice.index for choice in reply.choices] == [0, 1, 2]
    texts = [choice.message.content for choice in reply.choices]
    assert len(set(texts)) > 1  # three samples, not one reply copied (seeded: reproducible)
    chosen = reply.choices[1].message
    follow_up = USER + [
        chosen.model_dump(exclude_none=True),
        {"role": "user", "content": "Another one."},
    ]
    await client.chat.completions.create(messages=follow_up)
    recording = handle.close()
    first_three, last = recording.calls[:3], recording.calls[3]
    assert len({call.call_id for call in first_three}) == 3
    assert [call.reply["content"] for call in first_three] == texts
    assert all(call.prompt_ids == first_three[0].prompt_ids for call in first_three)
    assert reply.usage.completion_tokens == sum(len(sampled_ids(c)) for c in first_three)
    assert recording.drift_fallbacks == 0 and last.parent_call_id == first_three[1].call_id
    record = EpisodeRecord(episode_id="ep", task=Task(main_query="story"), calls=recording.calls)
    samples = TimelineMergeTracker().build_samples(record)
    # The chosen reply and its continuation are one sample; the other two choices one each.
    assert len(samples) == 3
    assert_samples_train_exactly_the_sampled_tokens(samples, recording.calls, engine.tokenizer)
    assert max(len(s.input_ids) for s in samples) == len(last.full_ids)


async def test_logprobs_are_the_recorded_logprobs_of_the_sampled_tokens(engine):
    gateway = tiny_gateway(engine)
    handle = gateway.open_episode("ep")
    client = handle.tuner.as_raw_openai_sdk_client()
    reply = await client.chat.completions.create(messages=USER, logprobs=True)
    plain = await client.chat.completions.create(messages=USER)
    [call, _] = handle.close().calls
    content = reply.choices[0].logprobs.content
    recorded = [
        (token, logprob)
        for token, logprob, mask in zip(
            call.response_ids, call.response_logprobs, call.response_mask
        )
        if mask
    ]
    assert [item.logprob for item in content] == [logprob for _, logprob in recorded]
    assert [item.token for item in content] == [
        engine.tokenizer.decode([token]) for token, _ in recorded
    ]
    assert all(item.logprob <= 0 for item in content)
    assert plain.choices[0].logprobs is None
    assert all(item.top_logprobs == [] for item in content)  # not asked for


async def test_top_logprobs_list_the_likeliest_tokens_of_the_sampled_distribution(engine):
    gateway = tiny_gateway(engine)
    handle = gateway.open_episode("ep")
    client = handle.tuner.as_raw_openai_sdk_client()
    reply = await client.chat.completions.create(messages=USER, logprobs=True, top_logprobs=3)
    handle.close()
    for item in reply.choices[0].logprobs.content:
        top = item.top_logprobs
        assert len(top) == 3
        assert [t.logprob for t in top] == sorted((t.logprob for t in top), reverse=True)
        # The sampled token is among them or less likely than all of them.
        assert item.token in [t.token for t in top] or item.logprob <= top[-1].logprob + 1e-6


TWO_CALLS = (
    WEATHER_CALL_TEXT
    + "\n"
    + '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Rome"}}\n</tool_call>'
)


@pytest.mark.parametrize("stream", [False, True])
async def test_parallel_tool_calls_false_ends_the_reply_after_its_first_call(stream):
    gateway = make_gateway(reply=lambda prompt: TWO_CALLS)
    handle = gateway.open_episode("ep")
    key = gateway.issue_key(handle.session, "agent")
    body = {"messages": USER, "tools": [WEATHER_TOOL]}
    both = await gateway.chat_completion(key, body)
    assert len(both["choices"][0]["message"]["tool_calls"]) == 2
    one = await gateway.chat_completion(
        key, body | {"parallel_tool_calls": False, "stream": stream}
    )
    if stream:
        events = [chunk async for chunk in one]
        deltas = [json.loads(e[6:]) for e in events[:-1]]
        calls = [
            c for d in deltas for c in d["choices"][0]["delta"].get("tool_calls") or [] if "id" in c
        ]
        assert len(calls) == 1 and deltas[-1]["choices"][0]["finish_reason"] == "tool_calls"
    else:
        [call] = one["choices"][0]["message"]["tool_calls"]
        assert json.loads(call["function"]["arguments"]) == {"city": "Paris"}
    recorded = handle.close().calls[1]
    # Generation stopped at the first call's end; the turn is closed at loss mask 0.
    assert "Rome" not in gateway.renderer.tokenizer.decode(recorded.response_ids)
    assert recorded.response_mask[-1] == 0 and recorded.finish_reason == "tool_calls"


async def test_n_choices_stream_as_indexed_choices():
    gateway = make_gateway(reply=lambda prompt: "Two ways to say it.")
    handle = gateway.open_episode("ep", seed=1)
    key = gateway.issue_key(handle.session, "agent")
    stream = await gateway.chat_completion(
        key, {"messages": USER, "n": 2, "stream": True, "stream_options": {"include_usage": True}}
    )
    events = [chunk async for chunk in stream]
    assert events[-1] == b"data: [DONE]\n\n"
    chunks = [json.loads(e[6:]) for e in events[:-1]]
    text = {0: "", 1: ""}
    finished = {}
    for chunk in chunks[:-1]:
        [choice] = chunk["choices"]
        text[choice["index"]] += choice["delta"].get("content") or ""
        if choice["finish_reason"]:
            finished[choice["index"]] = choice["finish_reason"]
    assert text == {0: "Two ways to say it.", 1: "Two ways to say it."}
    assert finished == {0: "stop", 1: "stop"}
    calls = handle.close().calls
    assert len(calls) == 2 and chunks[-1]["usage"]["completion_tokens"] == sum(
        sum(c.response_mask) for c in calls
    )
