"""The real local models: `ajet model init-tiny` and `ajet model import-smollm2`."""

from __future__ import annotations

import json

import pytest
import torch
from ajet_backbone_debug.models.probes import BOXED, SCORE, parse_tool_calls, run_probes
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM, AutoTokenizer

from ajet_core.cli.main import main as ajet_main

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


def greedy(model, tokenizer, messages, tools=None, max_new_tokens=64) -> str:
    ids = tokenizer.apply_chat_template(
        messages, tools=tools, add_generation_prompt=True, return_dict=False
    )
    with torch.no_grad():
        out = model.generate(torch.tensor([ids]), max_new_tokens=max_new_tokens, do_sample=False)
    return tokenizer.decode(out[0, len(ids) :], skip_special_tokens=True)


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    return AutoModelForCausalLM.from_pretrained(tiny_model_dir), AutoTokenizer.from_pretrained(
        tiny_model_dir
    )


def test_tiny_model_is_a_small_qwen2_with_chatml_tokens(tiny, tiny_model_dir):
    model, tokenizer = tiny
    assert model.config.model_type == "qwen2"
    assert 100_000 < sum(p.numel() for p in model.parameters()) < 2_000_000
    assert (
        tokenizer.eos_token == "<|im_end|>"
        and model.generation_config.eos_token_id == tokenizer.eos_token_id
    )
    assert tokenizer.pad_token is not None and tokenizer.pad_token_id != tokenizer.eos_token_id
    # Byte-level BPE: any text round-trips, including characters never seen in training.
    text = "héllo wörld 🚀 <tool_call>"
    assert tokenizer.decode(tokenizer.encode(text, add_special_tokens=False)) == text
    report = json.loads((tiny_model_dir / "ajet_tiny.json").read_text())
    assert report["parameters"] == sum(p.numel() for p in model.parameters())


def test_chat_template_renders_tools_calls_and_results_prefix_stably(tiny):
    _, tokenizer = tiny
    messages = [
        {"role": "user", "content": "Weather in Oslo?"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "snowy"},
        {"role": "assistant", "content": "It is snowy in Oslo."},
    ]
    full = tokenizer.apply_chat_template(messages, tools=[WEATHER_TOOL], tokenize=False)
    assert '<tools>\n{"type": "function", "function": {"name": "get_weather"' in full
    assert (
        '<|im_start|>assistant\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Oslo"}}'
        "\n</tool_call><|im_end|>\n" in full
    )
    assert "<|im_start|>tool\nsnowy<|im_end|>\n" in full
    for k in range(1, len(messages)):
        prefix = tokenizer.apply_chat_template(messages[:k], tools=[WEATHER_TOOL], tokenize=False)
        assert full.startswith(prefix)
    # Dict arguments (the HF convention) render exactly like the JSON string form.
    as_dict = [
        dict(
            messages[1],
            tool_calls=[{"function": {"name": "get_weather", "arguments": {"city": "Oslo"}}}],
        )
    ]
    assert tokenizer.apply_chat_template(as_dict, tokenize=False) in full


def test_tiny_model_emits_a_parseable_hermes_tool_call(tiny):
    model, tokenizer = tiny
    reply = greedy(
        model,
        tokenizer,
        [{"role": "user", "content": "What is the weather in Helsinki?"}],
        [WEATHER_TOOL],
    )
    calls = parse_tool_calls(reply)
    assert len(calls) == 1, reply
    assert calls[0]["name"] == "get_weather" and isinstance(calls[0]["arguments"], dict)


def test_tiny_model_answers_math_with_boxed_and_judges_with_a_score(tiny):
    model, tokenizer = tiny
    math = greedy(model, tokenizer, [{"role": "user", "content": "What is 41 + 26?"}])
    assert BOXED.search(math), math
    verdict = greedy(
        model,
        tokenizer,
        [
            {"role": "system", "content": "You are a strict judge. Rate the answer from 0 to 10."},
            {"role": "user", "content": "Question: What is 5 + 5?\nAnswer: 10\nRate the answer."},
        ],
    )
    match = SCORE.search(verdict)
    assert match and 0 <= int(match.group(1)) <= 10, verdict


def test_tiny_model_passes_every_probe(tiny):
    failures = [(kind, reply) for kind, reply, ok in run_probes(*tiny) if not ok]
    assert failures == []


def test_init_tiny_command_is_seeded_and_loadable(tmp_path, capsys):
    # A short build through the real CLI: same seed -> identical weights, other seed -> different.
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        assert (
            ajet_main(
                [
                    "model",
                    "init-tiny",
                    str(tmp_path / name),
                    "--seed",
                    str(seed),
                    "--steps",
                    "3",
                    "--no-check",
                ]
            )
            == 0
        )
    assert "tiny model saved to" in capsys.readouterr().out
    weights = {n: load_file(tmp_path / n / "model.safetensors") for n in "abc"}
    assert weights["a"].keys() == weights["b"].keys()
    assert all(torch.equal(weights["a"][k], weights["b"][k]) for k in weights["a"])
    assert not all(torch.equal(weights["a"][k], weights["c"][k]) for k in weights["a"])
    assert (tmp_path / "a" / "tokenizer.json").read_text() == (
        tmp_path / "b" / "tokenizer.json"
    ).read_text()
    model = AutoModelForCausalLM.from_pretrained(tmp_path / "a")
    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "a")
    assert tokenizer.eos_token == "<|im_end|>" and model.config.vocab_size == len(tokenizer)


def test_init_tiny_rejects_bad_steps(tmp_path, capsys):
    assert ajet_main(["model", "init-tiny", str(tmp_path / "x"), "--steps", "0"]) == 2
    assert "--steps must be positive" in capsys.readouterr().err


def test_a_build_that_never_learns_the_formats_fails_clearly(tmp_path, capsys):
    # Two steps cannot teach the formats: the held-out checks fail and the build says so.
    assert (
        ajet_main(["model", "init-tiny", str(tmp_path / "x"), "--steps", "2", "--max-steps", "2"])
        == 2
    )
    err = capsys.readouterr().err
    assert (
        "still fails" in err
        and "held-out format checks after 2 steps" in err
        and "--max-steps" in err
    )
    assert not (tmp_path / "x").exists()


def test_the_cached_build_passed_its_held_out_checks(tiny_model_dir):
    report = json.loads((tiny_model_dir / "ajet_tiny.json").read_text())
    assert (
        report["held_out_checks"] >= 20
        and report["train_steps"] <= report["spec"]["max_train_steps"]
    )


@pytest.mark.slow
def test_import_smollm2_fixes_the_tokenizer_and_saves_a_loadable_model(smollm2_dir):
    tokenizer = AutoTokenizer.from_pretrained(smollm2_dir)
    assert tokenizer.eos_token == "<|im_end|>"
    assert (
        tokenizer.pad_token == "<|endoftext|>" and tokenizer.pad_token_id != tokenizer.eos_token_id
    )
    config = json.loads((smollm2_dir / "config.json").read_text())
    assert config["model_type"] == "llama" and "quantization_config" not in config
    model = AutoModelForCausalLM.from_pretrained(smollm2_dir)
    assert 130e6 < sum(p.numel() for p in model.parameters()) < 140e6
    reply = greedy(
        model,
        tokenizer,
        [{"role": "user", "content": "What is 2 + 3? Answer with a number."}],
        max_new_tokens=24,
    )
    assert "5" in reply, reply


def test_a_missing_test_model_is_an_error_naming_the_command_that_makes_it(tmp_path):
    from ajet_backbone_debug.models.model_cache import (
        TestModelMissing,
        smollm2_path,
        tiny_model_path,
    )

    with pytest.raises(TestModelMissing, match=rf"not in {tmp_path}; build it with `ajet model "):
        tiny_model_path(tmp_path)
    with pytest.raises(
        TestModelMissing, match=rf"import it with `ajet model test-cache {tmp_path}`"
    ):
        smollm2_path(tmp_path)
    assert list(tmp_path.iterdir()) == []  # finding builds nothing


def test_test_cache_command_reuses_what_set_up_made(tiny_model_dir, smollm2_dir, capsys):
    # Set-up made the cache; running the command again finds every model and makes none.
    assert ajet_main(["model", "test-cache", str(tiny_model_dir.parent)]) == 0
    out = capsys.readouterr().out
    assert f"tiny: cached at {tiny_model_dir}" in out and f"cached at {smollm2_dir}" in out
    assert "made at" not in out
