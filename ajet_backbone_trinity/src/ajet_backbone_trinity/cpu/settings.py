"""What a CPU-engine trinity run changes, each value answering one GPU assumption (found reading
trinity-rft 0.6.0 and its verl 0.8.0):

* the rollout actor is ours (``explorer.rollout_model.engine_type: cpu``), one engine, float32;
* weights reach it as files: the trainer writes each synced version
  (``global_step_N/actor``) and the engine loads it (``synchronizer.sync_method: checkpoint``);
  trinity's default NCCL transfer needs CUDA on both ends;
* verl's model is built with ``sdpa`` attention (verl's default is flash-attention, CUDA only)
  and without ``torch.compile`` (minutes of compiling on a CPU for a few steps);
* Ray's logical resources: trinity's allocator asks one ``{"GPU": 1, "CPU": 1}`` bundle per
  engine (``allocator.py:59``) and its trainer a ``GPU`` per worker (``device_name = "cuda"``,
  ``trainer/verl/trainer.py:301``), so a private head declares ``RAY_GPUS`` logical GPUs —
  counts for Ray's scheduler; torch is the CPU build and nothing touches CUDA;
* every process of the run: one thread for torch (two cores shared by ~10 processes), and
  :mod:`.process` run first (the Ray ``worker_process_setup_hook``).
"""

from __future__ import annotations

from typing import Any

ENGINE_TYPE = "cpu"  # backbone.rollout_engine, and trinity's explorer.rollout_model.engine_type
SYNC_METHOD = "checkpoint"
# Ray's logical resources for a private head: one rollout engine's bundle and one trainer worker.
RAY_GPUS = 2
RAY_CPUS = 16
# The cluster shape these resources make; the backbone options must agree with it.
FIXED_OPTIONS: dict[str, int] = {
    "nodes": 1,
    "gpus_per_node": RAY_GPUS,
    "rollout_engines": 1,
    "tensor_parallel_size": 1,
}

# Trinity settings (dotted keys) the mode sets.
TRINITY_SETTINGS: dict[str, Any] = {
    "explorer.rollout_model.engine_type": ENGINE_TYPE,
    "explorer.rollout_model.dtype": "float32",
    "synchronizer.sync_method": SYNC_METHOD,
    "trainer.use_remove_padding": False,
    "trainer.trainer_config.actor_rollout_ref.model.override_config.attn_implementation": "sdpa",
    "trainer.trainer_config.actor_rollout_ref.actor.use_torch_compile": False,
}

# Set for the driver and handed to every Ray worker of the run.
ENGINE_LOG_VARIABLE = "AJET_TRINITY_CPU_ENGINE_LOG"  # where the engine appends its events
THREADS_VARIABLE = "AJET_TRINITY_CPU_ENGINE_THREADS"
PROCESS_ENVIRONMENT: dict[str, str] = {
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "TOKENIZERS_PARALLELISM": "false",
    THREADS_VARIABLE: "1",
}
# The Ray hook every worker of the run calls before it runs anything.
SETUP_HOOK = "ajet_backbone_trinity.cpu.process.prepare"
