"""Trinity's advantage stage, fed the core's per-episode GRPO advantages.

The core computes advantages per episode over its group (DESIGN section 6), so every backbone
trains the same numbers. Trinity's own ``grpo`` advantage normalises per *experience*, which is
the same thing only while every episode yields exactly one sample; with timeline merging an
episode may yield several (branches, other agents), and those would be weighted by their count.
So the translated config names this class as ``algorithm.advantage_fn`` (trinity's registry
imports it by dotted path): it copies the advantage the workflow stored on each experience; the
experiences of groups the core dropped get advantage 0 (they stay, so every step is a whole batch).
"""

from __future__ import annotations

from typing import Any

from trinity.algorithm.advantage_fn.advantage_fn import GroupAdvantage
from trinity.common.experience import group_by

from ajet_backbone_trinity.experiences import ADVANTAGE, TRAIN
from ajet_backbone_trinity.translation import ADVANTAGE_FN_PATH


class AjetEpisodeAdvantage(GroupAdvantage):
    def __init__(self, **_: Any) -> None:
        pass

    @classmethod
    def default_args(cls) -> dict:
        return {}

    def group_experiences(self, exps):
        return group_by(exps, id_type="task")

    def calculate_group_advantage(self, group_id: str, exps: list) -> tuple[list, dict]:
        missing = [exp.eid.uid for exp in exps if ADVANTAGE not in exp.info]
        if missing:
            raise ValueError(
                f"experiences {missing[:3]} carry no AgentJet advantage; {ADVANTAGE_FN_PATH} only "
                "works with experiences from ajet_backbone_trinity.workflow.AjetEpisodeWorkflow "
                "(use trinity's 'grpo' advantage_fn for other workflows)"
            )
        dropped = 0
        for exp in exps:
            # A group the core dropped stays in the batch with advantage 0: trinity's trainer reads
            # exactly train_batch_size experiences per step and would wait for missing ones.
            trained = exp.info.get(TRAIN, True)
            dropped += not trained
            advantage = float(exp.info[ADVANTAGE]) if trained else 0.0
            exp.advantages = advantage * exp.action_mask.float()
            exp.returns = exp.advantages.clone()
        return exps, {
            "dropped_experiences": float(dropped),
            "kept_experiences": float(len(exps) - dropped),
        }
