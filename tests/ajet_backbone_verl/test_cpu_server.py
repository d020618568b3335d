"""The CPU rollout server as verl's servers are called: token ids in, ids + logprobs + the
server's step out; weights loaded from a full state dict change what it serves; a partial state
dict is refused. (verl's replica runs this class as a Ray actor; here it is called directly.)"""

from __future__ import annotations

import asyncio
import json

import pytest
import torch
from ajet_backbone_verl.cpu.server import ENGINE_LOG_VARIABLE, CpuRolloutServer

SAMPLING = {"temperature": 1.0, "top_p": 1.0, "top_k": -1, "max_tokens": 6, "logprobs": True}


@pytest.fixture
def server(tiny_model_dir, tmp_path, monkeypatch):
    monkeypatch.setenv(ENGINE_LOG_VARIABLE, str(tmp_path / "engine.jsonl"))
    server = CpuRolloutServer(
        {"max_model_len": 128, "response_length": 16, "seed": 3}, {"path": str(tiny_model_dir)}
    )
    yield server
    server.engine.close()


def generate(server, **params):
    return asyncio.run(
        server.generate([1, 2, 3, 4], {**SAMPLING, **params}, request_id="r", seed=7)
    )


def test_generates_token_ids_with_logprobs_and_its_step(server):
    output = generate(server, seed=7)
    assert 1 <= len(output.token_ids) <= 6 and len(output.log_probs) == len(output.token_ids)
    assert all(lp <= 0 for lp in output.log_probs)
    assert output.extra_fields["global_steps"] is None and output.stop_reason == "completed"
    assert generate(server, seed=7, logprobs=False).log_probs is None


def test_new_weights_change_what_it_serves_and_are_logged(server, tmp_path):
    before = generate(server, seed=7, temperature=0.0)
    state = {k: v.clone() for k, v in server.engine.model.state_dict().items()}
    # The trainer's update, as the adapter sends it: every tensor, float32 on the CPU.
    torch.manual_seed(0)
    moved = {k: v + 0.5 * torch.randn_like(v) for k, v in state.items()}
    event = server.update_weights(moved, global_steps=4)
    after = generate(server, seed=7, temperature=0.0)
    assert after.extra_fields["global_steps"] == 4
    assert (after.token_ids, after.log_probs) != (before.token_ids, before.log_probs)
    [logged] = [json.loads(line) for line in (tmp_path / "engine.jsonl").read_text().splitlines()]
    assert logged == event and logged["global_steps"] == 4 and logged["tensors"] == len(state)
    with pytest.raises(ValueError, match="lacks"):
        server.update_weights({k: v for k, v in list(moved.items())[1:]}, global_steps=5)
