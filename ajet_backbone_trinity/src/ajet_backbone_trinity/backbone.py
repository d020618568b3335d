"""The trinity backbone: AgentJet episodes under Trinity-RFT's explorer/trainer on Ray.

Only training runs through trinity. ``ajet rollout`` / ``ajet eval`` / ``ajet serve`` need an
engine in this process, which trinity's vLLM explorer is not: they raise ``BackboneNotReady``
(the CLI says to use ``--backbone debug`` for them).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ajet_backbone_trinity.translation import TrinityBackboneConfig
from ajet_core.backbone import Backbone

__all__ = ["TrinityBackbone", "TrinityBackboneConfig"]


class TrinityBackbone(Backbone):
    name = "trinity"
    config_model = TrinityBackboneConfig

    def train(
        self,
        *,
        resume: str | None = None,
        resolved: dict[str, Any],
        plugins: Any = None,
        show_progress: bool = True,
    ) -> Path:
        """Write the trinity config and run trinity on Ray (:mod:`ajet_backbone_trinity.launch`)."""
        from ajet_backbone_trinity.launch import train

        return train(self.config, resolved, resume=resume)
