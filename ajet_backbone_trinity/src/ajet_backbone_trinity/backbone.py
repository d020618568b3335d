"""The trinity backbone: AgentJet episodes under Trinity-RFT's explorer/trainer on Ray.

Only training runs through trinity. ``ajet rollout`` / ``ajet eval`` / ``ajet serve`` need an
engine in this process, which trinity's vLLM explorer is not: they raise ``BackboneNotReady``
(the CLI says to use ``--backbone debug`` for them).
"""

from __future__ import annotations

from typing import Any

from ajet_backbone_trinity.translation import TrinityBackboneConfig
from ajet_core.backbone import Backbone, TrainedRun
from ajet_core.config.plugin_sections import RunPlan

__all__ = ["TrinityBackbone", "TrinityBackboneConfig"]


class TrinityBackbone(Backbone):
    name = "trinity"
    options_model = TrinityBackboneConfig

    def train(
        self,
        *,
        resolved: RunPlan,
        resume: str | None = None,
        plugins: Any = None,
        show_progress: bool = True,
    ) -> TrainedRun:
        """Write the trinity config and run trinity on Ray (:mod:`ajet_backbone_trinity.launch`)."""
        from ajet_backbone_trinity.launch import train

        return TrainedRun(run_dir=train(self.config, resolved, resume=resume))
