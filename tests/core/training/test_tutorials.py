"""Every debug-backbone tutorial trains a few steps on the tiny model, as its README says to run
it, with its own data script — and the gateway never falls back to re-rendering a prompt."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ajet_core import metrics as m
from ajet_core.metric_loggers.jsonl import read_metrics
from ajet_core.training.records import read_records

REPO = Path(__file__).resolve().parents[3]

TUTORIALS = {
    "frozenlake": ("tutorial/example_frozenlake", "frozenlake.yaml", []),
    "countdown": ("tutorial/example_countdown", "countdown.yaml", []),
    "math_agent": (
        "tutorial/example_math_agent",
        "math_agent.yaml",
        ["workflow.options.max_turns=2"],
    ),
    "quickstart": (
        "tutorial/quickstart",
        "quickstart.yaml",
        ["eval.before_train=false", "eval.after_train=false"],
    ),
}


@pytest.mark.timeout(1200)  # a whole job in a subprocess: the hang detector, sized for load
@pytest.mark.parametrize("name", sorted(TUTORIALS))
def test_tutorial_trains_on_the_tiny_model_without_drift(name, tmp_path, tiny_model_dir):
    folder, config, extra = TUTORIALS[name]
    data = tmp_path / "data"
    subprocess.run(
        [sys.executable, str(REPO / folder / "make_data.py"), "--out", str(data)],
        check=True,
        capture_output=True,
    )
    overrides = [
        f"model.path={tiny_model_dir}",
        f"task_reader.train_path={data / 'train.jsonl'}",
        f"task_reader.validation_path={data / 'validation.jsonl'}",
        f"experiment.output_dir={tmp_path / 'runs'}",
        "trainer.total_steps=2",
        "rollout.batch_size=2",
        "rollout.num_repeat=2",
        "rollout.equal_reward_groups=keep",
        "eval.every_n_steps=0",
        "checkpoint.every_n_steps=0",
        "logging.loggers=[jsonl]",
        *extra,
    ]
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "ajet_core.cli.main",
            "train",
            "--conf",
            str(REPO / folder / config),
            *overrides,
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    [run_dir] = list((tmp_path / "runs").glob("*/*"))
    rows = [r for r in read_metrics(run_dir) if m.EPISODES in r]
    assert [r["step"] for r in rows] == [1, 2]
    failures = [
        (record["task"]["task_id"], record["error"])
        for path in sorted((run_dir / "records").glob("train_*"))
        for record in read_records(path)
        if record["error"]
    ]
    assert not failures, failures
    for row in rows:
        assert row[m.EPISODES] == 4 and row[m.LLM_CALLS] >= 4
        assert row[m.DRIFT_FALLBACKS] == 0
        assert row[m.SAMPLES] >= 1
