"""The CPU engine's patches and stand-ins (ajet_backbone_trinity.cpu): every upstream line each one
names is where it says in the installed trinity-rft and verl; without them trinity's processes
fail on a CPU in the ways they name, with them they do not; the vLLM stand-in is seen by trinity's
one importer only; and the rollout actor generates and loads a weight version from the files
trinity's trainer writes."""

from __future__ import annotations

import asyncio
import json

import pytest
import torch
from ajet_backbone_trinity.cpu import patches
from ajet_backbone_trinity.cpu.imports import vllm_stand_in

from ajet_core.testing.environment import run_python

SITES = [(patch.name, site) for patch in patches.PATCHES for site in patch.sites] + [
    ("vLLM import", patches.VLLM_IMPORT_SITE)
]


@pytest.mark.parametrize(("patch", "site"), SITES, ids=[f"{p}:{s.line}" for p, s in SITES])
def test_every_upstream_line_a_patch_names_is_where_it_says(patch, site):
    site.check()  # raises UpstreamMoved, naming the file, the line and where it went


def test_a_moved_upstream_line_fails_naming_the_file_and_where_it_went():
    real = patches.PATCHES[1].sites[0]
    moved = patches.UpstreamSite(real.distribution, real.path, real.line + 3, real.text)
    with pytest.raises(patches.UpstreamMoved) as caught:
        moved.check()
    message = str(caught.value)
    assert f"{real.path}:{real.line + 3}" in message and f"now at [{real.line}]" in message
    gone = patches.UpstreamSite(real.distribution, real.path, real.line, "no such line")
    with pytest.raises(patches.UpstreamMoved, match="the line is gone"):
        gone.check()


# What each patch's absence breaks, and its presence fixes, in a fresh process (no hooks leak into
# this one). Each check prints one JSON line.
PROBE = """
import json, os, socket, sys
PREPARE = {prepare}
if PREPARE:
    from ajet_backbone_trinity.cpu import process
    process.prepare()

def probe(name, check):
    try:
        result = check()
    except Exception as exc:
        result = f"{{type(exc).__name__}}: {{exc}}"[:300]
    print(json.dumps({{"probe": name, "result": result}}), flush=True)

def trinity_model_module():
    import trinity.common.models.model
    import importlib.util
    return {{"vllm_in_sys_modules": "vllm" in sys.modules,
            "vllm_findable": importlib.util.find_spec("vllm") is not None}}

def gloo_group():
    import torch.distributed as dist
    from verl.utils.distributed import initialize_global_process_group_ray
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    os.environ.update(RANK="0", WORLD_SIZE="1", LOCAL_RANK="0", MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    initialize_global_process_group_ray(timeout_second=60)
    return dist.get_backend()

def fsdp_engine():
    from verl.workers.engine.base import EngineRegistry
    return EngineRegistry.get_engine_cls("language_model", "fsdp2").__name__

def reference_offload():
    from verl.workers.engine.fsdp import transformer_impl
    return transformer_impl.CPUOffloadPolicy(pin_memory=True).pin_memory

def device_memory():
    from verl.utils.device import get_torch_device
    from verl.utils.memory_utils import aggressive_empty_cache
    aggressive_empty_cache()
    return get_torch_device().max_memory_allocated()

def unpadding():
    import torch
    from verl.utils.attention_utils import pad_input, unpad_input
    x = torch.arange(12.0).reshape(2, 3, 2)
    mask = torch.tensor([[1, 1, 0], [1, 0, 0]])
    packed, indices, cu_seqlens, longest, _ = unpad_input(x, mask)
    back = pad_input(packed, indices, 2, 3)
    return [packed.shape[0], cu_seqlens.tolist(), longest,
            bool(torch.equal(back, x * mask[..., None]))]

def device_capability():
    import torch
    import trinity.trainer.verl.monkey_patch  # noqa: F401
    return list(torch.cuda.get_device_capability(0))

def allocator():
    from trinity.common.models.allocator import Allocator
    return getattr(Allocator.create_engine, "ajet_cpu_patch", False)

for name, check in [("trinity_model_module", trinity_model_module), ("gloo_group", gloo_group),
                    ("fsdp_engine", fsdp_engine), ("reference_offload", reference_offload),
                    ("device_memory", device_memory), ("unpadding", unpadding),
                    ("device_capability", device_capability), ("allocator", allocator)]:
    probe(name, check)
"""


def probes(prepare: bool) -> dict:
    result = run_python(PROBE.format(prepare=prepare))
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert len(lines) == 8, result.stdout[-3000:] + result.stderr[-3000:]
    return {line["probe"]: line["result"] for line in lines}


@pytest.mark.slow  # two fresh processes importing trinity and verl
def test_without_the_patches_a_cpu_breaks_trinity_and_verl_and_with_them_it_does_not():
    without = probes(prepare=False)
    print(without)
    assert "No module named 'vllm'" in without["trinity_model_module"]
    assert "Duplicate device type cpu" in without["gloo_group"]
    assert "Unknown device: cpu" in without["fsdp_engine"]
    assert without["reference_offload"] is True
    assert without["device_memory"].startswith("AttributeError")
    assert "flash_attn" in without["unpadding"]
    assert "Torch not compiled with CUDA" in without["device_capability"]
    assert "No module named 'vllm'" in without["allocator"]  # it cannot even import

    with_patches = probes(prepare=True)
    print(with_patches)
    # trinity imported its vLLM names, and nothing else can see vLLM afterwards.
    assert with_patches["trinity_model_module"] == {
        "vllm_in_sys_modules": False,
        "vllm_findable": False,
    }
    assert with_patches["gloo_group"] == "gloo"
    assert with_patches["fsdp_engine"] == "FSDPEngineWithLMHead"
    assert with_patches["reference_offload"] is False
    assert with_patches["device_memory"] == 0
    assert with_patches["unpadding"] == [3, [0, 2, 3], 2, True]
    assert with_patches["device_capability"] == [0, 0]
    assert with_patches["allocator"] is True


def test_the_vllm_stand_in_is_gone_after_the_block_and_says_why_when_used():
    import importlib.util
    import sys

    with vllm_stand_in():
        from vllm.config import ModelConfig

        assert "vllm" in sys.modules
    assert "vllm" not in sys.modules and importlib.util.find_spec("vllm") is None
    with pytest.raises(RuntimeError, match="vLLM is not installed in a CPU-engine run"):
        ModelConfig(model="x")


@pytest.fixture
def cpu_model(tiny_model_dir, tmp_path):
    with vllm_stand_in():
        from ajet_backbone_trinity.cpu.model import CpuRolloutModel
        from trinity.common.config import InferenceModelConfig

    config = InferenceModelConfig(
        model_path=str(tiny_model_dir),
        max_model_len=256,
        max_response_tokens=8,
        temperature=1.0,
        checkpoint_job_dir=str(tmp_path),
    )
    model = CpuRolloutModel(config)
    yield model
    asyncio.run(model.shutdown())


def test_the_rollout_actor_generates_from_text_and_token_ids(cpu_model):
    async def run():
        by_text = await cpu_model.generate("What is 1 + 2?", n=2, max_tokens=6)
        ids = cpu_model.tokenizer("What is 1 + 2?")["input_ids"]
        by_ids = await cpu_model.generate({"prompt_token_ids": ids}, max_tokens=6)
        return ids, by_text, by_ids

    ids, by_text, by_ids = asyncio.run(run())
    assert len(by_text) == 2 and len(by_ids) == 1
    for experience in by_text + by_ids:
        assert experience.tokens[: experience.prompt_length].tolist() == ids
        response = experience.tokens[experience.prompt_length :]
        assert 1 <= len(response) <= 6 and len(experience.logprobs) == len(response)
        assert bool((experience.logprobs <= 0).all())


def test_the_rollout_actor_loads_the_weight_version_trinitys_trainer_wrote(cpu_model, tmp_path):
    from safetensors.torch import save_file
    from trinity.common.constants import SyncMethod

    async def prepared():
        await cpu_model.prepare()
        return {k: v.clone() for k, v in cpu_model.engine.model.state_dict().items()}

    state = asyncio.run(prepared())
    moved = {k: v + 0.5 for k, v in state.items() if k != "lm_head.weight"}
    folder = tmp_path / "global_step_1" / "actor"
    folder.mkdir(parents=True)
    save_file(moved, str(folder / "model.safetensors"))  # the file a checkpoint sync writes
    assert asyncio.run(cpu_model.sync_model_weights(1, SyncMethod.CHECKPOINT)) == 1
    assert cpu_model.get_model_version() == 1
    served = cpu_model.engine.model.state_dict()
    assert all(torch.equal(served[k], v) for k, v in moved.items())

    partial = tmp_path / "global_step_2" / "actor"
    partial.mkdir(parents=True)
    save_file(dict(list(moved.items())[1:]), str(partial / "model.safetensors"))
    with pytest.raises(RuntimeError, match="weight version 2 lacks 1 of the served model's"):
        asyncio.run(cpu_model.sync_model_weights(2, SyncMethod.CHECKPOINT))
    assert cpu_model.get_model_version() == 1  # nothing loaded from the broken version
    with pytest.raises(RuntimeError, match="cannot receive weights by 'nccl'"):
        asyncio.run(cpu_model.sync_model_weights(3, SyncMethod.NCCL))
