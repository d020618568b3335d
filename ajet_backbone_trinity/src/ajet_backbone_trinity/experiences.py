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


def episodes_to_experiences(
    episodes: list[EpisodeRecord], *, kept_ids: set[str], run_id_base: int = 0, mode: str = "train"
) -> list[Any]:
    """Experiences of every successful episode, in draw order; ``kept_ids`` are the episodes
    whose group the core kept (their samples carry the core's advantage)."""
    experiences = []
    for episode in episodes:
        if not episode.ok:
            continue
        run = run_id_base + int(episode.metadata.get("draw", 0))
        train = mode == "train" and episode.episode_id in kept_ids
        for index, sample in enumerate(episode.samples):
            experiences.append(
                sample_to_experience(sample, episode, run=run, index=index, train=train, mode=mode)
            )
    return experiences
