"""The trinity backbone (integration in progress: see this package's README)."""

from __future__ import annotations

from ajet_core.backbone import Backbone, BackboneConfig
from pydantic import ConfigDict


class TrinityBackboneConfig(BackboneConfig):
    # trinity's own keys pass through to its config unchanged.
    model_config = ConfigDict(extra="allow")


class TrinityBackbone(Backbone):
    name = "trinity"
    config_model = TrinityBackboneConfig
