"""Real run folders for the viewer tests: 2-step `ajet train` runs of the tiny model (made once).

``trained_run`` (the quickstart's addition agent: one call per episode, rewards that vary within
groups), ``multi_turn_run`` (FrozenLake: three calls per episode, merged into one sample) and
``self_correction_run`` (the multi-turn tutorial, evaluated before and after its two steps).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
RUN_FIXTURES = {"trained_run", "multi_turn_run", "self_correction_run"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that makes one of the runs (the first to ask) runs a whole `ajet train` in its
    set-up: its hang detector is sized for that job on a loaded machine, not the default's."""
    here = Path(__file__).parent
    for item in items:
        if (
            here in item.path.parents
            and RUN_FIXTURES & set(getattr(item, "fixturenames", ()))
            and item.get_closest_marker("timeout") is None
        ):
            item.add_marker(pytest.mark.timeout(1200))


def train_tiny(
    root: Path, model_dir: Path, tutorial: str, workflow_class: str, **overrides: dict[str, Any]
) -> Path:
    data = root / "data"
    subprocess.run(
        [sys.executable, str(REPO / "tutorial" / tutorial / "make_data.py"), "--out", str(data)],
        check=True,
        capture_output=True,
    )
    config: dict[str, dict[str, Any]] = {
        "experiment": {"name": "viewertest", "output_dir": str(root / "runs"), "seed": 5},
        "model": {"path": str(model_dir), "max_model_len": 1024},
        "task_reader": {
            "type": "jsonl",
            "train_path": str(data / "train.jsonl"),
            "validation_path": str(data / "validation.jsonl"),
        },
        "workflow": {"name": str(REPO / "tutorial" / tutorial / workflow_class)},
        "rollout": {
            "batch_size": 2,
            "num_repeat": 3,
            "max_tokens_per_call": 12,
            "equal_reward_groups": "keep",
        },
        "trainer": {"total_steps": 2, "lr": 1e-3},
        "checkpoint": {"every_n_steps": 0},
        "eval": {"before_train": True, "max_tasks": 2},
        "logging": {"loggers": ["jsonl"]},
    }
    for section, values in overrides.items():
        config.setdefault(section, {}).update(values)
    path = root / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    result = subprocess.run(
        [sys.executable, "-m", "ajet_core.cli.main", "train", "--conf", str(path)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=900,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    [run_dir] = sorted((root / "runs" / "viewertest").iterdir())
    return run_dir


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory, tiny_model_dir) -> Path:
    # The tiny model boxes a number only sometimes, so rewards vary within groups; 12 tokens per
    # call cut some replies at the length limit, so "truncated" usually has members too.
    return train_tiny(
        tmp_path_factory.mktemp("addition"),
        tiny_model_dir,
        "quickstart",
        "addition_agent.py:AdditionAgent",
        judger={"type": "regex", "pattern": r"^\\boxed\{-?\d+\}$"},
    )


@pytest.fixture(scope="session")
def multi_turn_run(tmp_path_factory, tiny_model_dir) -> Path:
    return train_tiny(
        tmp_path_factory.mktemp("frozenlake"),
        tiny_model_dir,
        "example_frozenlake",
        "frozenlake_agent.py:FrozenLakeAgent",
        task_reader={"missing_query": "empty"},  # the environment writes the prompt
        workflow={"options": {"max_steps": 3, "max_tokens": 12}},
        judger={"type": None},
    )


@pytest.fixture(scope="session")
def self_correction_run(tmp_path_factory, tiny_model_dir) -> Path:
    # Held-out success before and after training and the same held-out tasks at both ends: what
    # the viewer's held-out curve and before/after panel show.
    return train_tiny(
        tmp_path_factory.mktemp("self_correction"),
        tiny_model_dir,
        "example_self_correction",
        "self_correction_agent.py:SelfCorrectionAgent",
        workflow={"options": {"turns": 3, "max_tokens": 12}},
        judger={"type": None},
        eval={"after_train": True},
    )
