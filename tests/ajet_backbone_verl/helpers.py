"""Shared set-up of the verl seam tests: an ajet run prepared for verl on the tiny model."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]


def make_addition_data(folder: Path) -> Path:
    subprocess.run(
        [sys.executable, str(REPO / "tutorial/quickstart/make_data.py"), "--out", str(folder)],
        check=True,
        capture_output=True,
    )
    return folder


def write_config(
    folder: Path, model_dir: Path, data: Path, *, workflow: str | None = None, **sections
) -> Path:
    config = {
        "experiment": {"name": "verlseam", "output_dir": str(folder / "runs"), "seed": 5},
        "model": {"path": str(model_dir), "max_model_len": 512},
        "task_reader": {
            "type": "jsonl",
            "train_path": str(data / "train.jsonl"),
            "validation_path": str(data / "validation.jsonl"),
        },
        "workflow": {
            "name": workflow
            or str(REPO / "tutorial/quickstart/addition_agent.py") + ":AdditionAgent"
        },
        # The tiny model cannot add; a clean boxed number (given only sometimes) varies the rewards.
        "judger": {"type": "regex", "pattern": r"^\\boxed\{-?\d+\}$"},
        "rollout": {
            "batch_size": 2,
            "num_repeat": 2,
            "max_tokens_per_call": 12,
            "equal_reward_groups": "keep",
        },
        "trainer": {"total_steps": 2},
        "backbone": {"name": "verl", "agent_workers": 1},
    }
    for section, values in sections.items():
        config.setdefault(section, {}).update(values)
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def prepare(config_path: Path, *overrides: str):
    """(backbone, prepared run) exactly as `ajet train --backbone verl` builds them."""
    from ajet_core.config.loader import load_config
    from ajet_core.config.plugin_sections import validate_plugin_sections
    from ajet_core.plugins.manager import get_plugin_manager

    loaded = load_config(str(config_path), list(overrides))
    resolved = validate_plugin_sections(loaded.config, get_plugin_manager())
    chosen = resolved["backbone"]
    backbone = chosen.implementation(loaded.config, chosen.options)
    return backbone, backbone.prepare(resolved)
