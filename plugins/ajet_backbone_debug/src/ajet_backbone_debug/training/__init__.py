"""The debug backbone's trainer: samples with advantages -> PPO-clip loss -> an in-place update.

``PolicyTrainer`` (in :mod:`.trainer`) is the entry point. Nothing heavy is imported here, so
``import ajet_backbone_debug.training`` stays cheap; import the sub-modules on use.
"""

from __future__ import annotations

__all__ = ["PolicyTrainer", "CheckpointError"]


def __getattr__(name: str):
    if name == "PolicyTrainer":
        from ajet_backbone_debug.training.trainer import PolicyTrainer

        return PolicyTrainer
    if name == "CheckpointError":
        from ajet_backbone_debug.training.checkpoint import CheckpointError

        return CheckpointError
    raise AttributeError(name)
