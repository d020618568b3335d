"""The ``debug`` backbone: in-process, CPU or one GPU."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from ajet_core.backbone import Backbone, BackboneConfig, BackboneNotReady
from ajet_core.errors import ConfigError


class DebugBackboneConfig(BackboneConfig):
    """Keys of the ``backbone:`` section when ``name: debug``."""

    # Rows decoded together at most; more concurrent requests wait for a free row.
    max_batch_size: int = Field(default=32, gt=0)
    # Seed of the engine's per-request RNGs for requests that bring no seed.
    engine_seed: int | None = None
    # torch threads of the decode thread; None keeps torch's default (one per core).
    engine_threads: int | None = Field(default=None, gt=0)


class DebugBackbone(Backbone):
    name = "debug"
    config_model = DebugBackboneConfig

    def build_engine(self) -> Any:
        """A :class:`TransformersEngine` serving ``model.path`` with ``model.dtype``/``device``."""
        from ajet_backbone_debug.engine import TransformersEngine

        model = self.config.model
        if not model.path:
            raise ConfigError(
                "model.path is not set; the debug backbone needs a local model directory or .gguf "
                "file (make one with `ajet model init-tiny DIR` or `ajet model import-smollm2 DIR`)"
            )
        options: DebugBackboneConfig = self.options  # type: ignore[assignment]
        seed = options.engine_seed if options.engine_seed is not None else self.config.experiment.seed
        return TransformersEngine.from_path(
            model.path,
            dtype=model.dtype,
            device=model.device,
            max_model_len=model.max_model_len,
            trust_remote_code=model.trust_remote_code,
            max_batch_size=options.max_batch_size,
            seed=seed,
            num_threads=options.engine_threads,
        )

    def train(self, **kwargs: Any) -> Any:
        raise BackboneNotReady(self.name, "training")
