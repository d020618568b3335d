"""Trainer checkpoints: weights (full model or LoRA adapter), AdamW, LR schedule, step and RNG.

In memory, ``trainer_state_dict`` is one dict holding everything. On disk a checkpoint directory
holds::

    ajet_checkpoint.json   manifest, written last: its presence means the checkpoint is complete
    model/                 full fine-tuning: ``save_pretrained`` output (+ tokenizer)
    adapter/               LoRA: peft ``save_pretrained`` output (+ tokenizer)
    trainer_state.pt       optimizer, scheduler, step, RNG states and the parameter signature

The weights are stored in the Hugging Face formats so ``ajet export`` (and any transformers or
peft user) can read them without AgentJet. Loading validates the format, the kind (full/LoRA) and
every trainable parameter's name and shape before touching the model, so a corrupt or mismatched
checkpoint is a ``CheckpointError`` that says what differs, not a crash deep in torch.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from ajet_core.errors import CheckpointError, TrainingDiverged

if TYPE_CHECKING:  # pragma: no cover
    from ajet_backbone_debug.training.trained_state import TrainedState

FORMAT = "ajet-debug-trainer"
VERSION = 1
MANIFEST = "ajet_checkpoint.json"
STATE_FILE = "trainer_state.pt"
MODEL_DIR = "model"
ADAPTER_DIR = "adapter"


# ---------------------------------------------------------------------------- RNG


def capture_rng() -> dict[str, Any]:
    """The RNG states the trainer owns: torch, CUDA and numpy (Python's is the core loop's)."""
    import numpy as np

    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        # Plain ints so the file loads with torch.load(weights_only=True).
        "numpy": [kind, [int(k) for k in keys], int(pos), int(has_gauss), float(cached)],
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    import numpy as np

    torch.set_rng_state(state["torch"].cpu())
    # Python's `random` belongs to the core's loop state (loop_state.json), restored there; a
    # "python" entry in checkpoints written before that is ignored.
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, np.array(keys, dtype=np.uint32), pos, has_gauss, cached))
    if "cuda" in state and torch.cuda.is_available():
        # The checkpoint is loaded onto the trainer's device; RNG states must be CPU byte tensors.
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])


# ---------------------------------------------------------------------------- in memory


def signature(trainer: TrainedState) -> dict[str, Any]:
    """What a checkpoint must match: full/LoRA, and each trainable parameter's name and shape."""
    lora = None
    if trainer.is_lora:
        options = trainer.config.lora
        lora = {"rank": options.rank, "alpha": options.alpha}
    return {
        "kind": "lora" if trainer.is_lora else "full",
        "lora": lora,
        "params": {n: list(p.shape) for n, p in trainer.trainable_parameters()},
    }


def model_state(trainer: TrainedState) -> dict[str, torch.Tensor]:
    if trainer.is_lora:
        from peft import get_peft_model_state_dict

        return get_peft_model_state_dict(trainer.peft_model)
    return trainer.model.state_dict()


def trainer_state_dict(trainer: TrainedState) -> dict[str, Any]:
    """A snapshot (deep copy: later training does not change it) of the whole trainer."""
    return copy.deepcopy(
        {
            "format": FORMAT,
            "version": VERSION,
            "signature": signature(trainer),
            "model": model_state(trainer),
            **_training_state(trainer),
        }
    )


def _training_state(trainer: TrainedState) -> dict[str, Any]:
    return {
        "optimizer": trainer.optimizer.state_dict(),
        "scheduler": trainer.scheduler.state_dict(),
        "step": trainer.step,
        "rng": capture_rng(),
    }


def first_non_finite(tensors: dict[str, Any]) -> str | None:
    """The name of the first floating-point tensor holding a NaN or an infinity, nested dicts
    (an optimizer's per-parameter state) included; None when every one is finite."""
    for name, value in tensors.items():
        if isinstance(value, dict):
            inner = first_non_finite({f"{name}.{k}": v for k, v in value.items()})
            if inner is not None:
                return inner
        elif (
            isinstance(value, torch.Tensor)
            and value.is_floating_point()
            and not bool(torch.isfinite(value).all())
        ):
            return str(name)
    return None


def check_finite(trainer: TrainedState, when: str) -> None:
    """Raise TrainingDiverged when a trainable weight or the optimizer's state is non-finite."""
    weights = first_non_finite(dict(trainer.trainable_parameters()))
    moments = None if weights else first_non_finite(trainer.optimizer.state_dict()["state"])
    broken = f"weight {weights}" if weights else f"optimizer state {moments}" if moments else None
    if broken:
        raise TrainingDiverged(
            f"{when}: the {broken} holds NaN or infinity, so the policy can no longer train "
            f"(step {trainer.step}, trainer.lr={trainer.config.lr}); nothing was saved from it. "
            "Lower trainer.lr (or trainer.grad_clip) and --resume "
            "from the last checkpoint"
        )


def load_trainer_state_dict(
    trainer: TrainedState, state: dict[str, Any], source: str = "the state dict"
) -> None:
    """Restore a snapshot; validates everything first, then loads."""
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(
            f"{source} is not an AgentJet debug-trainer checkpoint (format "
            f"{state.get('format') if isinstance(state, dict) else type(state).__name__!r}, "
            f"expected {FORMAT!r})"
        )
    if state.get("version") != VERSION:
        raise CheckpointError(
            f"{source} has checkpoint version {state.get('version')!r}; this ajet-backbone-debug "
            f"reads version {VERSION}: resume with the AgentJet version that wrote it"
        )
    missing = [
        k for k in ("signature", "model", "optimizer", "scheduler", "step", "rng") if k not in state
    ]
    if missing:
        raise CheckpointError(f"{source} is incomplete: it lacks {', '.join(missing)}")
    _check_signature(trainer, state["signature"], source)
    _check_model_state(trainer, state["model"], source)
    broken = first_non_finite(state["model"]) or first_non_finite(
        state["optimizer"].get("state", {})
    )
    if broken:
        raise CheckpointError(
            f"{source} holds NaN or infinity in {broken}: it was saved from a diverged run; "
            "resume from an earlier checkpoint"
        )
    try:
        _load_model_state(trainer, state["model"])
        trainer.optimizer.load_state_dict(state["optimizer"])
        trainer.scheduler.load_state_dict(state["scheduler"])
        restore_rng(state["rng"])
    except (RuntimeError, ValueError, KeyError, TypeError, IndexError) as exc:
        raise CheckpointError(f"{source} could not be restored: {exc}") from exc
    trainer.step = int(state["step"])


def _check_signature(trainer: TrainedState, saved: dict[str, Any], source: str) -> None:
    current = signature(trainer)
    if saved.get("kind") != current["kind"]:
        raise CheckpointError(
            f"{source} was written by {saved.get('kind')!r} training but this trainer does "
            f"{current['kind']!r} training: set trainer.lora.rank to match the checkpoint "
            f"({saved.get('lora') or 'rank 0'})"
        )
    if saved.get("lora") != current["lora"]:
        raise CheckpointError(
            f"{source} has LoRA settings {saved.get('lora')} but trainer.lora is {current['lora']}"
        )
    _compare_shapes(saved.get("params", {}), current["params"], source, "trainable parameter")


def _compare_shapes(saved: dict[str, Any], current: dict[str, Any], source: str, what: str) -> None:
    only_saved = sorted(set(saved) - set(current))
    only_current = sorted(set(current) - set(saved))
    wrong = [
        f"{n}: checkpoint {list(saved[n])} vs model {list(current[n])}"
        for n in sorted(set(saved) & set(current))
        if list(saved[n]) != list(current[n])
    ]
    problems = []
    if only_saved:
        problems.append(f"{len(only_saved)} {what}s only in the checkpoint (e.g. {only_saved[:3]})")
    if only_current:
        problems.append(f"{len(only_current)} {what}s only in the model (e.g. {only_current[:3]})")
    if wrong:
        problems.append(f"{len(wrong)} shape mismatches (e.g. {wrong[:3]})")
    if problems:
        raise CheckpointError(
            f"{source} does not fit this model: {'; '.join(problems)}. Was it written for another "
            "model.path or LoRA rank? Resume with the same model and trainer settings."
        )


def _check_model_state(trainer: TrainedState, saved: dict[str, torch.Tensor], source: str) -> None:
    current = model_state(trainer)
    if not trainer.is_lora:
        # Tied weights (e.g. lm_head = embed_tokens) may be stored under one name only.
        saved = {
            **saved,
            **{alias: saved[name] for alias, name in _tied_aliases(trainer.model, saved).items()},
        }
    _compare_shapes(
        {k: list(v.shape) for k, v in saved.items()},
        {k: list(v.shape) for k, v in current.items()},
        source,
        "weight",
    )


def _tied_aliases(model: torch.nn.Module, present: dict[str, Any]) -> dict[str, str]:
    """Missing parameter names that share storage with a present one: {missing: present}."""
    by_tensor: dict[int, list[str]] = {}
    for name, parameter in model.named_parameters(remove_duplicate=False):
        by_tensor.setdefault(id(parameter), []).append(name)
    aliases = {}
    for names in by_tensor.values():
        stored = [n for n in names if n in present]
        for name in names:
            if name not in present and stored:
                aliases[name] = stored[0]
    return aliases


def _load_model_state(trainer: TrainedState, saved: dict[str, torch.Tensor]) -> None:
    if trainer.is_lora:
        from peft import set_peft_model_state_dict

        set_peft_model_state_dict(trainer.peft_model, saved)
        return
    saved = {
        **saved,
        **{alias: saved[name] for alias, name in _tied_aliases(trainer.model, saved).items()},
    }
    trainer.model.load_state_dict(saved, strict=True)


# ---------------------------------------------------------------------------- on disk


def save_checkpoint(trainer: TrainedState, directory: str | Path) -> Path:
    """Write the trainer into ``directory`` (created); the manifest is written last. A trainer
    whose weights or optimizer state are non-finite is refused (TrainingDiverged)."""
    check_finite(trainer, "not saving a checkpoint")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    manifest_path = directory / MANIFEST
    if manifest_path.exists():  # rewriting: the old manifest must not vouch for half-new files
        manifest_path.unlink()
    if trainer.is_lora:
        weights_dir = directory / ADAPTER_DIR
        trainer.peft_model.save_pretrained(weights_dir)
    else:
        weights_dir = directory / MODEL_DIR
        trainer.model.save_pretrained(weights_dir)
    if trainer.tokenizer is not None:
        trainer.tokenizer.save_pretrained(weights_dir)
    state = {
        "format": FORMAT,
        "version": VERSION,
        "signature": signature(trainer),
        **_training_state(trainer),
    }
    _atomic_torch_save(state, directory / STATE_FILE)
    manifest = {
        "format": FORMAT,
        "version": VERSION,
        "kind": "lora" if trainer.is_lora else "full",
        "step": trainer.step,
        "weights": weights_dir.name,
        "base_model": str(getattr(trainer.model, "name_or_path", "") or ""),
        "model_class": type(trainer.model).__name__,
        "lora": signature(trainer)["lora"],
        "temperature": trainer.temperature,
        "torch": torch.__version__,
    }
    _atomic_write_text(manifest_path, json.dumps(manifest, indent=2))
    return directory


def read_manifest(directory: str | Path) -> dict[str, Any]:
    directory = Path(directory)
    path = directory / MANIFEST
    if not directory.is_dir():
        raise CheckpointError(f"checkpoint {str(directory)!r} does not exist or is not a directory")
    if not path.exists():
        raise CheckpointError(
            f"{str(directory)!r} is not a complete debug-backbone checkpoint: it has no {MANIFEST} "
            "(the save was interrupted, or this is another kind of folder); pick an earlier "
            "checkpoint"
        )
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{path} is unreadable ({exc}); the checkpoint is corrupt") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not an AgentJet debug-trainer manifest")
    return manifest


def load_checkpoint(trainer: TrainedState, directory: str | Path) -> None:
    directory = Path(directory)
    manifest = read_manifest(directory)
    weights = _read_weights(directory / str(manifest.get("weights", "")), manifest)
    state_path = directory / STATE_FILE
    try:
        state = torch.load(state_path, map_location=trainer.device, weights_only=True)
    except FileNotFoundError as exc:
        raise CheckpointError(f"checkpoint {str(directory)!r} lacks {STATE_FILE}") from exc
    except Exception as exc:  # torch raises many types for a truncated or foreign file
        raise CheckpointError(
            f"{state_path} is corrupt or not a trainer state ({type(exc).__name__}: {exc}); pick "
            "an earlier checkpoint"
        ) from exc
    if isinstance(state, dict):
        state["model"] = weights
    load_trainer_state_dict(trainer, state, source=f"checkpoint {str(directory)!r}")


def _read_weights(weights_dir: Path, manifest: dict[str, Any]) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    if manifest.get("kind") == "lora":
        files = [weights_dir / "adapter_model.safetensors"]
    else:
        files = sorted(weights_dir.glob("*.safetensors"))
    if not files or not all(f.exists() for f in files):
        raise CheckpointError(
            f"checkpoint weights are missing: expected safetensors files in {str(weights_dir)!r}"
        )
    weights: dict[str, torch.Tensor] = {}
    for file in files:
        try:
            weights.update(load_file(str(file)))
        except (SafetensorError, OSError, ValueError) as exc:
            raise CheckpointError(f"{file} is corrupt ({exc}); pick an earlier checkpoint") from exc
    return weights


def _atomic_torch_save(obj: Any, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
