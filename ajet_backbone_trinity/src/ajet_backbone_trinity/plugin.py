"""Entry point of ajet-backbone-trinity: registrations only, no heavy imports.

``requires`` is checked against installed metadata by the plugin manager, so ``ajet plugins list``
reports "missing dependency" or "version mismatch" without importing trinity.
"""

from __future__ import annotations

from ajet_backbone_trinity.environment import INSTALL_HINT, TRINITY_REQUIREMENT
from ajet_core.hookspecs import hookimpl


@hookimpl
def ajet_register_backbones(registry):
    registry.add(
        "trinity",
        "ajet_backbone_trinity.backbone:TrinityBackbone",
        description="Trinity-RFT's asynchronous explorer/trainer on Ray",
        requires=[TRINITY_REQUIREMENT],
        install_hint=f"{INSTALL_HINT} (in an environment without verl 0.9: it pins transformers)",
    )
