"""Shared pieces of the trinity seam tests."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
QUICKSTART = REPO / "tutorial" / "quickstart"
JUDGERS = Path(__file__).resolve().parent / "judgers.py"


def quickstart_config(tiny_model_dir: Path, data: Path, **sections) -> dict:
    """The quickstart's config on the tiny model, with the trinity backbone."""
    config = {
        "experiment": {"name": "trinity_seams", "seed": 0},
        "model": {"path": str(tiny_model_dir), "max_model_len": 512},
        "task_reader": {
            "type": "jsonl",
            "train_path": str(data / "train.jsonl"),
            "validation_path": str(data / "validation.jsonl"),
        },
        "workflow": {"name": "tutorial/quickstart/addition_agent.py:AdditionAgent"},
        "judger": {"type": f"{JUDGERS}:ReplyLengthJudger"},
        "rollout": {
            "batch_size": 2,
            "num_repeat": 4,
            "max_tokens_per_call": 12,
            "temperature": 1.0,
            "max_concurrency": 8,
        },
        "backbone": {"name": "trinity", "nodes": 1, "gpus_per_node": 2},
    }
    for section, values in sections.items():
        config[section] = {**config.get(section, {}), **values}
    return config
