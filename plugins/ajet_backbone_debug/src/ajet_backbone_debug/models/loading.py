"""Load a causal LM and its tokenizer from ``model.path``: a local HF directory or a GGUF file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ajet_core.errors import ConfigError

DTYPES = {"float32": "float32", "bfloat16": "bfloat16", "float16": "float16"}


def _split(path: str | Path) -> tuple[str, dict[str, Any]]:
    """(directory, extra from_pretrained kwargs) for a model directory or a ``.gguf`` file."""
    p = Path(path).expanduser()
    if p.is_file() and p.suffix == ".gguf":
        return str(p.parent), {"gguf_file": p.name}
    if p.is_dir():
        if not (p / "config.json").exists():
            raise ConfigError(
                f"model.path {str(path)!r} is a directory without config.json; point it at a "
                "Hugging Face model directory (e.g. one made by `ajet model init-tiny DIR`) or a "
                ".gguf file"
            )
        return str(p), {}
    raise ConfigError(
        f"model.path {str(path)!r} does not exist (or is not a .gguf file); no model hub is "
        "reachable here, so it must be a local model directory or GGUF file"
    )


def fix_chatml_special_tokens(tokenizer: Any, model: Any | None = None) -> None:
    """ChatML models end a turn with ``<|im_end|>``: make it EOS, and give the tokenizer a pad.

    SmolLM2's GGUF declares ``<|im_start|>`` as EOS and has no pad token; generation would run
    past every turn, and batching needs a pad id.
    """
    vocab = tokenizer.get_vocab()
    if "<|im_end|>" in vocab and tokenizer.eos_token != "<|im_end|>":
        tokenizer.eos_token = "<|im_end|>"
    if tokenizer.pad_token is None or tokenizer.pad_token == tokenizer.eos_token:
        # A pad distinct from EOS (a token chat prompts never contain), so a pad id is never
        # mistaken for a sampled end of turn; padding is always masked anyway.
        if "<|endoftext|>" in vocab:
            tokenizer.pad_token = "<|endoftext|>"
        elif tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
    if model is not None:
        model.config.eos_token_id = tokenizer.eos_token_id
        model.config.pad_token_id = tokenizer.pad_token_id
        if getattr(model, "generation_config", None) is not None:
            model.generation_config.eos_token_id = tokenizer.eos_token_id
            model.generation_config.pad_token_id = tokenizer.pad_token_id


def load_tokenizer(path: str | Path, trust_remote_code: bool = False) -> Any:
    from transformers import AutoTokenizer

    directory, extra = _split(path)
    tokenizer = AutoTokenizer.from_pretrained(
        directory, trust_remote_code=trust_remote_code, **extra
    )
    if extra:
        fix_chatml_special_tokens(tokenizer)
    if tokenizer.chat_template is None:
        raise ConfigError(
            f"the tokenizer at model.path {str(path)!r} has no chat template; the gateway renders "
            "messages with it. Use a chat/instruct model or add a chat_template to "
            "tokenizer_config.json"
        )
    return tokenizer


def resolve_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(
            f"model.device {device!r} asked for a GPU but torch sees none; use 'auto' or 'cpu'"
        )
    return device


def resolve_dtype(dtype: str, device: str) -> Any:
    import torch

    if dtype == "auto":
        # fp32 on CPU (bf16 matmuls are slow without AMX and change logprobs); bf16 on a GPU.
        return torch.bfloat16 if device.startswith("cuda") else torch.float32
    if dtype not in DTYPES:
        raise ConfigError(f"model.dtype {dtype!r} is not one of auto, {', '.join(DTYPES)}")
    return getattr(torch, DTYPES[dtype])


def load_model(
    path: str | Path, dtype: str = "auto", device: str = "auto", trust_remote_code: bool = False
) -> Any:
    """The model in eval mode on ``device``; a GGUF file is dequantised by transformers."""
    from transformers import AutoModelForCausalLM

    directory, extra = _split(path)
    device = resolve_device(device)
    model = AutoModelForCausalLM.from_pretrained(
        directory, dtype=resolve_dtype(dtype, device), trust_remote_code=trust_remote_code, **extra
    )
    return model.to(device).eval()
