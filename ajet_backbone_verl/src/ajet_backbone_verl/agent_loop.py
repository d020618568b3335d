"""An ajet episode as a verl agent loop (registered in verl's agent-loop registry as ``ajet``).

verl's ``AgentLoopWorker`` hands each dataset row to an agent loop; ours runs the user's ajet
workflow for the row's task through our gateway, whose engine is verl's own server client
(:class:`~ajet_backbone_verl.engine.VerlServerEngine`). The episode is judged, turned into
samples by the configured tracker, and waits for the rest of its group so the core computes the
advantages (:mod:`ajet_backbone_verl.groups`). Each sample becomes one verl row.

Rows per episode: verl's v1 trainer (``trainer.use_v1=true``, verl 0.9's default) takes a list of
outputs per agent-loop call, so an episode may yield several samples (several agents, forks). A
failed episode, or one whose group was dropped, yields one row that trains nothing (response mask
all 0) so every call returns something. The legacy trainer takes exactly one row per call.
"""

from __future__ import annotations

import uuid
from typing import Any

from verl.experimental.agent_loop.agent_loop import (
    AgentLoopBase,
    AgentLoopMetrics,
    AgentLoopOutput,
    register,
)

from ajet_backbone_verl.routing import request_key
from ajet_backbone_verl.runtime import AjetRuntime
from ajet_backbone_verl.samples import sample_to_agent_loop_output
from ajet_core.rollout.advantages import assign_grpo_advantages
from ajet_core.rollout.runner import EVAL_MODE, TRAIN_MODE
from ajet_core.schema import EpisodeRecord, Task

AGENT_LOOP_NAME = "ajet"
# Dataset rows carry the ajet task in extra_info (see ajet_backbone_verl.data).
TASK_FIELD = "ajet_task"
SPLIT_FIELD = "ajet_split"


def weight_versions(record: EpisodeRecord) -> dict[str, int]:
    """The oldest and newest policy versions the episode sampled from (verl's v1 trainer tags rows
    with them and measures staleness); an episode whose server reported none is of the current
    step's weights, i.e. the previous step's update."""
    versions = [c.weight_version for c in record.calls if c.weight_version is not None]
    fallback = max(record.step - 1, 0)
    return {
        "min_global_steps": min(versions, default=fallback),
        "max_global_steps": max(versions, default=fallback),
    }


@register(AGENT_LOOP_NAME)
class AjetAgentLoop(AgentLoopBase):
    def __init__(
        self,
        *args: Any,
        ajet_config_path: str | None = None,
        ajet_working_dir: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        if not ajet_config_path:
            raise ValueError(
                "the 'ajet' agent loop needs ajet_config_path (set by `ajet train --backbone verl` "
                "in the agent-loop config file it writes); run through ajet, not verl's own entry "
                "point"
            )
        self.runtime = AjetRuntime.for_config(ajet_config_path, working_dir=ajet_working_dir)

    @property
    def max_model_len(self) -> int:
        return self.runtime.config.model.max_model_len

    async def run(
        self, sampling_params: dict[str, Any], **kwargs: Any
    ) -> AgentLoopOutput | list[AgentLoopOutput]:
        extra_info = dict(kwargs.get("extra_info") or {})
        if TASK_FIELD not in extra_info:
            raise ValueError(
                f"dataset row has no extra_info.{TASK_FIELD}; the 'ajet' agent loop reads tasks "
                "written by ajet_backbone_verl.data (use `ajet train --backbone verl`)"
            )
        task = Task.model_validate_json(extra_info[TASK_FIELD])
        mode = EVAL_MODE if extra_info.get(SPLIT_FIELD) == "validation" else TRAIN_MODE
        step = int(kwargs.get("global_steps", 0) or 0)
        group_key = f"verl/{mode}/{step}/{kwargs.get('uid', task.task_id)}"
        groups = self.runtime.groups
        draw = int(kwargs["session_id"]) if "session_id" in kwargs else groups.next_draw(group_key)

        runner = self.runtime.runner(
            mode,
            self.server_manager,
            self.tokenizer,
            self.max_model_len,
            str(self.rollout_config.name),
        )
        sticky = request_key.set(uuid.uuid4().hex)  # this episode's calls stay on one server
        try:
            # rollout.max_concurrency episodes at once per agent-loop worker; a finished episode
            # frees its slot before it waits for its group.
            async with self.runtime.episode_slots:
                record = await runner.run_episode(task, step=step, mode=mode, draw=draw)
        finally:
            request_key.reset(sticky)
        record.group_key = group_key
        if mode == TRAIN_MODE:
            rollout = self.runtime.config.rollout
            await groups.settle(
                group_key,
                record,
                expected=int(self.rollout_config.n),
                timeout=2 * rollout.episode_timeout,
                assign=self._assign_advantages,
            )
        self.runtime.log_episode(record, mode)  # with its advantage, once the group is settled
        outputs = self._rows(record, trained=mode == TRAIN_MODE)
        if self.config.trainer.get("use_v1", True):
            return outputs
        if len(outputs) != 1:
            raise ValueError(
                f"episode {record.episode_id} produced {len(outputs)} samples, but verl's legacy "
                "trainer takes one row per episode; use verl's v1 trainer (trainer.use_v1=true, "
                "the default)"
            )
        return outputs[0]

    def _assign_advantages(self, members: list[EpisodeRecord]) -> None:
        rollout = self.runtime.config.rollout
        kept, _ = assign_grpo_advantages(
            members,
            equal_reward_groups=rollout.equal_reward_groups,
            min_valid_group_size=rollout.min_valid_group_size,
        )
        for episode in kept:
            episode.metadata["ajet_trained"] = True

    def _rows(self, record: EpisodeRecord, *, trained: bool) -> list[AgentLoopOutput]:
        reward = float(record.reward or 0.0)
        # verl copies the last row's reward_extra_info onto the episode's other rows and turns its
        # keys into batch columns: every row carries the same keys.
        extra = {
            "ajet_reward": reward,
            "ajet_error": record.error or "",
            "reward_extra_info": {"ajet_reward": reward},
            **weight_versions(record),
        }
        keep = record.ok and record.samples and (not trained or record.metadata.get("ajet_trained"))
        if keep:
            # Training rows score the advantage; evaluation rows the reward (verl's validation
            # metrics read the score).
            score = None if trained else reward
            return [
                sample_to_agent_loop_output(
                    s,
                    response_length=int(self.rollout_config.response_length),
                    extra=extra,
                    score=score,
                )
                for s in record.samples
            ]
        return [self._untrained_row(record, extra, trained=trained)]

    def _untrained_row(
        self, record: EpisodeRecord, extra: dict[str, Any], *, trained: bool
    ) -> AgentLoopOutput:
        """A row that trains nothing: failed episodes and dropped groups still answer verl."""
        first_call = next((c for c in record.calls if c.prompt_ids), None)
        prompt = list(first_call.prompt_ids) if first_call else [self.tokenizer.pad_token_id or 0]
        return AgentLoopOutput(
            prompt_ids=prompt[-int(self.rollout_config.prompt_length) :],
            response_ids=[self.tokenizer.pad_token_id or 0],
            response_mask=[0],
            response_logprobs=[0.0],
            reward_score=0.0 if trained else float(record.reward or 0.0),
            num_turns=0,
            metrics=AgentLoopMetrics(),
            extra_fields={
                "ajet_episode_id": record.episode_id,
                "ajet_untrained": True,
                "turn_scores": [],
                "tool_rewards": [],
                **extra,
            },
        )
