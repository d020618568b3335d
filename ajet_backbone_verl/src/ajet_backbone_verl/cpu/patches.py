"""Two verl 0.9.1 assumptions that a CPU-only machine breaks, patched narrowly in CPU-engine runs.

Each patch replaces one name at one call site and names the verl line it works around. The tests
(``tests/ajet_backbone_verl/test_cpu_patches.py``) read those lines and reproduce each defect
with the unpatched code, so a verl release that fixes or moves either one fails them: then drop
or move the patch. Applied only when the CPU platform is selected
(:func:`ajet_backbone_verl.cpu.registration.register`), never on a GPU run.
"""

from __future__ import annotations

import functools
from typing import Any

# verl/utils/distributed.py:89, in initialize_global_process_group_ray:
#     backend = backend or f"cpu:gloo,{get_device_name()}:{get_nccl_backend()}"
# On the CPU platform that is "cpu:gloo,cpu:gloo", which torch rejects ("Duplicate device type
# cpu"). The training workers call it with no backend (verl/workers/engine_workers.py:89); with
# one device type, plain gloo is the same thing without the duplicate.
DUPLICATE_BACKEND_SITE = ("utils/distributed.py", 89)
DUPLICATE_BACKEND_LINE = 'backend = backend or f"cpu:gloo,{get_device_name()}:{get_nccl_backend()}"'
CPU_BACKEND = "gloo"

# verl/workers/engine/fsdp/transformer_impl.py:462, in FSDPEngine's FSDP2 set-up: forward-only
# engines (the reference model) get CPUOffloadPolicy(pin_memory=True). Pinning host memory needs an
# accelerator ("Cannot access accelerator device when none is available"); on a CPU the offload
# target is where the weights already are, so the same policy unpinned is exact.
PINNED_OFFLOAD_SITE = ("workers/engine/fsdp/transformer_impl.py", 462)
PINNED_OFFLOAD_LINE = "offload_policy = CPUOffloadPolicy(pin_memory=True)"

applied: list[str] = []


def default_to_plain_gloo(initialize: Any) -> Any:
    """``initialize_global_process_group_ray`` with ``gloo`` when the caller names no backend."""

    @functools.wraps(initialize)
    def initialize_on_cpu(timeout_second: Any = None, backend: str | None = None) -> Any:
        return initialize(timeout_second=timeout_second, backend=backend or CPU_BACKEND)

    initialize_on_cpu.ajet_cpu_patch = True  # type: ignore[attr-defined]
    return initialize_on_cpu


def unpinned(policy_class: Any) -> Any:
    """``CPUOffloadPolicy`` that never pins host memory."""

    @functools.wraps(policy_class)
    def make_policy(*args: Any, **kwargs: Any) -> Any:
        kwargs["pin_memory"] = False
        return policy_class(*args, **kwargs)

    make_policy.ajet_cpu_patch = True  # type: ignore[attr-defined]
    return make_policy


def apply() -> None:
    """Patch both sites in this process (idempotent)."""
    # The workers bind the name at import (`from verl.utils.distributed import ...`): patch the
    # module before verl.workers.engine_workers is imported (verl loads plugins first), and that
    # module too in case something imported it earlier.
    import sys

    import verl.utils.distributed as distributed
    import verl.workers.engine.fsdp.transformer_impl as transformer_impl

    original = distributed.initialize_global_process_group_ray
    if not getattr(original, "ajet_cpu_patch", False):
        patched = default_to_plain_gloo(original)
        distributed.initialize_global_process_group_ray = patched
        workers = sys.modules.get("verl.workers.engine_workers")
        if workers is not None:
            workers.initialize_global_process_group_ray = patched
        applied.append("distributed backend: gloo")
    if not getattr(transformer_impl.CPUOffloadPolicy, "ajet_cpu_patch", False):
        transformer_impl.CPUOffloadPolicy = unpinned(transformer_impl.CPUOffloadPolicy)
        applied.append("FSDP2 reference offload: unpinned")
