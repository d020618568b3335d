"""LoRA training through peft, and exporting a merged model any transformers user can load."""

from __future__ import annotations

import pytest
import torch
from ajet_backbone_debug.export import ExportError, export_checkpoint
from ajet_backbone_debug.training.trainer import PolicyTrainer

from ajet_core.config.models import TrainerConfig

from .trainer_support import (
    TEMPERATURE,
    chat_prompt,
    load_tiny,
    one_torch_thread,  # noqa: F401 - autouse fixture
    params_snapshot,
    sampled_sample,
)

LORA = TrainerConfig(lr=5e-3, lora={"rank": 4, "alpha": 16})


@pytest.fixture(scope="module")
def model_dir(tiny_model_dir):
    return tiny_model_dir


@pytest.fixture
def trained(model_dir):
    """A LoRA trainer after three steps, and the served model's weights before them."""
    torch.manual_seed(0)
    model, tokenizer = load_tiny(model_dir)
    before = params_snapshot(model)
    generator = torch.Generator().manual_seed(2)
    prompts = [chat_prompt(tokenizer, q) for q in ("Hello.", "What is 5+5?")]
    samples = [sampled_sample(model, p, 8, adv, generator) for p, adv in zip(prompts, (1.0, -1.0))]
    trainer = PolicyTrainer(model, LORA, temperature=TEMPERATURE, tokenizer=tokenizer)
    for _ in range(3):
        trainer.train_step(samples)
    return model, tokenizer, trainer, before, samples


def _logits(model, ids):
    with torch.no_grad():
        return model(input_ids=torch.tensor([ids])).logits


def test_only_adapters_train_and_the_served_module_changes(trained, model_dir):
    model, _, trainer, before, samples = trained
    names = [n for n, _ in trainer.trainable_parameters()]
    assert names and all("lora_" in n for n in names)
    after = dict(model.named_parameters())
    for name, value in before.items():  # every original weight, e.g. q_proj.base_layer.weight
        module, _, leaf = name.rpartition(".")
        key = name if name in after else f"{module}.base_layer.{leaf}"
        assert torch.equal(after[key], value), name
    # The very object the engine holds now computes the trained policy: no weight copy needed.
    fresh, _ = load_tiny(model_dir)
    assert not torch.allclose(
        _logits(model, samples[0].input_ids), _logits(fresh, samples[0].input_ids)
    )


def test_export_from_trainer_loads_with_plain_transformers(trained, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model, tokenizer, trainer, _, samples = trained
    out = trainer.export(tmp_path / "merged")
    merged = AutoModelForCausalLM.from_pretrained(out)
    assert not any("lora" in n for n, _ in merged.named_parameters())
    ids = samples[0].input_ids
    assert torch.allclose(_logits(merged, ids), _logits(model, ids), atol=1e-4)
    assert AutoTokenizer.from_pretrained(out).encode("hello") == tokenizer.encode("hello")
    # The live model keeps its adapters and keeps training.
    assert trainer.trainable_parameters()


def test_ajet_export_command_merges_a_lora_checkpoint(trained, model_dir, tmp_path):
    from transformers import AutoModelForCausalLM

    from ajet_core.cli.main import main as ajet_main

    model, _, trainer, _, samples = trained
    # The core loop's layout: <run>/checkpoints/step_N/trainer/; either folder may be named.
    checkpoint = trainer.save(tmp_path / "step_3" / "trainer")
    assert ajet_main(["export", str(tmp_path / "step_3"), str(tmp_path / "out")]) == 0
    merged = AutoModelForCausalLM.from_pretrained(tmp_path / "out")
    ids = samples[1].input_ids
    assert torch.allclose(_logits(merged, ids), _logits(model, ids), atol=1e-4)
    assert checkpoint.exists()


def test_export_never_overwrites(trained, tmp_path):
    _, _, trainer, _, _ = trained
    target = tmp_path / "busy"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    with pytest.raises(ExportError, match="not empty"):
        trainer.export(target)
    assert (target / "keep.txt").read_text() == "mine"


def test_lora_export_without_base_model_names_the_way_out(trained, tmp_path):
    _, _, trainer, _, _ = trained
    checkpoint = trainer.save(tmp_path / "ckpt")
    with pytest.raises(ExportError, match="--base-model"):
        export_checkpoint(checkpoint, tmp_path / "out", base_model=tmp_path / "nowhere")
    assert not (tmp_path / "out").exists()


def test_ajet_export_of_a_broken_checkpoint_is_a_one_line_error(tmp_path, capsys):
    from ajet_core.cli.main import main as ajet_main

    (tmp_path / "empty").mkdir()
    assert ajet_main(["export", str(tmp_path / "empty"), str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "not a complete debug-backbone checkpoint" in err and "Traceback" not in err
