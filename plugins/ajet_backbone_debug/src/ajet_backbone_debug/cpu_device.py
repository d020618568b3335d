"""torch.cuda's surface, answered for the CPU: what trainers written for an accelerator (verl)
call on their device module between stages.

Shared by the CPU rollout engines of the verl and trinity backbones, which run verl's trainer on
a machine without a GPU: ``torch.cpu`` has streams, events, ``synchronize`` and
``device_count``, but none of the memory and cache calls, which have nothing to do on a CPU.
"""

from __future__ import annotations

from typing import Any

import psutil
import torch


class CpuDeviceModule:
    """What verl calls on ``get_torch_device()`` (torch.cuda's surface), answered for the CPU.

    ``torch.cpu`` already has streams, events, ``synchronize`` and ``device_count``; the memory and
    cache calls verl makes between stages have nothing to do on a CPU, and its RNG calls are the
    default generator's."""

    def __getattr__(self, name: str) -> Any:
        return getattr(torch.cpu, name)

    @staticmethod
    def is_available() -> bool:
        return True

    @staticmethod
    def current_device() -> str:
        # tensor.to(get_device_id()) must mean the CPU, not cuda:0.
        return "cpu"

    @staticmethod
    def set_device(*_: Any) -> None:
        return None

    @staticmethod
    def empty_cache() -> None:
        return None

    @staticmethod
    def ipc_collect() -> None:
        return None

    @staticmethod
    def mem_get_info(*_: Any) -> tuple[int, int]:
        memory = psutil.virtual_memory()
        return memory.available, memory.total

    @staticmethod
    def memory_allocated(*_: Any) -> int:
        return 0

    memory_reserved = max_memory_allocated = max_memory_reserved = memory_allocated

    @staticmethod
    def reset_peak_memory_stats(*_: Any) -> None:
        return None

    @staticmethod
    def set_per_process_memory_fraction(*_: Any) -> None:
        return None

    @staticmethod
    def get_device_name(*_: Any) -> str:
        return "cpu"

    get_rng_state = staticmethod(torch.get_rng_state)
    set_rng_state = staticmethod(torch.set_rng_state)
    manual_seed = manual_seed_all = staticmethod(torch.manual_seed)
