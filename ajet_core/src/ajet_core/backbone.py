"""The backbone interface: who generates tokens and who updates the weights.

Every command receives the run's :class:`~ajet_core.config.plugin_sections.RunPlan` (the config
and the plugins it selects) and says what it returns, so the CLI and the tests rely on one
contract whichever backbone runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict

from ajet_core.plugin_options import PluginWithOptions

if TYPE_CHECKING:  # pragma: no cover
    from ajet_core.config.models import AjetConfig
    from ajet_core.config.plugin_sections import RunPlan
    from ajet_core.engine import Engine
    from ajet_core.schema import EpisodeRecord


class BackboneConfig(BaseModel):
    """Base of a backbone's own config section (``backbone:`` minus ``name``)."""

    model_config = ConfigDict(extra="forbid")


class Backbone(PluginWithOptions):
    """A training backbone. ``debug`` runs in-process; ``verl``/``trinity`` drive their own loops.

    A backbone not implemented yet raises :class:`BackboneNotReady` from its methods, which the
    CLI reports as a clear one-line error.
    """

    name: ClassVar[str] = ""
    options_model: ClassVar[type[BackboneConfig]] = BackboneConfig

    def __init__(self, config: AjetConfig, options: BackboneConfig | None = None) -> None:
        self.config = config
        self.options = options if options is not None else self.options_model()

    def build_engine(self) -> Engine:
        raise BackboneNotReady(self.name, "serving a model (rollout/eval)")

    def train(self, *, resolved: RunPlan, resume: str | None = None) -> TrainedRun:
        """Train; returns where the run's folder is (and, in-process, how far it got)."""
        raise BackboneNotReady(self.name, "training")

    def rollout(
        self,
        *,
        resolved: RunPlan,
        split: str = "train",
        num_tasks: int | None = None,
        num_repeat: int = 1,
    ) -> list[EpisodeRecord]:
        """Run episodes without training; returns them."""
        raise BackboneNotReady(self.name, "rollout without training")

    def evaluate(
        self, *, resolved: RunPlan, checkpoint: str | None = None
    ) -> dict[str, Any] | TrainedRun:
        """Evaluate the base model or a checkpoint: returns the eval metrics (in-process), or the
        run whose metrics.jsonl holds them (backbones that evaluate on a cluster)."""
        raise BackboneNotReady(self.name, "evaluation")

    def serve(
        self,
        *,
        checkpoint: str | None = None,
        host: str = "127.0.0.1",
        port: int = 8000,
        api_key: str | None = None,
        model_name: str = "ajet-policy",
    ) -> None:
        """Serve the policy over HTTP until interrupted."""
        raise BackboneNotReady(self.name, "serving a model over HTTP")


@dataclass
class TrainedRun:
    """What ``Backbone.train`` returns: the run folder (config.yaml, metrics.jsonl, records/)."""

    run_dir: Path


class BackboneNotReady(NotImplementedError):
    def __init__(self, backbone: str, what: str) -> None:
        super().__init__(
            f"backbone {backbone!r} does not support {what} yet in this release; use "
            "`--backbone debug` or follow the backbone package's README"
        )


def build_backbone(plan: RunPlan) -> Backbone:
    """The backbone a run plan selects, built as every run command builds it."""
    from ajet_core.errors import ConfigError

    if plan.backbone is None:
        raise ConfigError("this run plan was made without its backbone section")
    return plan.backbone.implementation(plan.config, plan.backbone.options)
