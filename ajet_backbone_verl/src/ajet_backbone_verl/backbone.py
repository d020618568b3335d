"""The verl backbone (integration in progress: see this package's README)."""

from __future__ import annotations

from ajet_core.backbone import Backbone, BackboneConfig
from pydantic import ConfigDict


class VerlBackboneConfig(BackboneConfig):
    # verl's own keys pass through to its config unchanged.
    model_config = ConfigDict(extra="allow")


class VerlBackbone(Backbone):
    name = "verl"
    config_model = VerlBackboneConfig
