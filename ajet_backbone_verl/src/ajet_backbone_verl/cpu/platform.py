"""A CPU platform for verl's ``PlatformRegistry`` (verl 0.9 has cuda, npu and rocm only).

verl asks its platform for the torch device, the collective backend and the Ray resource its
workers hold. On a CPU the answers are: device ``cpu``, backend ``gloo``, and Ray's ``GPU``
resource — declared as a logical count when the backbone starts Ray — so verl's resource pools and
placement groups are the ones it builds on a GPU machine. It is never auto-detected: the backbone
selects it with ``VERL_PLATFORM=cpu`` in every process of a CPU-engine run
(:mod:`ajet_backbone_verl.cpu.settings`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from verl.plugin.platform.platform_base import PlatformBase
from verl.plugin.platform.platform_manager import PlatformRegistry

PLATFORM_NAME = "cpu"


class CpuPlatform(PlatformBase):
    _device_module: Any = None

    @property
    def device_name(self) -> str:
        return "cpu"

    @property
    def vendor_name(self) -> str:
        return "cpu"

    @property
    def device_module(self) -> Any:
        if CpuPlatform._device_module is None:
            # The debug backbone's (the [cpu] extra), imported only when the platform is used.
            from ajet_backbone_debug.cpu_device import CpuDeviceModule

            CpuPlatform._device_module = CpuDeviceModule()
        return CpuPlatform._device_module

    def is_available(self) -> bool:
        return True

    def is_platform_available(self, use_smi_check: bool = False) -> bool:
        return False  # chosen by VERL_PLATFORM=cpu only, never instead of a real accelerator

    def current_device(self) -> Any:
        return "cpu"

    def device_count(self) -> int:
        return 1

    def set_device(self, device_index: int) -> None:
        return None

    def synchronize(self, device_index: int | None = None) -> None:
        return None

    def manual_seed(self, seed: int) -> None:
        torch.manual_seed(seed)

    def manual_seed_all(self, seed: int) -> None:
        torch.manual_seed(seed)

    def set_allocator_settings(self, settings: str) -> None:
        return None

    def empty_cache(self) -> None:
        return None

    def get_device_capability(self, device_index: int = 0) -> tuple[int | None, int | None]:
        return None, None

    def communication_backend_name(self) -> str:
        return "gloo"

    def visible_devices_envvar(self) -> str:
        return "CUDA_VISIBLE_DEVICES"

    @contextmanager
    def nvtx_range(self, msg: str) -> Iterator[None]:
        yield

    def profiler_start(self) -> None:
        return None

    def profiler_stop(self) -> None:
        return None

    def ray_resource_name(self) -> str:
        return "GPU"  # the logical GPUs the backbone declares to Ray in this mode

    def ray_noset_envvars(self) -> list[str]:
        return []

    def is_ipc_supported(self) -> bool:
        return False

    def cudart(self) -> Any:
        return None


def register() -> None:
    PlatformRegistry.register(platform=PLATFORM_NAME)(CpuPlatform)
