"""Checkpoints: the trainer's state (backbone-owned) plus the loop's own state.

Layout: ``<run_dir>/checkpoints/step_000010/{trainer/, loop_state.json, checksums.json}``. A
checkpoint is written into ``step_000010.partial`` and renamed when complete, so a run killed
mid-save never leaves a checkpoint that looks whole. ``checksums.json`` holds the SHA-256 of every
other file, written last: a checkpoint is loaded only when every file still has its checksum
(:func:`verify_checkpoint`), so bytes flipped on disk or a file edited afterwards are a named
error, never garbage weights; ``--resume`` then falls back to the newest checkpoint that
verifies.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any, Protocol

from ajet_core.errors import CheckpointError

LOOP_STATE_FILE = "loop_state.json"
TRAINER_DIR = "trainer"
CHECKSUMS_FILE = "checksums.json"
FORMAT_VERSION = 1

log = logging.getLogger("ajet.checkpoints")


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
            (partial / CHECKSUMS_FILE).write_text(json.dumps(checksums(partial), indent=1))
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

    def latest_verified(self) -> tuple[Path | None, list[str]]:
        """The newest checkpoint whose files all verify, and why each newer one was passed
        over."""
        passed_over = []
        for checkpoint in reversed(self.complete()):
            try:
                verify_checkpoint(checkpoint)
            except CheckpointError as exc:
                passed_over.append(str(exc))
                continue
            return checkpoint, passed_over
        return None, passed_over

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


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def checksums(checkpoint: Path) -> dict[str, str]:
    """SHA-256 of every file of ``checkpoint`` but the checksums file, by relative path."""
    return {
        path.relative_to(checkpoint).as_posix(): _sha256(path)
        for path in sorted(checkpoint.rglob("*"))
        if path.is_file() and path.name != CHECKSUMS_FILE
    }


def verify_checkpoint(checkpoint: Path) -> None:
    """Raise :class:`CheckpointError` naming the first file that is missing, extra or changed."""
    way_out = (
        "pick an earlier checkpoint, or pass the run folder to --resume and the newest one that "
        "verifies is used"
    )
    listed = checkpoint / CHECKSUMS_FILE
    try:
        expected = json.loads(listed.read_text())
    except FileNotFoundError:
        raise CheckpointError(
            f"checkpoint {str(checkpoint)!r} cannot be verified: it has no {CHECKSUMS_FILE} (a "
            "save that never finished, a checkpoint by an ajet older than checksums, or one put "
            f"together by hand); {way_out}"
        ) from None
    except (OSError, json.JSONDecodeError) as exc:
        raise CheckpointError(
            f"checkpoint {str(checkpoint)!r} is corrupt: its {CHECKSUMS_FILE} is unreadable "
            f"({exc}); {way_out}"
        ) from None
    found = checksums(checkpoint)
    for name in sorted(set(expected) | set(found)):
        if name not in found:
            problem = "is missing"
        elif name not in expected:
            problem = "was added after the checkpoint was saved"
        elif found[name] != expected[name]:
            problem = "has changed since it was saved (its SHA-256 differs)"
        else:
            continue
        raise CheckpointError(
            f"checkpoint {str(checkpoint)!r} is corrupt: {name} {problem}; {way_out}"
        )


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


def load_trainer_state(
    checkpoint: Path, trainer: CheckpointableTrainer, *, verified: bool = False
) -> None:
    """``verified``: the caller has just run :func:`verify_checkpoint` (``--resume`` picks the
    checkpoint by verifying it), so its files are not hashed a second time."""
    if not verified:
        verify_checkpoint(checkpoint)  # never load bytes that are not the ones saved
    try:
        trainer.load_checkpoint(checkpoint / TRAINER_DIR)
    except CheckpointError:
        raise
    except Exception as exc:  # noqa: BLE001 - torch's own errors are unreadable to users
        raise CheckpointError(
            f"checkpoint {str(checkpoint)!r} does not match this run's model/trainer "
            f"({type(exc).__name__}: {exc}); resume with the config the run was started with"
        ) from exc
