"""The backbone interface: who generates tokens and who updates the weights."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:  # pragma: no cover
    from ajet_core.config.models import AjetConfig
    from ajet_core.engine import Engine


class BackboneConfig(BaseModel):
    """Base of a backbone's own config section (``backbone:`` minus ``name``)."""

    model_config = ConfigDict(extra="forbid")


class Backbone:
    """A training backbone. ``debug`` runs in-process; ``verl``/``trinity`` drive their own loops.

    A backbone not implemented yet raises :class:`BackboneNotReady` from its methods, which the
    CLI reports as a clear one-line error.
    """

    name: ClassVar[str] = ""
    config_model: ClassVar[type[BackboneConfig]] = BackboneConfig

    def __init__(self, config: AjetConfig, options: BackboneConfig | None = None) -> None:
        self.config = config
        self.options = options if options is not None else self.config_model()

    def build_engine(self) -> Engine:
        raise BackboneNotReady(self.name, "serving a model (rollout/eval)")

    def train(self, **kwargs: Any) -> Any:
        raise BackboneNotReady(self.name, "training")

    def rollout(self, **kwargs: Any) -> Any:
        raise BackboneNotReady(self.name, "rollout without training")

    def evaluate(self, **kwargs: Any) -> Any:
        raise BackboneNotReady(self.name, "evaluation")

    def serve(self, **kwargs: Any) -> Any:
        raise BackboneNotReady(self.name, "serving a model over HTTP")


class BackboneNotReady(NotImplementedError):
    def __init__(self, backbone: str, what: str) -> None:
        super().__init__(
            f"backbone {backbone!r} does not support {what} yet in this release; use "
            "`--backbone debug` or follow the backbone package's README"
        )
