"""A real run folder for the viewer tests: a 2-step `ajet train` of the tiny model (made once)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory, tiny_model_dir) -> Path:
    root = tmp_path_factory.mktemp("viewer-run")
    data = root / "data"
    subprocess.run([sys.executable, str(REPO / "tutorial/quickstart/make_data.py"), "--out", str(data)],
                   check=True, capture_output=True)
    config = {
        "experiment": {"name": "viewertest", "output_dir": str(root / "runs"), "seed": 5},
        "model": {"path": str(tiny_model_dir), "max_model_len": 512},
        "task_reader": {"type": "jsonl", "train_path": str(data / "train.jsonl"),
                        "validation_path": str(data / "validation.jsonl")},
        "workflow": {"name": str(REPO / "tutorial/quickstart/addition_agent.py") + ":AdditionAgent"},
        # Rewards vary within groups (the tiny model boxes a number only sometimes); 12 tokens per
        # call cut some replies at the length limit, so "truncated" has members too.
        "judger": {"type": "regex", "pattern": r"^\\boxed\{-?\d+\}$"},
        "rollout": {"batch_size": 2, "num_repeat": 3, "max_tokens_per_call": 12, "equal_reward_groups": "keep"},
        "trainer": {"total_steps": 2, "lr": 1e-3},
        "checkpoint": {"every_n_steps": 0},
        "eval": {"before_train": True, "max_tasks": 2},
        "logging": {"loggers": ["jsonl"]},
    }
    path = root / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    result = subprocess.run([sys.executable, "-m", "ajet_core.cli.main", "train", "--conf", str(path)],
                            capture_output=True, text=True, cwd=REPO, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    [run_dir] = sorted((root / "runs" / "viewertest").iterdir())
    return run_dir
