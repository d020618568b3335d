"""Trainer checkpoints: exact resume (weights, AdamW, schedule, step, RNG) and clear errors."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from ajet_backbone_debug.training.checkpoint import CheckpointError
from ajet_backbone_debug.training.trainer import PolicyTrainer

from ajet_core import metrics as m
from ajet_core.config.models import TrainerConfig
from ajet_core.errors import TrainingDiverged

from .trainer_support import (
    TEMPERATURE,
    chat_prompt,
    load_tiny,
    one_torch_thread,  # noqa: F401 - autouse fixture
    sampled_sample,
)

FULL = {
    "lr": 1e-3,
    "weight_decay": 0.01,
    "lr_scheduler": "cosine",
    "warmup_steps": 1,
    "total_steps": 6,
}
LORA = {**FULL, "lora": {"rank": 4, "alpha": 8, "dropout": 0.1}}


@pytest.fixture(scope="module")
def model_dir(tiny_model_dir):
    return tiny_model_dir


@pytest.fixture(scope="module")
def batches(model_dir):
    """Four steps' samples, drawn once so both runs train on identical data."""
    model, tokenizer = load_tiny(model_dir)
    generator = torch.Generator().manual_seed(11)
    prompts = [chat_prompt(tokenizer, q) for q in ("Say yes.", "Add 1 and 2.", "Hi!")]
    return [
        [sampled_sample(model, p, 8, adv, generator) for p, adv in zip(prompts, (1.0, -1.0, 0.5))]
        for _ in range(4)
    ]


def new_trainer(model_dir, options, seed=0):
    torch.manual_seed(seed)
    model, tokenizer = load_tiny(model_dir)
    return PolicyTrainer(
        model, TrainerConfig(**options), temperature=TEMPERATURE, tokenizer=tokenizer
    )


def _train(trainer, batches):
    out = []
    for batch in batches:
        # Touch the RNGs the trainer owns, so restoring them is part of the check (Python's
        # `random` is the core loop's, saved in loop_state.json).
        out.append((trainer.train_step(batch), float(np.random.rand())))
    return out


def _params(trainer):
    return {n: p.detach().clone() for n, p in trainer.model.named_parameters()}


def _assert_same(a, b):
    assert a.keys() == b.keys()
    for name in a:
        assert torch.allclose(a[name], b[name], atol=1e-6, rtol=0), name


@pytest.mark.parametrize("options", [FULL, LORA], ids=["full", "lora"])
def test_resume_from_state_dict_continues_exactly(model_dir, batches, options):
    straight = new_trainer(model_dir, options)
    _train(straight, batches[:2])
    snapshot = straight.state_dict()
    tail_straight = _train(straight, batches[2:])

    resumed = new_trainer(model_dir, options, seed=123)  # a different RNG state before loading
    python_rng = random.getstate()
    resumed.load_state_dict(snapshot)
    assert random.getstate() == python_rng  # one owner of Python's random: the core's loop
    assert resumed.step == 2
    tail_resumed = _train(resumed, batches[2:])
    _assert_same(_params(straight), _params(resumed))
    for (ma, na), (mb, nb) in zip(tail_straight, tail_resumed):
        assert ma[m.LOSS] == pytest.approx(mb[m.LOSS], abs=1e-6)
        assert ma[m.LEARNING_RATE] == mb[m.LEARNING_RATE]
        assert na == nb


@pytest.mark.parametrize("options", [FULL, LORA], ids=["full", "lora"])
def test_resume_from_disk_continues_exactly(model_dir, batches, options, tmp_path):
    straight = new_trainer(model_dir, options)
    _train(straight, batches[:2])
    straight.save_checkpoint(tmp_path / "ckpt")
    _train(straight, batches[2:])
    # Dropout in LoRA draws from torch's RNG: equal results prove its state was restored.
    rng_after = torch.rand(3)

    resumed = new_trainer(model_dir, options, seed=999)
    resumed.load_checkpoint(tmp_path / "ckpt")
    _train(resumed, batches[2:])
    _assert_same(_params(straight), _params(resumed))
    assert torch.equal(rng_after, torch.rand(3))
    assert resumed.step == straight.step == 4


def test_checkpoint_folder_is_plain_hugging_face(model_dir, batches, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    trainer = new_trainer(model_dir, FULL)
    _train(trainer, batches[:1])
    trainer.save(tmp_path / "ckpt")
    reloaded = AutoModelForCausalLM.from_pretrained(tmp_path / "ckpt" / "model")
    _assert_same(dict(trainer.model.named_parameters()), dict(reloaded.named_parameters()))
    assert AutoTokenizer.from_pretrained(tmp_path / "ckpt" / "model").encode("hi")


# ---------------------------------------------------------------------------- bad checkpoints


@pytest.fixture
def saved_full(model_dir, batches, tmp_path):
    trainer = new_trainer(model_dir, FULL)
    _train(trainer, batches[:1])
    return trainer.save(tmp_path / "ckpt")


def test_truncated_trainer_state_is_a_clear_error(model_dir, saved_full):
    state = saved_full / "trainer_state.pt"
    state.write_bytes(state.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match="trainer_state.pt is corrupt"):
        new_trainer(model_dir, FULL).load(saved_full)


def test_corrupt_weights_are_a_clear_error(model_dir, saved_full):
    (weights,) = (saved_full / "model").glob("*.safetensors")
    weights.write_bytes(b"\x00" * 64)
    with pytest.raises(CheckpointError, match="corrupt"):
        new_trainer(model_dir, FULL).load(saved_full)


def test_interrupted_save_is_a_clear_error(model_dir, saved_full):
    (saved_full / "ajet_checkpoint.json").unlink()
    with pytest.raises(CheckpointError, match="not a complete debug-backbone checkpoint"):
        new_trainer(model_dir, FULL).load(saved_full)


def test_a_non_finite_optimizer_state_is_neither_saved_nor_loaded(model_dir, batches, tmp_path):
    trainer = new_trainer(model_dir, FULL)
    _train(trainer, batches[:1])
    state = trainer.state_dict()
    first = next(iter(trainer.optimizer.state.values()))
    first["exp_avg_sq"].fill_(float("nan"))
    with pytest.raises(TrainingDiverged, match=r"optimizer state \S*exp_avg_sq holds NaN"):
        trainer.save(tmp_path / "diverged")
    assert not (tmp_path / "diverged").exists()
    # A snapshot taken before the damage still loads; one holding the NaN is refused.
    state["optimizer"]["state"][0]["exp_avg_sq"].fill_(float("nan"))
    with pytest.raises(CheckpointError, match="holds NaN or infinity in .*exp_avg_sq"):
        new_trainer(model_dir, FULL).load_state_dict(state)


def test_full_checkpoint_into_lora_trainer_is_a_clear_error(model_dir, saved_full):
    with pytest.raises(CheckpointError, match="trainer.lora.rank"):
        new_trainer(model_dir, LORA).load(saved_full)


def test_checkpoint_of_another_model_is_a_clear_error(saved_full):
    from transformers import Qwen2Config, Qwen2ForCausalLM

    other = Qwen2ForCausalLM(
        Qwen2Config(
            vocab_size=1024,
            hidden_size=64,
            intermediate_size=96,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
        )
    )
    trainer = PolicyTrainer(other, TrainerConfig(), temperature=TEMPERATURE)
    with pytest.raises(CheckpointError, match="does not fit this model.*shape mismatches"):
        trainer.load(saved_full)


def test_other_lora_rank_is_a_clear_error(model_dir, batches, tmp_path):
    trainer = new_trainer(model_dir, LORA)
    trainer.save(tmp_path / "ckpt")
    other = new_trainer(model_dir, {**LORA, "lora": {"rank": 8, "alpha": 8}})
    with pytest.raises(CheckpointError, match="LoRA settings"):
        other.load(tmp_path / "ckpt")


def test_foreign_state_dict_is_a_clear_error(model_dir):
    trainer = new_trainer(model_dir, FULL)
    with pytest.raises(CheckpointError, match="not an AgentJet debug-trainer checkpoint"):
        trainer.load_state_dict(trainer.model.state_dict())
