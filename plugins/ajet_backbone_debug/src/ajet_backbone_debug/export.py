"""Merged model directories from the debug trainer, loadable by plain transformers or vLLM.

``export_checkpoint`` turns a checkpoint directory (see ``training/checkpoint.py``) into a full
model directory: for full fine-tuning the saved weights as they are, for LoRA the base model with
the adapter merged in. ``export_trainer_model`` does the same from a live trainer. The output
folder is written under a temporary name and renamed at the end, so a crash never leaves a
half-written model where a user expects a complete one; an existing non-empty folder is never
overwritten.
"""

from __future__ import annotations

import copy
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ajet_backbone_debug.training.checkpoint import CheckpointError, read_manifest
from ajet_core.errors import AjetError

if TYPE_CHECKING:  # pragma: no cover
    from ajet_backbone_debug.training.trained_state import TrainedState


class ExportError(AjetError):
    """The export target is unusable or the base model of a LoRA checkpoint cannot be found."""


def export_checkpoint(
    checkpoint: str | Path, out_dir: str | Path, base_model: str | Path | None = None
) -> Path:
    """Write ``out_dir`` from a trainer checkpoint; returns ``out_dir``.

    ``base_model`` overrides the base model path recorded in a LoRA checkpoint (needed when the
    model was moved, or was built in memory and never had a path).
    """
    checkpoint = find_checkpoint(checkpoint)
    manifest = read_manifest(checkpoint)
    weights_dir = checkpoint / manifest["weights"]
    out_dir = Path(out_dir)
    _check_target(out_dir)
    with _staging(out_dir) as tmp:
        if manifest["kind"] == "full":
            # Already a complete model directory: copying keeps it byte-identical.
            shutil.copytree(weights_dir, tmp, dirs_exist_ok=True)
        else:
            _merge_adapter(
                weights_dir, base_model or manifest.get("base_model") or "", tmp, checkpoint
            )
    return out_dir


def export_trainer_model(trainer: TrainedState, out_dir: str | Path) -> Path:
    """Write the trainer's current policy (LoRA merged into a copy) as a full model directory."""
    out_dir = Path(out_dir)
    _check_target(out_dir)
    with _staging(out_dir) as tmp:
        if trainer.is_lora:
            # Merge into a copy: the live model keeps its adapters and keeps training.
            merged = copy.deepcopy(trainer.peft_model).merge_and_unload()
            merged.save_pretrained(tmp)
        else:
            trainer.model.save_pretrained(tmp)
        if trainer.tokenizer is not None:
            trainer.tokenizer.save_pretrained(tmp)
    return out_dir


def find_checkpoint(path: str | Path) -> Path:
    """``path`` itself when it holds a trainer manifest, else its one sub-folder that does."""
    from ajet_backbone_debug.training.checkpoint import MANIFEST

    path = Path(path)
    if not path.is_dir():
        raise CheckpointError(f"checkpoint {str(path)!r} does not exist or is not a directory")
    if (path / MANIFEST).exists():
        return path
    found = sorted(p.parent for p in path.glob(f"*/{MANIFEST}"))
    if len(found) == 1:
        return found[0]
    if found:
        raise CheckpointError(
            f"{str(path)!r} holds several trainer checkpoints ({[p.name for p in found]}); name one"
        )
    return path  # read_manifest explains what is missing


def _merge_adapter(adapter_dir: Path, base_model: str | Path, out: Path, checkpoint: Path) -> None:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if not str(base_model) or not Path(base_model).exists():
        raise ExportError(
            f"LoRA checkpoint {str(checkpoint)!r} needs its base model, but "
            f"{str(base_model) or 'no path'!r} is not on this machine: pass --base-model DIR "
            "(the model.path the run trained)"
        )
    base_path = Path(base_model)
    load_kwargs: dict[str, Any] = {}
    if base_path.is_file() and base_path.suffix == ".gguf":
        load_kwargs["gguf_file"] = base_path.name
        base_path = base_path.parent
    base = AutoModelForCausalLM.from_pretrained(base_path, **load_kwargs)
    merged = PeftModel.from_pretrained(base, adapter_dir).merge_and_unload()
    merged.save_pretrained(out)
    tokenizer_source = (
        adapter_dir if (adapter_dir / "tokenizer_config.json").exists() else base_path
    )
    AutoTokenizer.from_pretrained(tokenizer_source, **load_kwargs).save_pretrained(out)


def _check_target(out_dir: Path) -> None:
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise ExportError(
            f"export target {str(out_dir)!r} already exists and is not empty; choose a new folder "
            "(exports never overwrite)"
        )


class _staging:
    """A temporary sibling folder renamed to ``out_dir`` on success, removed on failure."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir

    def __enter__(self) -> Path:
        self.out_dir.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = Path(tempfile.mkdtemp(prefix=f".{self.out_dir.name}-", dir=self.out_dir.parent))
        return self.tmp

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            return
        if self.out_dir.exists():  # an empty folder the user made for us
            self.out_dir.rmdir()
        os.replace(self.tmp, self.out_dir)
