"""The ``backbone:`` section of a run that uses verl (validated at config load)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field

from ajet_core.backbone import BackboneConfig


class VerlBackboneConfig(BackboneConfig):
    # Any other key is a verl key, passed through to verl's Hydra config as it is
    # (``actor_rollout_ref.actor.entropy_coeff: 0.001``, or nested mappings).
    model_config = ConfigDict(extra="allow")

    # "cpu": verl's own trainer on a machine without a GPU, the policy served by the debug
    # backbone's engine (ajet_backbone_verl.cpu) — for tests and debugging, not for speed.
    rollout_engine: Literal["vllm", "sglang", "cpu"] = "vllm"
    n_gpus_per_node: int = Field(default=1, gt=0)
    nnodes: int = Field(default=1, gt=0)
    tensor_parallel_size: int = Field(default=1, gt=0)
    gpu_memory_utilization: float = Field(default=0.5, gt=0, le=1)
    # Agent-loop worker processes (each runs many episodes concurrently on its event loop).
    agent_workers: int = Field(default=2, gt=0)
    # Join a running Ray cluster ("auto" or "ray://host:10001"); None starts a local one.
    ray_address: str | None = None
    # Megatron needs verl's megatron engine config (its own defaults list), not yet composed here.
    strategy: Literal["fsdp", "fsdp2"] = "fsdp"

    def verl_keys(self) -> dict[str, Any]:
        """The passed-through verl keys, flattened to dotted paths."""
        flat: dict[str, Any] = {}

        def walk(prefix: str, value: Any) -> None:
            if isinstance(value, dict):
                for key, inner in value.items():
                    walk(f"{prefix}.{key}" if prefix else str(key), inner)
            else:
                flat[prefix] = value

        walk("", dict(self.model_extra or {}))
        return flat
