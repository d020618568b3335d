"""The upstream lines a CPU breaks in trinity-rft 0.6.0 and the verl 0.8.0 it brings, each patched
narrowly in the processes of a CPU-engine run only.

Each :class:`Patch` names the module whose loading triggers it, the upstream line(s) it works
around (:class:`UpstreamSite`: the file inside its distribution, the line number, the line's
text) and why. ``tests/ajet_backbone_trinity/test_cpu_patches.py`` reads every site from the
installed distributions and checks each patch's effect, so an upstream release that moves or
fixes a line fails there, naming it: then move or drop the patch. At run time a moved line is
logged (the patch may still be right) rather than fatal.

Applied through :mod:`.imports` by :func:`ajet_backbone_trinity.cpu.process.prepare`; never on a
GPU run (:func:`install` refuses where torch sees CUDA).
"""

from __future__ import annotations

import functools
import logging
import types
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from ajet_backbone_trinity.cpu.settings import ENGINE_TYPE

logger = logging.getLogger(__name__)


class UpstreamMoved(RuntimeError):
    """An upstream line a patch works around is no longer where the patch says."""


@dataclass(frozen=True)
class UpstreamSite:
    distribution: str  # as pip names it
    path: str  # inside the distribution, e.g. "verl/utils/distributed.py"
    line: int
    text: str  # the line, stripped

    def __str__(self) -> str:
        return f"{self.path}:{self.line} ({self.distribution} {self.version()})"

    def version(self) -> str:
        try:
            return metadata.version(self.distribution)
        except metadata.PackageNotFoundError:
            return "not installed"

    def file(self) -> Path:
        located = metadata.distribution(self.distribution).locate_file(self.path)
        return Path(str(located))

    def check(self) -> None:
        """Raise :class:`UpstreamMoved` unless the installed file has ``text`` at ``line``."""
        try:
            lines = self.file().read_text().splitlines()
        except (OSError, metadata.PackageNotFoundError) as exc:
            raise UpstreamMoved(f"{self}: cannot read it ({exc})") from None
        found = lines[self.line - 1].strip() if 0 < self.line <= len(lines) else "<past the end>"
        if found != self.text:
            elsewhere = [n for n, line in enumerate(lines, 1) if line.strip() == self.text]
            raise UpstreamMoved(
                f"{self}: expected {self.text!r}, found {found!r}"
                + (f"; the line is now at {elsewhere}" if elsewhere else "; the line is gone")
                + ": update or drop the patch that names it"
            )


@dataclass(frozen=True)
class Patch:
    name: str
    module: str  # the patch is applied when this module has loaded
    sites: tuple[UpstreamSite, ...]
    apply: Callable[[types.ModuleType], None]


def _mark(function: Any) -> Any:
    function.ajet_cpu_patch = True
    return function


def is_patched(value: Any) -> bool:
    return bool(getattr(value, "ajet_cpu_patch", False))


# -- trinity: the rollout engine --------------------------------------------------------------


def _cpu_engine_in_allocator(allocator: types.ModuleType) -> None:
    """``Allocator.create_engine`` picks the actor class by an if/elif over vllm, sglang, tinker
    and external and raises for anything else (no registry). For ``engine_type: cpu`` build our
    actor with trinity's own ``get_model_wrapper``: same placement-group bundle, same actor name,
    same ``ModelWrapper``."""
    original = allocator.Allocator.create_engine
    if is_patched(original):
        return

    @functools.wraps(original)
    async def create_engine(self: Any, config: Any, role: str, engine_id: int) -> Any:
        if config.engine_type != ENGINE_TYPE:
            return await original(self, config, role, engine_id)
        from copy import deepcopy

        from ajet_backbone_trinity.cpu.model import CpuRolloutModel

        config = deepcopy(config)
        config.engine_id = engine_id
        bundles = []
        for node_id in range(config.nnodes):
            name = self.get_actor_name(role, engine_id, node_id)
            bundles.append((name, self.bundle_result.actor_bundle_map[name]))
        return await allocator.get_model_wrapper(CpuRolloutModel, config, self.pg, bundles)

    allocator.Allocator.create_engine = _mark(create_engine)


# -- verl: the trainer's workers ----------------------------------------------------------------


def _plain_gloo(distributed: types.ModuleType) -> None:
    """With no backend, verl asks for ``"cpu:gloo,cpu:nccl"`` on a CPU (its device name is
    ``cpu``), which torch rejects as a duplicate device type; the training workers pass none. One
    device type: plain gloo is the same thing."""
    original = distributed.initialize_global_process_group_ray
    if is_patched(original):
        return

    @functools.wraps(original)
    def initialize(timeout_second: Any = None, backend: str | None = None) -> Any:
        return original(timeout_second=timeout_second, backend=backend or "gloo")

    distributed.initialize_global_process_group_ray = _mark(initialize)


def _fsdp_engines_for_cpu(transformer_impl: types.ModuleType) -> None:
    """verl registers its FSDP engines for the cuda and npu devices only, and looks them up by
    the current device name (``cpu`` here); register the same classes for ``cpu`` through the
    registry's public decorator."""
    from verl.workers.engine.base import EngineRegistry

    for model_type, engine in (
        ("language_model", transformer_impl.FSDPEngineWithLMHead),
        ("value_model", transformer_impl.FSDPEngineWithValueHead),
    ):
        EngineRegistry.register(model_type=model_type, backend=["fsdp", "fsdp2"], device="cpu")(
            engine
        )


def _unpinned_offload(transformer_impl: types.ModuleType) -> None:
    """Forward-only FSDP2 engines (the reference model) get ``CPUOffloadPolicy(pin_memory=True)``;
    pinning host memory needs an accelerator. On a CPU the offload target is where the weights
    already are: the same policy, unpinned."""
    policy = transformer_impl.CPUOffloadPolicy
    if is_patched(policy):
        return

    @functools.wraps(policy)
    def unpinned(*args: Any, **kwargs: Any) -> Any:
        kwargs["pin_memory"] = False
        return policy(*args, **kwargs)

    transformer_impl.CPUOffloadPolicy = _mark(unpinned)


def _cpu_device_module(device: types.ModuleType) -> None:
    """verl calls memory and cache functions on its device module between stages (reserved and
    peak memory in every step's metrics, ``empty_cache`` around weight syncs); on a CPU that
    module is ``torch.cpu``, which has none of them. Answer with ``torch.cpu`` plus those calls
    (the debug backbone's :class:`CpuDeviceModule`, shared with the verl backbone's CPU mode)."""
    original = device.get_torch_device
    if is_patched(original):
        return
    import torch
    from ajet_backbone_debug.cpu_device import CpuDeviceModule

    cpu_device = CpuDeviceModule()

    @functools.wraps(original)
    def get_torch_device() -> Any:
        module = original()
        return cpu_device if module is torch.cpu else module

    device.get_torch_device = _mark(get_torch_device)


def _pure_torch_unpadding(attention_utils: types.ModuleType) -> None:
    """verl's (un)padding helpers import ``flash_attn.bert_padding`` unless the device is an NPU,
    and trinity removes padding before the reference model's forward (``monkey_patch.py:223``).
    verl ships the same functions in pure torch for NPUs (``verl/utils/npu_flash_attn_utils``):
    use those."""
    if is_patched(attention_utils._get_attention_functions):
        return
    try:
        from verl.utils import npu_flash_attn_utils as pure
    except ImportError as exc:  # einops, which verl does not declare
        raise ImportError(
            f"the CPU rollout engine unpads with verl's pure-torch helpers, which need {exc.name}: "
            "pip install 'ajet-backbone-trinity[cpu]'"
        ) from exc

    functions = (pure.index_first_axis, pure.pad_input, pure.rearrange, pure.unpad_input)

    def attention_functions() -> tuple[Callable, Callable, Callable, Callable]:
        return functions

    attention_utils._get_attention_functions = _mark(attention_functions)


# -- trinity's trainer ------------------------------------------------------------------------


def _no_device_capability(monkey_patch: types.ModuleType) -> None:
    """Trinity's replacement for verl's ``FSDPEngine._build_module`` asks
    ``torch.cuda.get_device_capability(0)`` unconditionally to decide on meta-device
    initialisation; a CPU torch raises there. Without CUDA answer (0, 0): no meta init, the
    weights are built on the CPU."""
    import torch

    original = torch.cuda.get_device_capability
    if is_patched(original):
        return

    @functools.wraps(original)
    def capability(device: Any = None) -> tuple[int, int]:
        return original(device) if torch.cuda.is_available() else (0, 0)

    torch.cuda.get_device_capability = _mark(capability)


PATCHES: tuple[Patch, ...] = (
    Patch(
        "engine_type cpu in trinity's allocator",
        "trinity.common.models.allocator",
        (
            UpstreamSite(
                "trinity-rft",
                "trinity/common/models/allocator.py",
                106,
                'raise ValueError(f"Unsupported engine type: {config.engine_type}")',
            ),
        ),
        _cpu_engine_in_allocator,
    ),
    Patch(
        "plain gloo process group",
        "verl.utils.distributed",
        (
            UpstreamSite(
                "verl",
                "verl/utils/distributed.py",
                86,
                'backend = backend or f"cpu:gloo,{get_device_name()}:{get_nccl_backend()}"',
            ),
        ),
        _plain_gloo,
    ),
    Patch(
        "FSDP engines registered for cpu",
        "verl.workers.engine.fsdp.transformer_impl",
        tuple(
            UpstreamSite(
                "verl",
                "verl/workers/engine/fsdp/transformer_impl.py",
                line,
                f'@EngineRegistry.register(model_type="{kind}", backend=["fsdp", "fsdp2"], '
                'device=["cuda", "npu"])',
            )
            for line, kind in ((921, "language_model"), (1297, "value_model"))
        ),
        _fsdp_engines_for_cpu,
    ),
    Patch(
        "reference offload unpinned",
        "verl.workers.engine.fsdp.transformer_impl",
        (
            UpstreamSite(
                "verl",
                "verl/workers/engine/fsdp/transformer_impl.py",
                417,
                "offload_policy = CPUOffloadPolicy(pin_memory=True)",
            ),
        ),
        _unpinned_offload,
    ),
    Patch(
        "a device module for the CPU",
        "verl.utils.device",
        (UpstreamSite("verl", "verl/utils/device.py", 101, "return getattr(torch, device_name)"),),
        _cpu_device_module,
    ),
    Patch(
        "pure-torch unpadding",
        "verl.utils.attention_utils",
        (
            UpstreamSite(
                "verl",
                "verl/utils/attention_utils.py",
                30,
                "from flash_attn.bert_padding import index_first_axis, pad_input, rearrange, "
                "unpad_input",
            ),
        ),
        _pure_torch_unpadding,
    ),
    Patch(
        "no CUDA device capability",
        "trinity.trainer.verl.monkey_patch",
        (
            UpstreamSite(
                "trinity-rft",
                "trinity/trainer/verl/monkey_patch.py",
                111,
                "major_capability, _ = torch.cuda.get_device_capability(0)",
            ),
        ),
        _no_device_capability,
    ),
)

# trinity-rft 0.6's one module that imports vLLM at module level on the CPU path
# (trinity/common/models/mm_utils.py:35-42, reached from model.py:25).
VLLM_IMPORTER = "trinity.common.models.mm_utils"
VLLM_IMPORT_SITE = UpstreamSite(
    "trinity-rft", "trinity/common/models/mm_utils.py", 35, "from vllm.config import ModelConfig"
)


def check_sites() -> list[str]:
    """Every site that moved, as a sentence each (empty: all in place)."""
    moved = []
    for site in [s for patch in PATCHES for s in patch.sites] + [VLLM_IMPORT_SITE]:
        try:
            site.check()
        except UpstreamMoved as exc:
            moved.append(str(exc))
    return moved


def install(hooks: Any) -> None:
    """Register every patch and the vLLM stand-in with ``hooks`` (an ``imports.ModuleHooks``)."""
    import torch

    if torch.cuda.is_available():
        raise RuntimeError(
            "the CPU rollout engine's patches are for machines without CUDA, and torch sees a GPU "
            "here: use backbone.rollout_engine vllm"
        )
    for problem in check_sites():
        logger.warning("ajet trinity CPU mode: %s", problem)
    for patch in PATCHES:
        hooks.on_load(patch.module, patch.apply)
    hooks.lend_vllm_to(VLLM_IMPORTER)
