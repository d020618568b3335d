"""Entry point of ajet-backbone-verl: registrations only, no heavy imports.

``requires`` is checked against installed metadata by the plugin manager, so ``ajet plugins list``
reports "missing dependency" or "version mismatch" without importing verl.
"""

from __future__ import annotations

from ajet_backbone_verl.environment import VERL_REQUIREMENT, install_hint
from ajet_core.hookspecs import hookimpl


@hookimpl
def ajet_register_backbones(registry):
    registry.add(
        "verl",
        "ajet_backbone_verl.backbone:VerlBackbone",
        description="verl on Ray: FSDP/Megatron training, vLLM/SGLang rollout",
        requires=[VERL_REQUIREMENT],
        install_hint=install_hint(),
    )
