"""What a CPU-engine run changes in verl's config and in its processes' environment.

Each value answers one thing verl assumes about a GPU machine (found reading verl 0.9.1):

* the rollout is ours (``ROLLOUT_NAME``), on one logical GPU of one node;
* FSDP2 (its CPU offload policy is the one patched; FSDP1 was never run on CPU here), no
  ``torch.compile`` (minutes of compile on CPU for a few steps);
* ``sdpa`` attention: verl defaults the HF model to flash-attention
  (verl/workers/config/model.py:185), which needs CUDA;
* one process where verl would start several (reward workers, Transfer Queue storage units,
  dataloader workers): on two cores every extra process only adds start-up time;
* Ray's logical resources: the actor's placement group asks ``{"CPU": 3, "GPU": 1}``
  (verl/single_controller/ray/base.py:146) and the Transfer Queue's controller and storage unit
  one CPU each, so 6 logical CPUs and 1 logical GPU are declared — counts for Ray's scheduler,
  not cores;
* the environment of every process: the CPU platform (``VERL_PLATFORM``), verl's FSDP engine
  (registered for cuda/npu only, verl/workers/engine/fsdp/transformer_impl.py:1143, and running on
  the platform's device: ``VERL_ENGINE_DEVICE=cuda`` selects it), one thread per process.
"""

from __future__ import annotations

from typing import Any

ENGINE_NAME = "cpu"  # backbone.rollout_engine
ROLLOUT_NAME = "ajet_cpu"  # verl's actor_rollout_ref.rollout.name
PLATFORM_VARIABLE = "VERL_PLATFORM"
STRATEGY = "fsdp2"
RAY_CPUS = 6
RAY_GPUS = 1

OVERRIDES: dict[str, Any] = {
    "actor_rollout_ref.rollout.name": ROLLOUT_NAME,
    "actor_rollout_ref.rollout.tensor_model_parallel_size": 1,
    "actor_rollout_ref.actor.strategy": STRATEGY,
    "actor_rollout_ref.actor.use_torch_compile": False,
    "actor_rollout_ref.actor.fsdp_config.use_torch_compile": False,
    "actor_rollout_ref.ref.fsdp_config.use_torch_compile": False,
    "+actor_rollout_ref.model.override_config.attn_implementation": "sdpa",
    "trainer.device": "cpu",
    "trainer.n_gpus_per_node": RAY_GPUS,
    "trainer.nnodes": 1,
    "reward.num_workers": 1,
    "data.dataloader_num_workers": 0,
    "transfer_queue.backend.SimpleStorage.num_data_storage_units": 1,
}
# The backbone options this mode decides; setting them to something else is refused.
FIXED_OPTIONS = {"n_gpus_per_node": 1, "nnodes": 1, "tensor_parallel_size": 1, "strategy": STRATEGY}
# Agent-loop workers unless the run names a number: one process runs every episode concurrently.
AGENT_WORKERS = 1

WORKER_ENVIRONMENT: dict[str, str] = {
    PLATFORM_VARIABLE: "cpu",
    "VERL_ENGINE_DEVICE": "cuda",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "TOKENIZERS_PARALLELISM": "false",
    "AJET_CPU_ENGINE_THREADS": "1",
}
