"""AgentJet projects that used to need edits run unchanged: each test drives one AgentJet-style
code path (our own workflows, judges and YAMLs in ``agentjet_project/``, written the way
AgentJet's tutorials write theirs) through the CLI or the config loader, as a user would."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ajet_core import metrics as m

PROJECT = Path(__file__).resolve().parent / "agentjet_project"
AJET = Path(sys.executable).with_name("ajet")


def copy_project(tmp_path: Path, model_dir: Path | None = None) -> Path:
    project = tmp_path / "project"
    shutil.copytree(PROJECT, project)
    if model_dir is not None:
        for config in project.glob("*.yaml"):
            config.write_text(config.read_text().replace("MODEL_PATH", str(model_dir)))
    return project


def run_ajet(project: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(AJET), *args],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


def swanlab_steps(run_dir: Path) -> dict[int, dict[str, float]]:
    """The scalars SwanLab recorded offline, read with SwanLab's own reader."""
    from swanlab.proto.swanlab.record.v1.record_pb2 import Record
    from swanlab.sdk.internal.core_python.store import DataStoreReader

    steps: dict[int, dict[str, float]] = {}
    for path in sorted(run_dir.glob("swanlog/run-*/run-*.swanlab")):
        reader = DataStoreReader()
        reader.open(path)
        for data in reader:
            record = Record()
            record.ParseFromString(data)
            if record.HasField("scalar"):
                steps.setdefault(record.scalar.step, {})[record.scalar.key] = (
                    record.scalar.value.number
                )
        reader.close()
    return steps


@pytest.mark.slow
def test_a_frozenlake_shaped_project_trains_unchanged(tmp_path, tiny_model_dir):
    """random_dummy tasks, `logger: swanlab` as a scalar, a pydantic-style workflow with
    `trainable_targets = Field(default=[...])`, given as `path/file.py->Class` and importing its
    project's own package, reading tuner.config and the context tracker, calling
    `create(messages)` positionally: one step of `ajet --conf ... --backbone debug`."""
    project = copy_project(tmp_path, tiny_model_dir)
    result = run_ajet(
        project,
        "--conf",
        "grid_walk.yaml",
        "--backbone",
        "debug",
        # Overrides of ours on the command line, not edits of the project: the tiny model never
        # finds the goal, so equal-reward groups are kept to train a step, and SwanLab stays
        # offline (no account here).
        "rollout.equal_reward_groups=keep",
        "logging.logger_options.swanlab.mode=offline",
    )
    assert result.returncode == 0, result.stderr[-4000:]
    [run_dir] = list((project / "runs" / "grid_walk").iterdir())
    # The scalar logger became the one-element list [swanlab]: SwanLab recorded the step.
    history = swanlab_steps(run_dir)
    assert 1 in history, sorted(run_dir.iterdir())
    step = history[1]
    assert step[m.EPISODES] == 4 and step.get(m.EPISODES_FAILED, 0) == 0
    # Field(default=["walker"]) resolved: the walker's calls were trained.
    assert step[m.SAMPLES] >= 4 and step[m.TRAINED_TOKENS] > 0
    # multi_turn.max_steps: 2 from the YAML, read through tuner.config: two calls an episode.
    assert 4 < step[m.LLM_CALLS] <= 8
