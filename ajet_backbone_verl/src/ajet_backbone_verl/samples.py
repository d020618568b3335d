"""Our training samples as verl rows (``AgentLoopOutput``s).

A sample is ``input_ids`` with a loss mask. verl wants a prompt (left-padded) and a response
(right-padded) whose ``response_mask`` says what is trained; the cut is at the first trained
token, so everything after it (tool results, later user turns: mask 0) rides in the response,
exactly as verl's own multi-turn agent loops lay it out. The core's per-episode advantage
travels as the reward score of the row (see :mod:`ajet_backbone_verl.advantage`).
"""

from __future__ import annotations

from typing import Any

from ajet_core.schema import Sample


def sample_to_agent_loop_output(
    sample: Sample,
    *,
    response_length: int,
    extra: dict[str, Any] | None = None,
    score: float | None = None,
) -> Any:
    """One verl ``AgentLoopOutput`` for one sample; the response is cut at ``response_length``.
    Its score is the sample's advantage unless ``score`` is given (evaluation rows: the reward)."""
    from verl.experimental.agent_loop.agent_loop import AgentLoopMetrics, AgentLoopOutput

    cut = sample.prompt_length
    response = sample.input_ids[cut:][:response_length]
    logprobs = [float(x) for x in sample.old_logprobs[cut:][:response_length]]
    return AgentLoopOutput(
        prompt_ids=list(sample.input_ids[:cut]),
        response_ids=list(response),
        response_mask=list(sample.loss_mask[cut:][:response_length]),
        response_logprobs=logprobs,
        reward_score=float(sample.advantage if score is None else score),
        num_turns=2 * len(sample.call_ids),
        metrics=AgentLoopMetrics(),
        extra_fields={
            "ajet_episode_id": sample.episode_id,
            "ajet_agent": sample.agent,
            "ajet_target_tag": sample.target_tag,
            "ajet_call_ids": list(sample.call_ids),
            "ajet_truncated": len(sample.input_ids) - cut > response_length,
            "turn_scores": [],
            "tool_rewards": [],
            **(extra or {}),
        },
    )
