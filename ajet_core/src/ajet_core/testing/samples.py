"""Checks for model-client adapters and trackers: what a sample trains is what the model sampled.

Use them in tests that run an agent through the gateway and build samples from its calls.
"""

from __future__ import annotations

from typing import Any

from ajet_core.schema import LlmCall, Sample


def sampled_ids(call: LlmCall) -> list[int]:
    """The tokens of a call's response that the policy sampled (loss mask 1)."""
    return [token for token, sampled in zip(call.response_ids, call.response_mask or []) if sampled]


def assert_samples_train_exactly_the_sampled_tokens(
    samples: list[Sample], calls: list[LlmCall], tokenizer: Any
) -> None:
    """Each sample trains on exactly its calls' sampled tokens, in order, and they decode to the
    replies the model wrote (each with its end-of-turn token)."""
    by_id = {call.call_id: call for call in calls}
    assert samples, "no samples were built"
    for sample in samples:
        trained = [token for token, mask in zip(sample.input_ids, sample.loss_mask) if mask]
        expected = [token for call_id in sample.call_ids for token in sampled_ids(by_id[call_id])]
        assert trained == expected
        assert sum(sample.loss_mask) == len(expected)  # masks are 0/1
        assert tokenizer.decode(trained) == "".join(
            tokenizer.decode(sampled_ids(by_id[c])) for c in sample.call_ids
        )
