"""Loss masks and merging on hand-built calls: every rule of DESIGN section 6."""

from __future__ import annotations

import itertools

import pytest

from ajet_core.config.models import AjetConfig
from ajet_core.schema import EpisodeRecord, LlmCall, Task
from ajet_core.testing.fixtures import isolated_plugin_manager
from ajet_core.tracking.per_call import PerCallTracker
from ajet_core.tracking.timeline_merge import TimelineMergeTracker

_clock = itertools.count(1)
_logprob = itertools.count(1)


def call(
    call_id, prompt, response, *, mask=None, agent="a", tag=None, trainable=True, started_at=None
):
    mask = mask or [1] * len(response)
    return LlmCall(
        call_id=call_id,
        agent=agent,
        target_tag=tag or agent,
        trainable=trainable,
        prompt_ids=list(prompt),
        response_ids=list(response),
        # distinct logprobs, so a misaligned copy is caught; 0.0 where the gateway added tokens
        response_logprobs=[-next(_logprob) / 100 if m else 0.0 for m in mask],
        temperature=1.0,
        finish_reason="stop",
        messages=[],
        response_mask=list(mask),
        started_at=started_at if started_at is not None else next(_clock),
    )


def episode(*calls):
    return EpisodeRecord(
        episode_id="ep", task=Task(), group_key="g", calls=list(calls), reward=1.0, advantage=0.5
    )


def trained(samples):
    """{(sample index, position): (token, old logprob)} for every trained position."""
    return {
        (i, p): (s.input_ids[p], s.old_logprobs[p])
        for i, s in enumerate(samples)
        for p, m in enumerate(s.loss_mask)
        if m
    }


def trained_tokens_per_call(samples, calls):
    """Each call's sampled tokens as found in the samples: (call id, offset) -> (token, logprob)."""
    found = {}
    by_id = {c.call_id: c for c in calls}
    for sample in samples:
        for call_id in sample.call_ids:
            c = by_id[call_id]
            start = len(c.prompt_ids)
            for offset, m in enumerate(c.response_mask):
                position = start + offset
                if m and position < len(sample) and sample.loss_mask[position]:
                    key = (call_id, offset)
                    assert key not in found, f"{key} trained twice"
                    found[key] = (sample.input_ids[position], sample.old_logprobs[position])
    return found


def assert_same_training_signal(calls):
    per_call = PerCallTracker().build_samples(episode(*calls))
    merged = TimelineMergeTracker().build_samples(episode(*calls))
    assert trained_tokens_per_call(per_call, calls) == trained_tokens_per_call(merged, calls)
    assert sum(s.num_trained_tokens for s in per_call) == sum(s.num_trained_tokens for s in merged)
    return per_call, merged


def test_per_call_makes_one_sample_per_trainable_call_with_masks_on_sampled_tokens():
    a = call("a", [1, 2, 3], [10, 11, 99])
    b = call("b", [1, 2, 3, 10, 11, 99, 5], [12, 99])
    samples = PerCallTracker().build_samples(episode(a, b))
    assert [s.input_ids for s in samples] == [a.full_ids, b.full_ids]
    assert samples[0].loss_mask == [0, 0, 0, 1, 1, 1]
    assert samples[0].old_logprobs == [0.0] * 3 + a.response_logprobs
    assert samples[1].loss_mask == [0] * 7 + [1, 1]
    assert (
        samples[0].reward,
        samples[0].advantage,
        samples[0].group_key,
        samples[0].episode_id,
    ) == (1.0, 0.5, "g", "ep")


def test_a_chain_of_calls_becomes_one_sample():
    a = call("a", [1, 2], [10, 99])
    b = call("b", [1, 2, 10, 99, 5, 6], [11, 99])
    c = call("c", [1, 2, 10, 99, 5, 6, 11, 99, 7], [12, 13, 99])
    per_call, merged = assert_same_training_signal([a, b, c])
    [sample] = merged
    assert sample.input_ids == c.full_ids and sample.call_ids == ["a", "b", "c"]
    assert sample.loss_mask == [0, 0, 1, 1, 0, 0, 1, 1, 0, 1, 1, 1]
    assert (
        sample.old_logprobs[2:4] == a.response_logprobs
        and sample.old_logprobs[9:] == c.response_logprobs
    )
    assert len(per_call) == 3
    assert sum(map(len, per_call)) > len(sample)


def test_a_fork_trains_the_shared_call_exactly_once():
    a = call("a", [1, 2], [10, 99])
    b = call("b", [1, 2, 10, 99, 5], [11, 99])  # continues a
    c = call("c", [1, 2, 10, 99, 6], [12, 99])  # a retry from the same point
    _, merged = assert_same_training_signal([a, b, c])
    assert [s.call_ids for s in merged] == [["a", "b"], ["c"]]
    assert merged[1].loss_mask == [0, 0, 0, 0, 0, 1, 1]  # a's tokens are context here


def test_branches_and_other_agents_stay_separate():
    a = call("a", [1, 2], [10, 99])
    rewrite = call("rewrite", [1, 3, 4], [11, 99])  # memory rewritten: not a prefix
    other = call("other", [1, 2, 10, 99, 5], [12, 99], agent="critic")  # same tokens, another agent
    _, merged = assert_same_training_signal([a, rewrite, other])
    assert sorted(s.call_ids[0] for s in merged) == ["a", "other", "rewrite"]
    assert {s.agent for s in merged} == {"a", "critic"}


def test_untrained_agents_produce_no_samples():
    a = call("a", [1, 2], [10, 99])
    judge = call("j", [1, 2, 10, 99, 4], [11, 99], agent="judge", trainable=False)
    for tracker in (PerCallTracker(), TimelineMergeTracker()):
        assert [s.call_ids for s in tracker.build_samples(episode(a, judge))] == [["a"]]


def test_a_length_cut_reply_never_trains_the_closing_the_gateway_added():
    eot = [99, 50]  # <|im_end|>\n added at mask 0
    cut = call("cut", [1, 2], [10, 11] + eot, mask=[1, 1, 0, 0])
    later = call("later", [1, 2, 10, 11, 99, 50, 7], [12, 99])
    _, merged = assert_same_training_signal([cut, later])
    [sample] = merged
    assert sample.loss_mask == [0, 0, 1, 1, 0, 0, 0, 1, 1]
    assert sample.old_logprobs[4:6] == [0.0, 0.0]


def test_parallel_calls_merge_by_when_they_started_not_when_they_finished():
    a = call("a", [1, 2], [10, 99], started_at=1.0)
    x = call("x", [1, 2, 10, 99, 5], [11, 12, 99], started_at=3.0)
    y = call("y", [1, 2, 10, 99, 6], [13, 99], started_at=2.0)
    z = call("z", [1, 2, 10, 99, 6, 13, 99, 7], [14, 99], started_at=4.0)
    # Recorded in finish order: y's child z finished before the slower sibling x.
    _, merged = assert_same_training_signal([a, z, x, y])
    assert sorted(s.call_ids for s in merged) == [["a", "y", "z"], ["x"]]


def test_a_call_is_attached_to_its_closest_ancestor():
    a = call("a", [1], [10, 99])
    b = call("b", [1, 10, 99, 2], [11, 99])
    c = call("c", [1, 10, 99, 2, 11, 99, 3], [12, 99])  # a is also a prefix of c; b is closer
    d = call("d", [1, 10, 99, 4], [13, 99])  # second child of a
    _, merged = assert_same_training_signal([a, b, c, d])
    assert sorted(s.call_ids for s in merged) == [["a", "b", "c"], ["d"]]


def test_a_call_whose_response_differs_is_not_merged():
    a = call("a", [1, 2], [10, 99])
    b = call("b", [1, 2, 10, 98, 5], [11, 99])  # prompt has another token where a's reply was
    _, merged = assert_same_training_signal([a, b])
    assert len(merged) == 2


@pytest.mark.parametrize("mode", ["split", "truncate"])
def test_overlong_samples(mode):
    a = call("a", [1, 2], [10, 99])  # 4 tokens
    b = call("b", [1, 2, 10, 99, 3], [11, 12, 99])  # 8 tokens
    c = call("c", [1, 2, 10, 99, 3, 11, 12, 99, 4], [13, 14, 15, 99])  # 13 tokens
    record = episode(a, b, c)
    samples = TimelineMergeTracker(max_sample_tokens=10, overlong=mode).build_samples(record)
    assert all(len(s) <= 10 for s in samples)
    stats = record.metadata["tracker"]
    # Tokens past position 10 have no sample that fits; everything before it is trained once.
    assert stats["trained_tokens"] == 2 + 3 + 1 and stats["dropped_tokens"] == 3
    if mode == "split":
        assert [s.call_ids for s in samples] == [["a", "b"], ["c"]]
        assert samples[1].loss_mask == [0] * 9 + [1]
    else:
        assert [s.call_ids for s in samples] == [["a", "b", "c"]]
    assert stats["truncated_samples"] == 1


def test_a_call_entirely_past_the_limit_is_dropped_and_counted():
    a = call("a", list(range(20)), [10, 99])
    record = episode(a)
    assert PerCallTracker(max_sample_tokens=10).build_samples(record) == []
    assert record.metadata["tracker"]["empty_samples_dropped"] == 1


def test_built_from_the_config_and_registered_as_plugins():
    config = AjetConfig.model_validate(
        {"tracker": {"type": "per_call", "max_sample_tokens": 64, "overlong": "truncate"}}
    )
    tracker = TimelineMergeTracker.from_config(config)
    assert (tracker.max_sample_tokens, tracker.overlong) == (64, "truncate")
    with isolated_plugin_manager() as plugins:
        assert plugins.load_object("tracker", "per_call") is PerCallTracker
        assert plugins.load_object("tracker", "timeline_merge") is TimelineMergeTracker
    with pytest.raises(ValueError, match="overlong"):
        TimelineMergeTracker(overlong="wrap")
