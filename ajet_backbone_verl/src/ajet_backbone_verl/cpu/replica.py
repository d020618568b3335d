"""verl's two handles on the CPU rollout server: the replica and the worker-side adapter.

* :class:`CpuRolloutReplica` is what verl's ``LLMServerManager`` builds per rollout replica
  (``RolloutReplicaRegistry``): it starts one
  :class:`~ajet_backbone_verl.cpu.server.CpuRolloutServer` actor, named after the replica so the
  adapter can find it.
* :class:`CpuServerAdapter` lives in each training worker (verl's ``get_rollout_class``). After
  every actor update verl hands it the engine's weights, one tensor at a time
  (``engine_workers.py: update_weights``, "naive" sync, which verl's synchronous trainer uses):
  every rank drains them (gathering a sharded tensor is a collective) and the replica's first rank
  sends the full set to its server.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

import ray
import torch
from verl.workers.rollout.base import BaseRollout
from verl.workers.rollout.replica import RolloutReplica

from ajet_backbone_verl.cpu.server import CpuRolloutServer


def server_name(replica_rank: int) -> str:
    return f"ajet_cpu_rollout_server_{replica_rank}"


class CpuRolloutReplica(RolloutReplica):
    def rollout_worker_use_gpu(self) -> bool:
        return False

    async def launch_servers(self) -> None:
        name = server_name(self.replica_rank) + self.name_suffix
        # No resources of its own: the server shares the cores of the trainer it alternates with.
        server = (
            ray.remote(CpuRolloutServer)
            .options(name=name, num_cpus=0, max_concurrency=self.max_concurrency)
            .remote(self.config, self.model_config, self.replica_rank)
        )
        host, port = await server.get_server_address.remote()
        self.servers = [server]
        self._server_handle = server
        self._server_address = f"{host}:{port}/{name}"


class CpuServerAdapter(BaseRollout):
    def __init__(
        self, config: Any, model_config: Any, device_mesh: Any, replica_rank: int = -1
    ) -> None:
        super().__init__(config, model_config, device_mesh)
        rank = int(os.environ.get("RANK", "0"))
        per_replica = self.config.tensor_model_parallel_size * self.config.data_parallel_size
        self.replica_rank = rank // per_replica if replica_rank == -1 else replica_rank
        self.sends = rank % per_replica == 0
        self._server: Any = None

    def server(self) -> Any:
        if self._server is None:
            self._server = ray.get_actor(server_name(self.replica_rank))
        return self._server

    async def resume(self, tags: list[str]) -> None:
        return None  # the server never releases its weights or cache

    async def release(self) -> None:
        return None

    @torch.no_grad()
    async def update_weights(
        self,
        weights: Iterable[Any],
        wire_format: str = "named_tensors",
        peft_config: Any = None,
        global_steps: int | None = None,
        **_: Any,
    ) -> None:
        if wire_format != "named_tensors":
            raise ValueError(
                "the CPU rollout engine takes full named tensors, not "
                f"wire_format={wire_format!r}; keep actor_rollout_ref.rollout.checkpoint_engine "
                "at its default"
            )
        if peft_config is not None:
            raise ValueError(
                "the CPU rollout engine serves full weights; LoRA adapters are refused at load time"
            )
        state: dict[str, torch.Tensor] = {}
        for item in weights:
            name, tensor = item[0], item[1]
            if hasattr(tensor, "full_tensor"):  # an FSDP2 DTensor shard
                tensor = tensor.full_tensor()
            if self.sends:
                state[name] = tensor.detach().to("cpu", torch.float32).clone()
        if self.sends:
            await self.server().update_weights.remote(state, global_steps)
