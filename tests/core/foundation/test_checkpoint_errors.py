"""One CheckpointError for the core and the backbones: a backbone's checkpoint advice reaches the
user unchanged instead of being replaced by the core's generic (and contradicting) advice."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ajet_core.errors import CheckpointError
from ajet_core.training.checkpoints import (
    CHECKSUMS_FILE,
    TRAINER_DIR,
    checksums,
    load_trainer_state,
)


class _ManifestCheckingTrainer:
    """A trainer whose load_checkpoint is the debug backbone's own checkpoint validation."""

    def save_checkpoint(self, path: Path) -> None:  # pragma: no cover - not used here
        raise AssertionError

    def load_checkpoint(self, path: Path) -> None:
        from ajet_backbone_debug.training.checkpoint import read_manifest

        read_manifest(path)


def test_a_backbone_checkpoint_error_keeps_its_own_advice(tmp_path):
    pytest.importorskip("ajet_backbone_debug.training.checkpoint")
    (tmp_path / TRAINER_DIR).mkdir()  # a trainer folder without the debug backbone's manifest
    (tmp_path / TRAINER_DIR / "weights.bin").write_bytes(b"saved")
    # Intact as saved: the core's checksums verify, so the backbone's own check speaks.
    (tmp_path / CHECKSUMS_FILE).write_text(json.dumps(checksums(tmp_path)))
    with pytest.raises(CheckpointError) as info:
        load_trainer_state(tmp_path, _ManifestCheckingTrainer())
    message = str(info.value)
    assert "is not a complete debug-backbone checkpoint" in message
    assert "pick an earlier checkpoint" in message
    # Not re-wrapped: the core's "resume with the config the run was started with" would
    # contradict the backbone's advice.
    assert "does not match this run's model/trainer" not in message
    assert info.value.__cause__ is None


def test_there_is_one_checkpoint_error_class():
    checkpoint = pytest.importorskip("ajet_backbone_debug.training.checkpoint")
    from ajet_core.training import checkpoints

    assert checkpoint.CheckpointError is CheckpointError is checkpoints.CheckpointError
