"""The trinity backbone: AgentJet episodes under Trinity-RFT's explorer/trainer on Ray."""

from __future__ import annotations

from ajet_core.backbone import Backbone

from ajet_backbone_trinity.translation import TrinityBackboneConfig

__all__ = ["TrinityBackbone", "TrinityBackboneConfig"]


class TrinityBackbone(Backbone):
    name = "trinity"
    config_model = TrinityBackboneConfig
