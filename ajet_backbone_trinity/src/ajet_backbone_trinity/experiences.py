"""Trinity ``Experience``s built from our samples, one per sample.

A sample is ``input_ids`` with a loss mask over the whole sequence (1 exactly on the tokens the
policy sampled). Trinity splits a sequence into a prompt (``prompt_length`` tokens, never
trained) and a response with ``action_mask`` and ``logprobs`` per response token. The prompt is
everything before the first trained token; from there on the loss mask *is* the action mask, so
tool results and user turns inside a merged conversation stay untrained (mask 0) exactly as in
the other backbones.

Identifiers: trinity groups experiences by ``eid.tid`` (explorer step / task), which is our GRPO
group (one task's draws at one step); ``eid.run`` is the draw (the episode within the group) and
``eid.step`` numbers the samples of one episode. The AgentJet episode id and group key ride along
in ``info``, with the core's advantage, so trinity's advantage stage can use the core's numbers
(:mod:`ajet_backbone_trinity.advantage`).

Placeholders: trinity's trainer reads exactly ``buffer.train_batch_size`` experiences per step and,
when fewer ever come, waits ``max_read_timeout`` and then ends training as if it had finished. So an
episode that yields no sample (it failed, or made no trainable call) still sends one experience: a
two-token placeholder with an all-zero action mask and advantage 0, which adds nothing to the loss
(the verl backbone pads its batches the same way). Placeholders are flagged in ``info`` and counted
as ``samples/placeholders`` in our metrics.
"""

from __future__ import annotations

from typing import Any

from ajet_core import metrics as m
from ajet_core.schema import EpisodeRecord, Sample

# Keys this backbone puts in Experience.info.
EPISODE_ID = "ajet_episode_id"
GROUP_KEY = "ajet_group_key"
ADVANTAGE = "ajet_advantage"
# False for samples of groups the core dropped (equal rewards, too few valid episodes): trinity
# needs at least one experience per task, so they travel with the batch and the advantage stage
# leaves them out of training.
TRAIN = "ajet_train"
# True on the stand-in experience of an episode that yielded no sample.
PLACEHOLDER = "ajet_placeholder"
# Episode metadata: how many placeholder experiences stood in for the episode (0 or 1).
PLACEHOLDER_COUNT = "ajet_placeholder_experiences"


def episode_metrics(episode: EpisodeRecord, *, mode: str) -> dict[str, float]:
    """Per-episode numbers under the metric names every backbone uses (trinity averages them)."""
    reward = float(episode.reward or 0.0)
    success = float(bool(episode.is_success))
    if mode == "eval":
        return {m.EVAL_REWARD_MEAN: reward, m.EVAL_PASS_AT_1: success}
    return {
        m.REWARD_MEAN: reward,
        m.SUCCESS_RATE: success,
        m.LLM_CALLS: float(len(episode.calls)),
        m.RESPONSE_TOKENS: float(sum(len(call.response_ids) for call in episode.calls)),
        m.DRIFT_FALLBACKS: float(episode.drift_fallbacks),
        m.SAMPLES_PER_EPISODE: float(len(episode.samples)),
    }


def sample_to_experience(
    sample: Sample,
    episode: EpisodeRecord,
    *,
    run: int,
    index: int,
    train: bool,
    mode: str = "train",
) -> Any:
    import torch
    from trinity.common.experience import EID, Experience

    start = sample.prompt_length
    action_mask = torch.tensor(sample.loss_mask[start:], dtype=torch.bool)
    logprobs = torch.tensor(sample.old_logprobs[start:], dtype=torch.float32)
    advantage = float(sample.advantage) if train else 0.0
    advantages = advantage * action_mask.to(torch.float32)
    info: dict[str, Any] = {
        EPISODE_ID: episode.episode_id,
        GROUP_KEY: episode.group_key,
        ADVANTAGE: advantage,
        TRAIN: train,
        "ajet_task_id": episode.task.task_id,
        "agent": sample.agent,
        "target_tag": sample.target_tag,
        "call_ids": list(sample.call_ids),
    }
    return Experience(
        eid=EID(run=run, step=index),
        tokens=torch.tensor(sample.input_ids, dtype=torch.int32),
        prompt_length=start,
        logprobs=logprobs,
        action_mask=action_mask,
        reward=float(episode.reward or 0.0),
        advantages=advantages,
        returns=advantages.clone(),
        info=info,
        metrics=episode_metrics(episode, mode=mode),
    )


def placeholder_experience(episode: EpisodeRecord, *, run: int, token_id: int, mode: str) -> Any:
    """The zero-weight experience sent for an episode without samples (see the module doc)."""
    import torch
    from trinity.common.experience import EID, Experience

    zeros = torch.zeros(1, dtype=torch.float32)
    return Experience(
        eid=EID(run=run, step=0),
        # One prompt token and one untrained response token: the smallest sequence trinity's
        # trainer pads and batches like any other.
        tokens=torch.tensor([token_id, token_id], dtype=torch.int32),
        prompt_length=1,
        logprobs=zeros.clone(),
        action_mask=torch.zeros(1, dtype=torch.bool),
        reward=0.0,
        advantages=zeros.clone(),
        returns=zeros.clone(),
        info={
            EPISODE_ID: episode.episode_id,
            GROUP_KEY: episode.group_key,
            ADVANTAGE: 0.0,
            TRAIN: False,
            PLACEHOLDER: True,
            "ajet_task_id": episode.task.task_id,
            "ajet_error": (episode.error or "no trainable calls")[:500],
        },
        metrics=episode_metrics(episode, mode=mode),
    )


def needs_placeholder(episode: EpisodeRecord) -> bool:
    return not episode.ok or not episode.samples


def placeholder_metrics(mode: str, episodes: list[EpisodeRecord]) -> dict[str, float]:
    """``samples/placeholders`` of a training step, from the marks the workers spooled."""
    if mode != "train":
        return {}
    return {m.PLACEHOLDERS: float(sum(e.metadata.get(PLACEHOLDER_COUNT, 0) for e in episodes))}


def episodes_to_experiences(
    episodes: list[EpisodeRecord],
    *,
    kept_ids: set[str],
    placeholder_token_id: int,
    run_id_base: int = 0,
    mode: str = "train",
) -> list[Any]:
    """One experience per sample of every episode, in draw order, and a placeholder for each
    episode without samples, so a group of ``n`` episodes always sends at least ``n``.
    ``kept_ids`` are the episodes whose group the core kept (their samples carry the core's
    advantage)."""
    experiences = []
    for episode in episodes:
        run = run_id_base + int(episode.metadata.get("draw", 0))
        if needs_placeholder(episode):
            experiences.append(
                placeholder_experience(episode, run=run, token_id=placeholder_token_id, mode=mode)
            )
            continue
        train = mode == "train" and episode.episode_id in kept_ids
        for index, sample in enumerate(episode.samples):
            experiences.append(
                sample_to_experience(sample, episode, run=run, index=index, train=train, mode=mode)
            )
    return experiences
