"""The ``debug`` backbone: in-process, CPU or one GPU."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from ajet_core.backbone import BackboneConfig
from ajet_core.errors import ConfigError
from ajet_core.training.inprocess import InProcessBackbone


class DebugBackboneConfig(BackboneConfig):
    """Keys of the ``backbone:`` section when ``name: debug``."""

    # Rows decoded together at most; more concurrent requests wait for a free row.
    max_batch_size: int = Field(default=32, gt=0)
    # Seed of the engine's per-request RNGs for requests that bring no seed.
    engine_seed: int | None = None
    # "bf16": forward/backward under bf16 autocast (about 1.7x faster on CPU for SmolLM2).
    mixed_precision: Literal["no", "bf16"] = "no"
    # torch threads of the decode thread; None keeps torch's default (one per core).
    engine_threads: int | None = Field(default=None, gt=0)
    # "prefix_tree": samples sharing a token prefix (a GRPO group's prompt, a branched
    # timeline's history) are trained as one tree, the shared tokens computed once; same loss
    # and gradients as "none" (one padded row per sample).
    packing: Literal["prefix_tree", "none"] = "prefix_tree"

    @field_validator("mixed_precision", mode="before")
    @classmethod
    def _yaml_no_is_false(cls, value: Any) -> Any:
        # YAML 1.1 reads a bare `no` as false (`mixed_precision: no`,
        # `backbone.mixed_precision=no`).
        return "no" if value is False else value


class DebugBackbone(InProcessBackbone):
    """Generation and training in this process, on one module: the trainer updates the very
    weights the engine serves, between decode steps, so no copy is ever made."""

    name = "debug"
    options_model = DebugBackboneConfig

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
        seed = (
            options.engine_seed if options.engine_seed is not None else self.config.experiment.seed
        )
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

    def build_trainer(self, engine: Any) -> Any:
        """A :class:`PolicyTrainer` on the engine's own module; each step pauses decoding."""
        from ajet_backbone_debug.training.trainer import PolicyTrainer

        options: DebugBackboneConfig = self.options  # type: ignore[assignment]
        return PolicyTrainer(
            engine.model,
            self.config.trainer,
            temperature=self.config.rollout.temperature,
            tokenizer=engine.tokenizer,
            mixed_precision=options.mixed_precision,
            exclusive=engine.paused,
            packing=options.packing,
        )
