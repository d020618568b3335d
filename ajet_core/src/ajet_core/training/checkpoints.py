"""Checkpoints: the trainer's state (backbone-owned) plus the loop's own state.

Layout: ``<run_dir>/checkpoints/step_000010/{trainer/, loop_state.json}``. A checkpoint is
written into ``step_000010.partial`` and renamed when complete, so a run killed mid-save never
leaves a checkpoint that looks whole.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
from pathlib import Path
from typing import Any, Protocol

from ajet_core.errors import CheckpointError

LOOP_STATE_FILE = "loop_state.json"
TRAINER_DIR = "trainer"
FORMAT_VERSION = 1


class CheckpointableTrainer(Protocol):
    def save_checkpoint(self, path: Path) -> None: ...

    def load_checkpoint(self, path: Path) -> None: ...


class CheckpointManager:
    def __init__(self, run_dir: Path, keep_last: int = 2) -> None:
        self.root = run_dir / "checkpoints"
        self.keep_last = keep_last

    def save(self, step: int, trainer: CheckpointableTrainer, loop_state: dict[str, Any]) -> Path:
        final = self.root / f"step_{step:06d}"
        partial = final.with_name(final.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        try:
            partial.mkdir(parents=True)
            trainer.save_checkpoint(partial / TRAINER_DIR)
            state = {"format_version": FORMAT_VERSION, "step": step, **loop_state}
            (partial / LOOP_STATE_FILE).write_text(json.dumps(state))
            # On disk before the rename: after a power loss the name must not point at data
            # still in the page cache.
            _fsync_tree(partial)
        except OSError as exc:
            shutil.rmtree(partial, ignore_errors=True)
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise CheckpointError(
                    f"no space left on the device of {str(self.root)!r} while saving the "
                    f"checkpoint of step {step}; free space there or lower checkpoint.keep_last, "
                    "then --resume from the last complete checkpoint"
                ) from exc
            raise
        if final.exists():
            shutil.rmtree(final)
        partial.rename(final)
        _fsync_dir(self.root)
        self._prune()
        return final

    def complete(self) -> list[Path]:
        if not self.root.exists():
            return []
        return sorted(
            (
                p
                for p in self.root.glob("step_*")
                if not p.name.endswith(".partial") and (p / LOOP_STATE_FILE).exists()
            ),
            key=lambda p: p.name,
        )

    def latest(self) -> Path | None:
        found = self.complete()
        return found[-1] if found else None

    def _prune(self) -> None:
        for old in self.complete()[: -self.keep_last]:
            shutil.rmtree(old, ignore_errors=True)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_tree(root: Path) -> None:
    for folder, _, files in os.walk(root):
        for name in files:
            with open(os.path.join(folder, name), "rb") as handle:
                os.fsync(handle.fileno())
        _fsync_dir(Path(folder))


def read_loop_state(checkpoint: Path) -> dict[str, Any]:
    path = checkpoint / LOOP_STATE_FILE
    if not path.exists():
        raise CheckpointError(
            f"{str(checkpoint)!r} is not a complete checkpoint (no {LOOP_STATE_FILE}); pick a "
            "folder under <run_dir>/checkpoints/step_*"
        )
    try:
        state = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"checkpoint {str(checkpoint)!r} is corrupt: {exc}") from None
    if state.get("format_version") != FORMAT_VERSION or not isinstance(state.get("step"), int):
        raise CheckpointError(
            f"checkpoint {str(checkpoint)!r} has format {state.get('format_version')!r}; this "
            f"ajet reads format {FORMAT_VERSION}"
        )
    return state


def load_trainer_state(checkpoint: Path, trainer: CheckpointableTrainer) -> None:
    try:
        trainer.load_checkpoint(checkpoint / TRAINER_DIR)
    except CheckpointError:
        raise
    except Exception as exc:  # noqa: BLE001 - torch's own errors are unreadable to users
        raise CheckpointError(
            f"checkpoint {str(checkpoint)!r} does not match this run's model/trainer "
            f"({type(exc).__name__}: {exc}); resume with the config the run was started with"
        ) from exc
