"""Entry point of ajet-backbone-trinity: registrations only, no heavy imports."""

from __future__ import annotations

from ajet_core.hookspecs import hookimpl


@hookimpl
def ajet_register_backbones(registry):
    registry.add(
        "trinity",
        "ajet_backbone_trinity.backbone:TrinityBackbone",
        description="Trinity-RFT's asynchronous explorer/trainer on Ray",
        requires=["trinity-rft>=0.6,<0.7"],
        install_hint="pip install 'ajet[trinity]' (trinity-rft 0.6.x; needs transformers>=5.12.1)",
    )
