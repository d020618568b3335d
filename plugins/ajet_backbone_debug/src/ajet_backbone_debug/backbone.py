"""The ``debug`` backbone: in-process, CPU or one GPU."""

from __future__ import annotations

import copy
import os
from typing import Any, Literal

from pydantic import Field, field_validator

from ajet_core.backbone import BackboneConfig
from ajet_core.errors import ConfigError
from ajet_core.training.inprocess import InProcessBackbone

# Async mode on a CPU: the decode thread keeps one core and the trainer takes the rest. Decoding a
# small batch is latency-bound and gains little from a second thread, while the trainer's large
# matrix products use every core they get; and two thread pools sharing cores only spin.
ASYNC_ENGINE_THREADS = 1


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

    def _async(self) -> bool:
        return self.config.trainer.mode == "async"

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
            num_threads=options.engine_threads or (ASYNC_ENGINE_THREADS if self._async() else None),
        )

    def build_trainer(self, engine: Any) -> Any:
        """A :class:`PolicyTrainer`. Sync mode: on the engine's own module, each step pausing
        decoding (no copy). Async mode: on its own copy, so the engine decodes while it trains;
        after each step the engine takes the new weights between two decode steps."""
        from ajet_backbone_debug.training.trainer import PolicyTrainer

        options: DebugBackboneConfig = self.options  # type: ignore[assignment]
        common = dict(
            temperature=self.config.rollout.temperature,
            tokenizer=engine.tokenizer,
            mixed_precision=options.mixed_precision,
            packing=options.packing,
            publish=engine.update_weights,
        )
        if not self._async():
            return PolicyTrainer(
                engine.model, self.config.trainer, exclusive=engine.paused, **common
            )
        if self.config.trainer.lora.rank > 0:
            raise ConfigError(
                f"trainer.mode=async with trainer.lora.rank={self.config.trainer.lora.rank}: the "
                "debug backbone's asynchronous trainer publishes full weights to the engine and "
                "does not merge LoRA adapters yet; set trainer.lora.rank=0 or trainer.mode=sync"
            )
        engine_threads = engine.num_threads or ASYNC_ENGINE_THREADS
        return PolicyTrainer(
            copy.deepcopy(engine.model),
            self.config.trainer,
            own_copy=True,
            num_threads=max(1, (os.cpu_count() or 2) - engine_threads),
            **common,
        )
