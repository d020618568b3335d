"""The debug backbone's transformers engine: KV-cache generation with continuous batching."""

from ajet_backbone_debug.engine.engine import TransformersEngine

__all__ = ["TransformersEngine"]
