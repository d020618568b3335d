"""Make the CPU engine known to verl; run by our ``verl.plugins`` entry point at ``import verl``
in the driver and in every Ray worker.

The rollout name is always registered (cheap: verl resolves both entries by name, on use). The
platform and the patches only when the run selected the CPU platform (``VERL_PLATFORM=cpu``, set
for the driver and every worker by the backbone in this mode), so a GPU run is untouched.
"""

from __future__ import annotations

import os

from ajet_backbone_verl.cpu.settings import PLATFORM_VARIABLE, ROLLOUT_NAME

ADAPTER = "ajet_backbone_verl.cpu.replica.CpuServerAdapter"


def _load_replica() -> type:
    from ajet_backbone_verl.cpu.replica import CpuRolloutReplica

    return CpuRolloutReplica


def cpu_platform_selected() -> bool:
    from ajet_backbone_verl.cpu.platform import PLATFORM_NAME

    return os.environ.get(PLATFORM_VARIABLE, "").strip().lower() == PLATFORM_NAME


def register() -> None:
    from verl.workers.rollout import base
    from verl.workers.rollout.replica import RolloutReplicaRegistry

    RolloutReplicaRegistry.register(ROLLOUT_NAME, _load_replica)
    # verl has no register function for worker-side adapters; its lookup table is this dict
    # (verl/workers/rollout/base.py:89, read by get_rollout_class).
    base._ROLLOUT_REGISTRY[(ROLLOUT_NAME, "async")] = ADAPTER
    if cpu_platform_selected():
        from ajet_backbone_verl.cpu import patches, platform

        platform.register()
        patches.apply()
