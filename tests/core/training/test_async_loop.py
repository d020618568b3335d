"""`ajet train` with `trainer.mode: async` on the tiny model, run as users run it (a subprocess).

Rollouts run ahead of the trainer by at most `trainer.max_staleness` versions; every sampled token
records the version that sampled it (records), samples older than the bound are dropped and
counted, `max_staleness: 0` trains what sync mode trains, and a killed run resumes with nothing
lost but its in-flight episodes.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from ajet_core import metrics as m
from ajet_core.data.task_stream import TaskStream
from ajet_core.metric_loggers.jsonl import read_metrics
from ajet_core.readers import TaskReader
from ajet_core.schema import Task
from ajet_core.training.records import read_records

from ...support.configs import write_config_file

REPO = Path(__file__).resolve().parents[3]
WORKFLOW = str(Path(__file__).resolve().parent / "async_workflows.py") + ":OneSlowTask"
SEED = 3
NUM_TASKS = 6
MAX_STALENESS = 2
# Metrics only async mode reports, and those that are wall-clock times.
ASYNC_ONLY = {m.DROPPED_STALE, m.STALENESS_MEAN, m.STALENESS_MAX, m.POLICY_VERSION}
TIMING = {"time", *m.WALL_CLOCK_METRICS}


class ListReader(TaskReader):
    def __init__(self, tasks: list[Task]) -> None:
        super().__init__()
        self.tasks = tasks

    def iter_tasks(self, split: str):
        return iter(self.tasks)


def task_file(directory: Path) -> Path:
    """Six tasks; the one the training stream hands out first (its shuffle, this seed) has id
    ``slow``, so it is among the first groups whatever the shuffle does."""
    questions = ["What is 2+3?", "Name a colour.", "Say hi.", "Count to three.", "Hello!", "Why?"]
    tasks = [Task(main_query=q, task_id=f"t{i}") for i, q in enumerate(questions)]
    stream = TaskStream(ListReader(tasks), "train", batch_size=1, shuffle=True, seed=SEED)
    first = stream.take(1)[0]
    rows = [
        {"main_query": t.main_query, "task_id": "slow" if t.task_id == first.task_id else t.task_id}
        for t in tasks
    ]
    path = directory / "train.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def write_config(tmp_path: Path, model_dir: Path, **sections) -> Path:
    config = {
        "experiment": {"name": "async", "output_dir": str(tmp_path / "runs"), "seed": SEED},
        "model": {"path": str(model_dir), "max_model_len": 512},
        "task_reader": {"type": "jsonl", "train_path": str(task_file(tmp_path))},
        "workflow": {"name": WORKFLOW},
        "rollout": {"batch_size": 1, "num_repeat": 2, "equal_reward_groups": "keep"},
        # Three groups in flight: the slow one holds one place, two more run ahead of the trainer.
        "trainer": {"lr": 1e-3, "mode": "async", "max_staleness": MAX_STALENESS},
        "checkpoint": {"every_n_steps": 1, "keep_last": 10},
        "logging": {"loggers": ["jsonl"]},
    }
    return write_config_file(tmp_path / "config.yaml", config, sections)


def environment(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "AJET_TEST_RUNS": str(tmp_path / "runs")}


def ajet_train(tmp_path: Path, config: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ajet_core.cli.main", "train", "--conf", str(config), *extra],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=900,
        check=False,
        env=environment(tmp_path),
    )


def the_run(tmp_path: Path) -> Path:
    [run] = sorted((tmp_path / "runs" / "async").glob("*"))
    return run


def train_records(run: Path) -> dict[int, list[dict]]:
    files = sorted((run / "records").glob("train_step_*.jsonl.gz"))
    return {int(f.name.split("_")[-1].split(".")[0]): list(read_records(f)) for f in files}


def sample_age(sample: dict, trained_at: int) -> int:
    versions = [v for v, k in zip(sample["versions"], sample["loss_mask"]) if k]
    return trained_at - min(versions)


@pytest.mark.timeout(1200)
def test_async_run_records_token_versions_and_drops_what_is_too_stale(tmp_path, tiny_model_dir):
    config = write_config(tmp_path, tiny_model_dir)
    result = ajet_train(tmp_path, config)
    assert result.returncode == 0, result.stderr[-3000:]
    run = the_run(tmp_path)
    metrics = read_metrics(run)
    assert [row["step"] for row in metrics] == list(range(1, NUM_TASKS + 1))
    records = train_records(run)
    assert sorted(records) == list(range(1, NUM_TASKS + 1))

    trained_tasks = Counter()
    for row in metrics:
        step = row["step"]
        episodes = records[step]
        # Every call records the version of each of its tokens; every sample carries them.
        for episode in episodes:
            for call in episode["calls"]:
                assert len(call["response_versions"]) == len(call["response_ids"])
            for sample in episode["samples"]:
                assert len(sample["versions"]) == len(sample["input_ids"])
        trained_tasks.update({e["task"]["task_id"] for e in episodes})
        ages = [sample_age(s, row[m.POLICY_VERSION]) for e in episodes for s in e["samples"]]
        # The bound: what the step trained is at most max_staleness versions old; what was
        # older is exactly the dropped count.
        kept = [age for age in ages if age <= MAX_STALENESS]
        assert row[m.DROPPED_STALE] == len(ages) - len(kept), (step, ages)
        assert row[m.SAMPLES] == len(kept)
        assert row[m.STALENESS_MAX] == (max(kept) if kept else 0)
        assert math.isclose(row[m.STALENESS_MEAN], sum(kept) / len(kept) if kept else 0.0)
        assert 0.0 <= row[m.TRAINER_IDLE_SHARE] <= 1.0 and 0.0 <= row[m.ENGINE_IDLE_SHARE] <= 1.0
    assert trained_tasks == Counter({task: 1 for task in trained_tasks}) and len(trained_tasks) == 6

    # The slow task's episodes were sampled by version 0 and came back only after three updates:
    # dropped, both of them, and counted in the step that received them.
    [slow_step] = [s for s, eps in records.items() if eps[0]["task"]["task_id"] == "slow"]
    assert slow_step > 3
    slow_row = metrics[slow_step - 1]
    assert slow_row[m.DROPPED_STALE] == 2 and slow_row[m.SAMPLES] == 0
    assert slow_row[m.POLICY_VERSION] > MAX_STALENESS
    # Rollouts ran ahead: some step trained samples sampled by older weights.
    assert max(row[m.STALENESS_MAX] for row in metrics) >= 1
    assert any(row.get(m.STALE_TOKEN_FRACTION, 0) > 0 for row in metrics)


def comparable(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in row.items() if k not in TIMING | ASYNC_ONLY} for row in rows]


@pytest.mark.timeout(1200)
def test_async_with_no_staleness_trains_exactly_what_sync_trains(tmp_path, tiny_model_dir):
    """max_staleness=0: each batch starts on the weights of the step before, as in sync mode:
    the same tokens, rewards, groups and samples; losses equal to float rounding (async mode
    splits the cores between the engine and the trainer, so their sums are ordered differently).
    One episode at a time, so both engines decode the same batches."""
    runs = {}
    for mode in ("sync", "async"):
        directory = tmp_path / mode
        directory.mkdir()
        config = write_config(
            directory,
            tiny_model_dir,
            workflow={"name": str(REPO / "tutorial/quickstart/addition_agent.py:AdditionAgent")},
            judger={"type": "regex", "pattern": r"^\\boxed\{-?\d+\}$"},
            rollout={"batch_size": 2, "num_repeat": 3, "max_concurrency": 1},
            trainer={"mode": mode, "max_staleness": 0, "total_steps": 3},
        )
        result = ajet_train(directory, config)
        assert result.returncode == 0, result.stderr[-3000:]
        runs[mode] = read_metrics(the_run(directory))
    sync, asynchronous = comparable(runs["sync"]), comparable(runs["async"])
    assert [row["step"] for row in sync] == [1, 2, 3]
    for expected, actual in zip(sync, asynchronous):
        assert expected.keys() == actual.keys()
        for key, value in expected.items():
            if isinstance(value, float):
                assert math.isclose(value, actual[key], rel_tol=1e-5, abs_tol=1e-5), key
            else:
                assert value == actual[key], key
    assert all(row[m.STALENESS_MAX] == 0 and row[m.DROPPED_STALE] == 0 for row in runs["async"])
    assert any(row[m.LOSS] != 0 for row in sync)  # the comparison covers real updates


@pytest.mark.timeout(1200)
def test_a_killed_async_run_resumes_losing_only_its_in_flight_episodes(tmp_path, tiny_model_dir):
    config = write_config(tmp_path, tiny_model_dir)
    # The slow task's episode kills the run once two steps are logged: its group is in flight.
    killed = subprocess.run(
        [sys.executable, "-m", "ajet_core.cli.main", "train", "--conf", str(config)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
        env={**environment(tmp_path), "AJET_TEST_KILL_AT_STEPS": "2"},
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    run = the_run(tmp_path)
    all_tasks = {json.loads(line)["task_id"] for line in (tmp_path / "train.jsonl").open()}
    last = max((run / "checkpoints").glob("step_*"))
    state = json.loads((last / "loop_state.json").read_text())
    outstanding = [t["task_id"] for t in state["async_rollouts"]["outstanding_tasks"]]
    assert "slow" in outstanding  # its episodes were lost with the process; its task was kept
    saved_step = int(last.name.split("_")[1])
    before = train_records(run)
    trained_before = [e["task"]["task_id"] for s in range(1, saved_step + 1) for e in before[s]]

    result = ajet_train(tmp_path, config, "--resume", "latest")
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = read_metrics(run)
    assert [row["step"] for row in metrics] == list(range(1, NUM_TASKS + 1))
    after = train_records(run)
    resumed = [e["task"]["task_id"] for s in range(saved_step + 1, NUM_TASKS + 1) for e in after[s]]
    # Every task trained exactly once over the two launches (two episodes per group): the saved
    # steps' before the kill; the outstanding ones (started again) and the rest after it.
    assert Counter(trained_before + resumed) == Counter({task: 2 for task in all_tasks})
    assert set(outstanding) <= set(resumed)
