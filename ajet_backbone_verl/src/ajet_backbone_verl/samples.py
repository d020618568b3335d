"""Our training samples as verl rows: ``AgentLoopOutput``s, and ``DataProto`` padding.

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


def pad_rows_to_multiple(data: Any, multiple: int) -> tuple[Any, int]:
    """Append rows with an all-zero response mask until ``len(data)`` divides by ``multiple``.

    verl's own ``pad_dataproto_to_divisor`` repeats real rows, which would train some samples
    twice; a row whose mask is zero adds nothing to a token-mean or sequence-mean loss. Returns
    the padded batch and how many rows were added.
    """
    import numpy as np
    from verl import DataProto

    missing = (-len(data)) % multiple
    if missing == 0:
        return data, 0
    template = data[:1]
    filler_batch = {}
    for key, value in template.batch.items():
        filler = value.repeat(missing, *([1] * (value.dim() - 1))).clone()
        if key in (
            "response_mask",
            "attention_mask",
            "loss_mask",
            "rm_scores",
            "token_level_scores",
            "token_level_rewards",
            "advantages",
        ):
            filler.zero_()
        filler_batch[key] = filler
    if "attention_mask" in filler_batch:
        # Keep one attended token so attention stays well defined in every row.
        filler_batch["attention_mask"][:, -1] = 1
    non_tensor = {
        key: value[:1].repeat(missing, axis=0) for key, value in template.non_tensor_batch.items()
    }
    filler = DataProto.from_dict(
        tensors=filler_batch, non_tensors=non_tensor, meta_info=dict(data.meta_info)
    )
    filler.non_tensor_batch["ajet_padding"] = np.ones(missing, dtype=bool)
    data.non_tensor_batch.setdefault("ajet_padding", np.zeros(len(data), dtype=bool))
    return DataProto.concat([data, filler]), missing
