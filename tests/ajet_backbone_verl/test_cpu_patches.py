"""The two verl defects the CPU mode patches: each is still in verl, at the line the patch names,
and still breaks a CPU run unpatched, while the patched call works. When a verl release fixes or
moves either, these fail: then drop or move the patch (ajet_backbone_verl/cpu/patches.py).
Also: nothing of the CPU mode is active unless the run selects it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import verl
from ajet_backbone_verl.cpu import patches

VERL_ROOT = Path(verl.__file__).parent


def verl_line(site: tuple[str, int]) -> str:
    path, line = site
    return (VERL_ROOT / path).read_text().splitlines()[line - 1].strip()


def test_the_duplicate_backend_is_still_at_the_line_the_patch_names():
    assert verl_line(patches.DUPLICATE_BACKEND_SITE) == patches.DUPLICATE_BACKEND_LINE


def test_the_pinned_offload_policy_is_still_at_the_line_the_patch_names():
    assert verl_line(patches.PINNED_OFFLOAD_SITE) == patches.PINNED_OFFLOAD_LINE


def run_python(script: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=600
    )


def in_cpu_mode(script: str) -> dict:
    """Run ``script`` (which prints one JSON line) in a fresh interpreter of a CPU-engine run."""
    env = {
        **os.environ,
        "VERL_PLATFORM": "cpu",
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": str(29400 + os.getpid() % 500),
        "RANK": "0",
        "WORLD_SIZE": "1",
    }
    result = run_python(script, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_unpatched_verl_builds_a_backend_torch_rejects_and_the_patch_uses_gloo():
    shown = in_cpu_mode(
        "import json, torch.distributed as dist\n"
        "import verl.utils.distributed as d\n"
        "patched = d.initialize_global_process_group_ray\n"
        "try:\n"
        "    patched.__wrapped__()\n"
        "    unpatched = 'initialised'\n"
        "except ValueError as e:\n"
        "    unpatched = str(e)\n"
        "patched()\n"
        "print(json.dumps({'unpatched': unpatched, 'backend': dist.get_backend()}))\n"
    )
    assert "Duplicate device type cpu" in shown["unpatched"]
    assert "cpu:gloo,cpu:gloo" in shown["unpatched"]
    assert shown["backend"] == "gloo"


def test_unpatched_pinned_offload_fails_without_accelerator_and_the_patch_unpins():
    shown = in_cpu_mode(
        "import json, torch, torch.distributed as dist\n"
        "from torch.distributed.device_mesh import init_device_mesh\n"
        "from torch.distributed.fsdp import fully_shard\n"
        "import verl.workers.engine.fsdp.transformer_impl as impl\n"
        "dist.init_process_group('gloo')\n"
        "mesh = init_device_mesh('cpu', (1,))\n"
        "def shard(policy_class):\n"
        "    model = torch.nn.Linear(4, 4)\n"
        "    fully_shard(model, mesh=mesh, offload_policy=policy_class(pin_memory=True))\n"
        "    model(torch.ones(2, 4)).sum().backward()\n"
        "    return 'trained'\n"
        "try:\n"
        "    unpatched = shard(impl.CPUOffloadPolicy.__wrapped__)\n"
        "except RuntimeError as e:\n"
        "    unpatched = str(e)\n"
        "print(json.dumps({'unpatched': unpatched, 'patched': shard(impl.CPUOffloadPolicy)}))\n"
    )
    assert "Cannot access accelerator device" in shown["unpatched"]
    assert shown["patched"] == "trained"


def test_nothing_of_the_cpu_mode_is_active_in_other_runs():
    env = {k: v for k, v in os.environ.items() if k != "VERL_PLATFORM"}
    result = run_python(
        "import json, verl\n"
        "import verl.utils.distributed as d\n"
        "import verl.workers.engine.fsdp.transformer_impl as impl\n"
        "from verl.plugin.platform.platform_manager import PlatformRegistry\n"
        "from verl.workers.rollout.replica import RolloutReplicaRegistry\n"
        "print(json.dumps({\n"
        "  'patched': [hasattr(d.initialize_global_process_group_ray, 'ajet_cpu_patch'),\n"
        "              hasattr(impl.CPUOffloadPolicy, 'ajet_cpu_patch')],\n"
        "  'platforms': list(PlatformRegistry.registered_names()),\n"
        "  'rollout': RolloutReplicaRegistry.get('ajet_cpu').__name__}))\n",
        env=env,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    shown = json.loads(result.stdout.strip().splitlines()[-1])
    assert shown["patched"] == [False, False]
    assert "cpu" not in shown["platforms"]
    # The rollout name is always known: verl resolves it only when a run selects it.
    assert shown["rollout"] == "CpuRolloutReplica"


def test_no_module_of_the_package_imports_the_debug_backbone():
    # The CPU engine needs ajet-backbone-debug only inside its rollout server (extra [cpu]).
    import pkgutil

    import ajet_backbone_verl

    modules = [
        m.name for m in pkgutil.walk_packages(ajet_backbone_verl.__path__, "ajet_backbone_verl.")
    ]
    assert "ajet_backbone_verl.cpu.server" in modules
    result = run_python(
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "print(sorted(m for m in sys.modules if m.startswith('ajet_backbone_debug')))\n",
        env=dict(os.environ),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == "[]"
