"""`ajet train` with `rollout.isolation: remote` on the tiny model, fed by workers in other
processes, as users run them: the thin client with the openai SDK (remote_agent.py), `ajet worker`
running an ordinary workflow, and the run's own local worker beside them.

Faults on the way: a client SIGKILLed mid-episode (its lease expires, its call is discarded, the
episode is handed out again and trained), and a worker that outlives a restart of the server
from its checkpoint (it reconnects and keeps claiming).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ajet_core import metrics as m
from ajet_core.metric_loggers.jsonl import read_metrics
from ajet_core.training.records import read_records

from ...support.configs import write_config_file

HERE = Path(__file__).resolve().parent
AGENT = HERE / "remote_agent.py"
WORKFLOW = f"{HERE / 'remote_workflows.py'}:DigitAgent"
AJET = [sys.executable, "-m", "ajet_core.cli.main"]
TYPESCRIPT_AGENT = HERE.parents[2] / "clients" / "typescript" / "dist" / "agent.js"
QUESTIONS = ["What is 1 + 2?", "What is 3 + 4?", "What is 5 + 6?", "What is 7 + 8?"]


def write_config(tmp_path: Path, model_dir: Path, **sections) -> Path:
    tasks = tmp_path / "train.jsonl"
    tasks.write_text(
        "".join(
            json.dumps({"task_id": f"q{i}", "main_query": q}) + "\n"
            for i, q in enumerate(QUESTIONS)
        )
    )
    validation = tmp_path / "validation.jsonl"
    validation.write_text(
        "".join(
            json.dumps({"task_id": f"v{i}", "main_query": q}) + "\n"
            for i, q in enumerate(QUESTIONS[:2])
        )
    )
    config = {
        "experiment": {"name": "remote", "output_dir": str(tmp_path / "runs"), "seed": 7},
        "model": {"path": str(model_dir), "max_model_len": 256},
        "task_reader": {
            "type": "jsonl",
            "train_path": str(tasks),
            "validation_path": str(validation),
        },
        "rollout": {
            "batch_size": 2,
            "num_repeat": 2,
            "max_tokens_per_call": 12,
            "equal_reward_groups": "keep",
            "isolation": "remote",
            # Long enough that a live client's heartbeats (every third of it) never miss it on a
            # loaded machine: only the SIGKILLed client's lease runs out.
            "remote": {"lease_seconds": 20},
        },
        "trainer": {"total_steps": 2, "lr": 1e-3},
        "checkpoint": {"every_n_steps": 1},
        "logging": {"loggers": ["jsonl"]},
    }
    return write_config_file(tmp_path / "config.yaml", config, sections)


def start(command: list[str], log: Path, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        command,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        cwd=HERE,
        env={**os.environ, **(env or {})},
        start_new_session=True,
    )


def stop(*processes: subprocess.Popen) -> None:
    for process in processes:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(60)


def finish(process: subprocess.Popen, log: Path, timeout: float = 900) -> str:
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        stop(process)
        pytest.fail(f"ajet train ran past {timeout:g} s:\n{log.read_text()[-4000:]}")
    output = log.read_text()
    assert process.returncode == 0, output[-4000:]
    return output


def the_run(tmp_path: Path) -> Path:
    [run] = sorted((tmp_path / "runs" / "remote").glob("*"))
    return run


def train_episodes(run: Path) -> dict[int, list[dict]]:
    files = sorted((run / "records").glob("train_step_*.jsonl.gz"))
    return {int(f.name.split("_")[-1].split(".")[0]): list(read_records(f)) for f in files}


def wait_for_file(path_pattern: str, folder: Path, timeout: float = 600) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = sorted(folder.glob(path_pattern))
        if found and found[0].read_text().strip():
            return found[0]
        time.sleep(0.2)
    pytest.fail(f"nothing matched {path_pattern} under {folder} within {timeout:g} s")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_remote_python_clients_alone_train_the_model_through_a_client_killed_mid_episode(
    tmp_path, tiny_model_dir
):
    config = write_config(tmp_path, tiny_model_dir)
    runs = tmp_path / "runs"
    python = [sys.executable, str(AGENT), str(runs)]
    # The first client claims the first episode, makes its call and SIGKILLs itself.
    vanisher = start([*python, "--name", "vanisher", "--vanish-after-call"], tmp_path / "v.log")
    train = start([*AJET, "train", "--conf", str(config)], tmp_path / "train.log")
    clients: list[subprocess.Popen] = []
    try:
        vanisher.wait(600)
        assert vanisher.returncode == -signal.SIGKILL, (tmp_path / "v.log").read_text()
        clients = [
            start([*python, "--name", f"client-{i}"], tmp_path / f"c{i}.log") for i in range(2)
        ]
        output = finish(train, tmp_path / "train.log")
    finally:
        stop(vanisher, train, *clients)

    run = the_run(tmp_path)
    metrics = read_metrics(run)
    assert [row["step"] for row in metrics] == [1, 2]
    assert sum(row[m.EPISODES_EXPIRED] for row in metrics) == 1
    for row in metrics:
        assert row[m.EPISODES] == 4 and row[m.EPISODES_FAILED] == 0
        assert row[m.LLM_CALLS] == 4 and m.LOSS in row  # one call per episode, and a real update
    episodes = [e for step in train_episodes(run).values() for e in step]
    assert len(episodes) == 8
    [rescued] = [e for e in episodes if e["metadata"]["leases_expired"]]
    assert rescued["metadata"]["remote_workers"][0] == "vanisher"
    assert rescued["metadata"]["remote_workers"][1].startswith("client-")
    assert len(rescued["calls"]) == 1  # the vanished client's call was discarded
    assert rescued["samples"], "the rescued episode trains like any other"
    workers = {e["metadata"]["remote_workers"][-1] for e in episodes}
    assert workers <= {"client-0", "client-1"} and workers
    # The run token reaches workers through <run>/remote/token only.
    token = (run / "remote" / "token").read_text().strip()
    assert (run / "remote" / "token").stat().st_mode & 0o777 == 0o600
    assert token not in output
    for path in run.rglob("*"):
        if path.is_file() and path.name != "token":
            assert token.encode() not in path.read_bytes(), path


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_ajet_worker_and_a_local_worker_train_async_and_the_worker_outlives_a_crash(
    tmp_path, tiny_model_dir
):
    port = free_port()
    config = write_config(
        tmp_path,
        tiny_model_dir,
        rollout={
            "isolation": "remote",
            "remote": {"lease_seconds": 20, "local_workers": 1},
            "gateway": {"port": port},
        },
        trainer={"total_steps": 2, "lr": 1e-3, "mode": "async", "max_staleness": 1},
        # The local worker pauses 2 s an episode, so the remote one surely gets some.
        workflow={"name": WORKFLOW, "options": {"pause_s": 2.0}},
    )
    env = {"AJET_RUN_TOKEN": "a-token-the-operator-chose"}
    worker_command = [*AJET, "worker", "--url", f"http://127.0.0.1:{port}"]
    worker_command += ["--workflow", WORKFLOW, "--name", "remote-box", "--reconnect-seconds", "900"]
    worker = start(worker_command, tmp_path / "worker.log", env)
    try:
        first = start([*AJET, "train", "--conf", str(config)], tmp_path / "first.log", env)
        # The training process dies (SIGKILL) once step 1 is checkpointed.
        checkpoint = wait_for_file(
            "remote/*/checkpoints/step_000001/checksums.json", tmp_path / "runs"
        )
        stop(first)
        assert worker.poll() is None, (tmp_path / "worker.log").read_text()
        run = the_run(tmp_path)
        assert checkpoint.is_relative_to(run)
        resumed = start(
            [*AJET, "train", "--conf", str(config), "--resume", str(run)],
            tmp_path / "resumed.log",
            env,
        )
        finish(resumed, tmp_path / "resumed.log")
    finally:
        stop(worker)

    metrics = read_metrics(run)
    assert [row["step"] for row in metrics] == [1, 2]
    for row in metrics:
        assert row[m.EPISODES_FAILED] == 0 and m.LOSS in row
        assert m.POLICY_VERSION in row  # async mode's own metrics
    by_step = train_episodes(run)
    workers = {
        step: {e["metadata"]["remote_workers"][-1] for e in episodes}
        for step, episodes in by_step.items()
    }
    assert set().union(*workers.values()) <= {"remote-box", "local-0"}
    # The remote worker served the resumed launch too: it reconnected to the restarted server.
    assert "remote-box" in workers[2], workers


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_a_typescript_agent_with_the_openai_npm_package_trains_the_model(tmp_path, tiny_model_dir):
    node = shutil.which("node")
    if node is None:
        if os.environ.get("AJET_TEST_ENV"):  # the test command: its set-up builds the client
            pytest.fail("node is not installed; scripts/setup_typescript_client.sh needs it")
        pytest.skip("node is not installed (the TypeScript client needs Node.js 20+)")
    assert TYPESCRIPT_AGENT.is_file(), (
        "run scripts/setup_typescript_client.sh (the test command does)"
    )
    # Evaluations before and after training go to the remote agent too (the eval gateway).
    config = write_config(
        tmp_path, tiny_model_dir, eval={"before_train": True, "after_train": True}
    )
    train = start([*AJET, "train", "--conf", str(config)], tmp_path / "train.log")
    agent = None
    try:
        token = wait_for_file("remote/*/remote/token", tmp_path / "runs")
        url = token.with_name("url").read_text().strip()
        agent = start(
            [node, str(TYPESCRIPT_AGENT), url, str(token), "ts-agent"], tmp_path / "ts.log"
        )
        finish(train, tmp_path / "train.log")
    finally:
        stop(train, *([agent] if agent else []))
    metrics = read_metrics(the_run(tmp_path))
    training = [row for row in metrics if m.EPISODES in row]
    assert [row["step"] for row in training] == [1, 2]
    for row in training:
        assert row[m.EPISODES] == 4 and row[m.EPISODES_FAILED] == 0 and m.LOSS in row
    evaluations = [row for row in metrics if m.EVAL_PASS_AT_1 in row]
    assert [row["step"] for row in evaluations] == [0, 2]
    assert all(row[m.EVAL_EPISODES_FAILED] == 0 for row in evaluations)
    episodes = [e for step in train_episodes(the_run(tmp_path)).values() for e in step]
    assert {e["metadata"]["remote_workers"][-1] for e in episodes} == {"ts-agent"}
    assert {e["metadata"]["language"] for e in episodes} == {"typescript"}
    assert all(len(e["calls"]) == 1 and e["calls"][0]["response_ids"] for e in episodes)
