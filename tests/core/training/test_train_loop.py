"""`ajet train` on the debug backbone with the tiny model, run as users run it (a subprocess).

Covers the run folder, the metrics every backbone must log, token-level records, checkpoints,
exact resume after SIGKILL, Ctrl-C, and clear errors for bad checkpoints.
"""

from __future__ import annotations

import json
import math
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from ajet_core import metrics as m
from ajet_core.metric_loggers.jsonl import read_metrics
from ajet_core.training.checkpoints import CHECKSUMS_FILE, checksums
from ajet_core.training.records import episode_from_json, episode_to_json, read_records

from .hosted_runs import swanlab_history, wandb_history

REPO = Path(__file__).resolve().parents[3]

# Wall-clock metrics differ between any two runs; everything else must match exactly.
TIMING_METRICS = {"time", *m.WALL_CLOCK_METRICS}


@pytest.fixture(scope="module")
def task_files(tmp_path_factory) -> Path:
    data = tmp_path_factory.mktemp("data")
    subprocess.run(
        [sys.executable, str(REPO / "tutorial/quickstart/make_data.py"), "--out", str(data)],
        check=True,
    )
    return data


def write_config(tmp_path: Path, model_dir: Path, data: Path, **sections) -> Path:
    config = {
        "experiment": {"name": "looptest", "output_dir": str(tmp_path / "runs"), "seed": 3},
        "model": {"path": str(model_dir), "max_model_len": 512},
        "task_reader": {
            "type": "jsonl",
            "train_path": str(data / "train.jsonl"),
            "validation_path": str(data / "validation.jsonl"),
        },
        "workflow": {
            "name": str(REPO / "tutorial/quickstart/addition_agent.py") + ":AdditionAgent"
        },
        # The tiny model cannot add; reward a clean boxed number, which it gives only sometimes,
        # so rewards vary within groups and every step has a learning signal.
        "judger": {"type": "regex", "pattern": r"^\\boxed\{-?\d+\}$"},
        "rollout": {
            "batch_size": 2,
            "num_repeat": 3,
            "max_tokens_per_call": 12,
            "equal_reward_groups": "keep",
        },
        "trainer": {"total_steps": 4, "lr": 1e-3},
        "checkpoint": {"every_n_steps": 2},
        "logging": {"loggers": ["jsonl", "tensorboard"]},
    }
    for section, values in sections.items():
        config.setdefault(section, {}).update(values)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def ajet(*args: str, **kwargs) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ajet_core.cli.main", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=900,
        check=False,
        **kwargs,
    )


def run_dirs(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "runs" / "looptest").glob("*"))


def comparable(rows: list[dict]) -> dict[int, dict]:
    return {row["step"]: {k: v for k, v in row.items() if k not in TIMING_METRICS} for row in rows}


def assert_metrics_equal(expected: dict, actual: dict) -> None:
    assert expected.keys() == actual.keys()
    for key, value in expected.items():
        if isinstance(value, float):
            assert math.isclose(value, actual[key], rel_tol=1e-6, abs_tol=1e-6), (
                key,
                value,
                actual[key],
            )
        else:
            assert value == actual[key], key


@pytest.mark.timeout(1200)  # a whole job in a subprocess: the hang detector, sized for load
def test_train_writes_a_complete_run_folder(tmp_path, tiny_model_dir, task_files):
    config = write_config(
        tmp_path,
        tiny_model_dir,
        task_files,
        eval={"before_train": True, "after_train": True, "max_tasks": 3},
        logging={
            "loggers": ["jsonl", "tensorboard", "wandb", "swanlab"],
            "logger_options": {"wandb": {"mode": "offline"}, "swanlab": {"mode": "offline"}},
        },
    )
    result = ajet("train", "--conf", str(config))
    assert result.returncode == 0, result.stderr[-3000:]
    [run_dir] = run_dirs(tmp_path)
    assert (run_dir / "config.yaml").exists() and (run_dir / "run.json").exists()
    rows = read_metrics(run_dir)
    train_rows = [r for r in rows if m.LOSS in r]
    assert [r["step"] for r in train_rows] == [1, 2, 3, 4]
    for row in train_rows:
        assert row[m.EPISODES] == 6 and row[m.EPISODES_FAILED] == 0
        assert row[m.DRIFT_FALLBACKS] == 0
        assert row[m.LOGPROB_GAP] < 1e-4  # the engine's logprobs are the trainer's
        assert row[m.SAMPLES_PER_EPISODE] == 1.0
    eval_rows = [r for r in rows if m.EVAL_PASS_AT_1 in r]
    assert [r["step"] for r in eval_rows] == [0, 4]
    # Weights really changed: some step had signal and a non-zero gradient.
    assert any(r[m.GRAD_NORM] > 0 for r in train_rows)
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == [
        "step_000002",
        "step_000004",
    ]
    assert list((run_dir / "tensorboard").iterdir())
    # The hosted loggers, switched on by the config, hold the same numbers as metrics.jsonl.
    for history in (wandb_history(run_dir), swanlab_history(run_dir)):
        assert sorted(history) == [0, 1, 2, 3, 4]
        for row in rows:
            for key in (m.REWARD_MEAN, m.LOSS, m.EVAL_PASS_AT_1):
                if row.get(key) is not None:
                    assert history[row["step"]][key] == pytest.approx(row[key], rel=1e-6), (
                        row["step"],
                        key,
                    )
    records = list(read_records(run_dir / "records" / "train_step_000001.jsonl.gz"))
    assert len(records) == 6
    # The documented loader rebuilds the objects the records were written from.
    rebuilt = episode_from_json(records[0])
    assert json.loads(json.dumps(episode_to_json(rebuilt), default=str)) == records[0]
    sample = records[0]["samples"][0]
    call = records[0]["calls"][0]
    assert sample["input_ids"] == call["prompt_ids"] + call["response_ids"]
    # Trained: exactly the sampled response tokens. A reply cut at max_tokens is closed with
    # end-of-turn tokens the policy never sampled, which stay at mask 0.
    prompt_length = len(call["prompt_ids"])
    assert sample["loss_mask"][:prompt_length] == [0] * prompt_length
    assert sample["loss_mask"][prompt_length:] == call["response_mask"]
    assert all(
        c["finish_reason"] != "length" or c["response_mask"][-1] == 0
        for r in records
        for c in r["calls"]
    )


@pytest.mark.timeout(1200)  # a whole job in a subprocess: the hang detector, sized for load
def test_resume_after_sigkill_reproduces_the_uninterrupted_run(
    tmp_path, tiny_model_dir, task_files
):
    # One request at a time: the engine then decodes the same batches in both runs. With
    # concurrent requests the sampled tokens still match (seeded per episode), but batch
    # composition depends on timing and moves logprobs by ~1e-7, which is above bitwise equality.
    deterministic = {"max_concurrency": 1}
    reference_dir = tmp_path / "reference"
    reference_dir.mkdir()
    config = write_config(reference_dir, tiny_model_dir, task_files, rollout=deterministic)
    assert ajet("train", "--conf", str(config)).returncode == 0
    [reference_run] = run_dirs(reference_dir)
    expected = comparable(read_metrics(reference_run))

    killed_dir = tmp_path / "killed"
    killed_dir.mkdir()
    config = write_config(killed_dir, tiny_model_dir, task_files, rollout=deterministic)
    process = subprocess.Popen(
        [sys.executable, "-m", "ajet_core.cli.main", "train", "--conf", str(config)],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 600  # readiness polling, with room for a loaded machine
    while time.monotonic() < deadline:
        runs = run_dirs(killed_dir)
        if runs and (runs[0] / "checkpoints" / "step_000002" / "loop_state.json").exists():
            break
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    [killed_run] = run_dirs(killed_dir)
    assert not (killed_run / "checkpoints" / "step_000004").exists(), (
        "the run finished before the kill"
    )

    resumed = ajet("train", "--conf", str(config), "--resume", str(killed_run))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    actual = comparable(read_metrics(killed_run))
    assert sorted(actual) == [1, 2, 3, 4]
    for step in (3, 4):
        assert_metrics_equal(expected[step], actual[step])


@pytest.mark.timeout(1200)  # a whole job in a subprocess: the hang detector, sized for load
@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_ctrl_c_or_sigterm_saves_a_checkpoint_and_exits_cleanly(
    tmp_path, tiny_model_dir, task_files, stop
):
    # SIGTERM is how clusters preempt: it must not lose finished steps either.
    config = write_config(
        tmp_path,
        tiny_model_dir,
        task_files,
        trainer={"total_steps": 200},
        checkpoint={"every_n_steps": 0},
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "ajet_core.cli.main", "train", "--conf", str(config)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 600  # readiness polling, with room for a loaded machine
    while time.monotonic() < deadline:
        runs = run_dirs(tmp_path)
        if runs and len(read_metrics(runs[0])) >= 1:
            break
        time.sleep(0.05)
    process.send_signal(stop)
    _, stderr = process.communicate(timeout=600)
    assert process.returncode == 0, stderr[-3000:]
    [run_dir] = run_dirs(tmp_path)
    [checkpoint] = list((run_dir / "checkpoints").iterdir())
    last_step = max(row["step"] for row in read_metrics(run_dir))
    assert checkpoint.name == f"step_{last_step:06d}" and last_step < 200


def test_resume_from_a_missing_folder_or_a_corrupt_loop_state_is_a_clear_error(
    tmp_path, tiny_model_dir, task_files
):
    config = write_config(tmp_path, tiny_model_dir, task_files)
    missing = ajet("train", "--conf", str(config), "--resume", str(tmp_path / "nope"))
    assert missing.returncode == 2 and "no such folder" in missing.stderr

    fake = tmp_path / "runs" / "looptest" / "x" / "checkpoints" / "step_000001"
    (fake / "trainer").mkdir(parents=True)
    (fake / "loop_state.json").write_text("{not json")
    unverifiable = ajet("train", "--conf", str(config), "--resume", str(fake))
    assert unverifiable.returncode == 2 and "has no checksums.json" in unverifiable.stderr
    # With checksums that match, what is saved is read — and a corrupt loop state is named.
    (fake / CHECKSUMS_FILE).write_text(json.dumps(checksums(fake)))
    corrupt = ajet("train", "--conf", str(config), "--resume", str(fake))
    assert corrupt.returncode == 2 and "is corrupt" in corrupt.stderr
    assert "Traceback" not in corrupt.stderr


@pytest.fixture(scope="module")
def real_checkpoint(two_checkpoints) -> Path:
    """A checkpoint written by a real 2-step run of the tiny model (its last)."""
    return two_checkpoints / "checkpoints" / "step_000002"


@pytest.mark.timeout(1200)  # a whole job in a subprocess: the hang detector, sized for load
def test_resume_with_another_model_says_the_checkpoint_does_not_fit(
    tmp_path, real_checkpoint, task_files
):
    # A model of other shapes (narrower), same tokenizer recipe: the checkpoint is whole but was
    # written for another model.path.
    from ajet_backbone_debug.models.tiny import TinySpec, build_tiny_model

    other = tmp_path / "narrower"
    spec = TinySpec(
        hidden_size=64, intermediate_size=128, conversations=50, train_steps=1,
        max_train_steps=1, validation_conversations=0,
    )  # fmt: skip
    build_tiny_model(other, spec, log=lambda _message: None)
    config = write_config(tmp_path, other, task_files)
    result = ajet("train", "--conf", str(config), "--resume", str(real_checkpoint))
    assert result.returncode == 2, result.stderr[-3000:]
    assert "does not fit this model" in result.stderr and "shape mismatches" in result.stderr
    assert "model.path" in result.stderr and "Traceback" not in result.stderr
    assert "not a complete" not in result.stderr


@pytest.mark.timeout(1200)  # a whole job in a subprocess: the hang detector, sized for load
def test_resume_from_a_checkpoint_missing_a_file_names_it(
    tmp_path, real_checkpoint, tiny_model_dir, task_files
):
    # The trainer's manifest gone after the save (the core's checksums list it). The same run's
    # config, so nothing else differs.
    import shutil

    damaged = tmp_path / "runs" / "looptest" / "x" / "checkpoints" / "step_000002"
    shutil.copytree(real_checkpoint, damaged)
    (damaged / "trainer" / "ajet_checkpoint.json").unlink()
    config = write_config(tmp_path, tiny_model_dir, task_files)
    result = ajet("train", "--conf", str(config), "--resume", str(damaged))
    assert result.returncode == 2, result.stderr[-3000:]
    assert "is corrupt: trainer/ajet_checkpoint.json is missing" in result.stderr
    assert "pick an earlier checkpoint" in result.stderr
    assert "does not match" not in result.stderr and "does not fit" not in result.stderr


@pytest.fixture(scope="module")
def two_checkpoints(tmp_path_factory, tiny_model_dir, task_files) -> Path:
    """A real 2-step run of the tiny model with a checkpoint after each step."""
    root = tmp_path_factory.mktemp("two_checkpoints")
    config = write_config(
        root,
        tiny_model_dir,
        task_files,
        trainer={"total_steps": 2},
        checkpoint={"every_n_steps": 1},
    )
    result = ajet("train", "--conf", str(config))
    assert result.returncode == 0, result.stderr[-3000:]
    [run_dir] = run_dirs(root)
    assert [p.name for p in sorted((run_dir / "checkpoints").iterdir())] == [
        "step_000001",
        "step_000002",
    ]
    return run_dir


def _copy_run(run_dir: Path, tmp_path: Path) -> Path:
    import shutil

    copy = tmp_path / "runs" / "looptest" / run_dir.name
    shutil.copytree(run_dir, copy)
    return copy


def _flip_bytes(path: Path, count: int = 64) -> None:
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + count] = bytes(b ^ 0xFF for b in data[middle : middle + count])
    path.write_bytes(bytes(data))


def test_a_corrupt_checkpoint_is_never_loaded_and_resume_falls_back(
    tmp_path, two_checkpoints, tiny_model_dir, task_files
):
    run_dir = _copy_run(two_checkpoints, tmp_path)
    _flip_bytes(run_dir / "checkpoints" / "step_000002" / "trainer" / "trainer_state.pt")
    config = write_config(tmp_path, tiny_model_dir, task_files, trainer={"total_steps": 2})
    # Named directly, it is refused with the file that changed.
    named = ajet(
        "train", "--conf", str(config), "--resume", str(run_dir / "checkpoints/step_000002")
    )
    assert named.returncode == 2, named.stderr[-3000:]
    assert "is corrupt: trainer/trainer_state.pt has changed since it was saved" in named.stderr
    # The run folder: the newest checkpoint that verifies (step 1), said aloud; step 2 re-runs.
    resumed = ajet("train", "--conf", str(config), "--resume", str(run_dir))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "step_000002' is corrupt" in resumed.stderr
    assert "trying the checkpoint before it" in resumed.stderr
    rows = [row for row in read_metrics(run_dir) if m.LOSS in row]
    assert [row["step"] for row in rows] == [1, 2]
    assert all(math.isfinite(row[m.LOSS]) for row in rows)
    # Both corrupt: nothing is loaded, and the error says why for each.
    for step in ("step_000001", "step_000002"):
        _flip_bytes(run_dir / "checkpoints" / step / "trainer" / "trainer_state.pt")
    refused = ajet("train", "--conf", str(config), "--resume", str(run_dir))
    assert refused.returncode == 2
    assert "no complete checkpoint that verifies" in refused.stderr
    assert refused.stderr.count("is corrupt") >= 2


def test_an_update_that_overflows_the_weights_stops_the_run_unsaved(
    tmp_path, tiny_model_dir, task_files
):
    config = write_config(
        tmp_path,
        tiny_model_dir,
        task_files,
        trainer={"total_steps": 2, "lr": 1e308},
        checkpoint={"every_n_steps": 1},
    )
    result = ajet("train", "--conf", str(config))
    assert result.returncode != 0
    assert "holds NaN or infinity" in result.stderr and "Lower trainer.lr" in result.stderr
    assert "Traceback" not in result.stderr
    [run_dir] = run_dirs(tmp_path)
    # No checkpoint of the broken weights (the crash handler's save is refused too).
    assert (
        not list((run_dir / "checkpoints").glob("step_*"))
        if (run_dir / "checkpoints").exists()
        else True
    )


def test_one_writer_per_run_folder_and_a_crashed_one_leaves_it_free(
    tmp_path, two_checkpoints, tiny_model_dir, task_files
):
    from ajet_core.training.run_dir import RunLock

    run_dir = _copy_run(two_checkpoints, tmp_path)
    metrics_before = (run_dir / "metrics.jsonl").read_bytes()
    config = write_config(tmp_path, tiny_model_dir, task_files, trainer={"total_steps": 3})
    lock = RunLock(run_dir)  # this process is "the first resume"
    try:
        second = ajet("train", "--conf", str(config), "--resume", str(run_dir))
    finally:
        lock.release()
    assert second.returncode == 2, second.stderr[-3000:]
    assert "is being written by ajet pid" in second.stderr and "Traceback" not in second.stderr
    assert (run_dir / "metrics.jsonl").read_bytes() == metrics_before  # nothing truncated
    # A holder killed with SIGKILL leaves no stuck lock.
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys\nfrom pathlib import Path\n"
            "from ajet_core.training.run_dir import RunLock\n"
            # Holds the lock until killed: it waits for input that never comes.
            f"RunLock(Path({str(run_dir)!r}))\nprint('held', flush=True)\nsys.stdin.read()\n",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=60)
    RunLock(run_dir).release()  # free again
