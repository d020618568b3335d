"""The viewer's JSON endpoints on a real run folder (Starlette's TestClient), and `ajet view`."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml
from starlette.testclient import TestClient

from ajet_core.metric_loggers.jsonl import read_metrics
from ajet_core.training.records import read_records
from ajet_core.viewer import create_app
from ajet_core.viewer.tokens import load_tokenizer

REPO = Path(__file__).resolve().parents[3]


def train_records(run_dir: Path, step: int) -> list[dict]:
    return list(read_records(run_dir / "records" / f"train_step_{step:06d}.jsonl.gz"))


@pytest.fixture(scope="module")
def client(trained_run) -> TestClient:
    return TestClient(create_app([trained_run]))


def test_steps_list_every_records_file_with_counts_and_mean_reward(client, trained_run):
    steps = client.get("/api/runs/0/steps").json()
    assert [(s["mode"], s["step"]) for s in steps] == [("eval", 0), ("train", 1), ("train", 2)]
    for summary in steps[1:]:
        records = train_records(trained_run, summary["step"])
        assert summary["episodes"] == len(records) == 6
        assert summary["reward_mean"] == pytest.approx(sum(r["reward"] for r in records) / 6)
        assert summary["successes"] == sum(bool(r["is_success"]) for r in records)


def test_before_after_waits_for_a_second_evaluation(client):
    # This run was evaluated once (before training): nothing to compare yet, and no made-up
    # "after" side. The tutorial run's two evaluations are checked in the browser test.
    answer = client.get("/api/runs/0/before_after").json()
    assert answer == {"available": False, "evals": [0], "tasks": []}


def test_episode_pages_filters_sorting_and_search(client, trained_run):
    records = train_records(trained_run, 1)
    first = client.get("/api/runs/0/steps/train/1/episodes", params={"limit": 4}).json()
    second = client.get(
        "/api/runs/0/steps/train/1/episodes", params={"limit": 4, "offset": 4}
    ).json()
    assert first["total"] == 6 and len(first["episodes"]) == 4 and len(second["episodes"]) == 2
    assert [e["episode_id"] for e in first["episodes"] + second["episodes"]] == [
        r["episode_id"] for r in records
    ]

    lowest = client.get("/api/runs/0/steps/train/1/episodes", params={"sort": "reward_asc"}).json()[
        "episodes"
    ]
    highest = client.get(
        "/api/runs/0/steps/train/1/episodes", params={"sort": "reward_desc"}
    ).json()["episodes"]
    assert [e["reward"] for e in lowest] == sorted(r["reward"] for r in records)
    assert [e["reward"] for e in highest] == sorted((r["reward"] for r in records), reverse=True)

    failed = client.get("/api/runs/0/steps/train/1/episodes", params={"filter": "failed"}).json()
    assert {e["episode_id"] for e in failed["episodes"]} == {
        r["episode_id"] for r in records if r["error"] or not r["is_success"]
    }
    truncated = client.get(
        "/api/runs/0/steps/train/1/episodes", params={"filter": "truncated"}
    ).json()
    assert {e["episode_id"] for e in truncated["episodes"]} == {
        r["episode_id"] for r in records if any(c["finish_reason"] == "length" for c in r["calls"])
    }
    drift = client.get("/api/runs/0/steps/train/1/episodes", params={"filter": "drift"}).json()
    assert drift["total"] == sum(r["drift_fallbacks"] > 0 for r in records)

    task_id = records[0]["task"]["task_id"]
    found = client.get(
        "/api/runs/0/steps/train/1/episodes", params={"task": task_id.upper()}
    ).json()
    assert found["total"] == sum(r["task"]["task_id"] == task_id for r in records) > 0
    assert {e["task_id"] for e in found["episodes"]} == {task_id}

    groups = {g["group_key"]: g["rewards"] for g in first["groups"]}
    assert sum(len(v) for v in groups.values()) == 6
    assert groups[records[0]["group_key"]] == [
        r["reward"] for r in records if r["group_key"] == records[0]["group_key"]
    ]


def test_one_episode_in_full_with_decoded_token_strips(client, trained_run):
    record = train_records(trained_run, 2)[0]
    episode = client.get(f"/api/runs/0/steps/train/2/episodes/{record['episode_id']}").json()
    assert episode["decoded"] is True
    assert episode["calls"] == record["calls"]
    [sample] = episode["samples"]
    tokenizer = load_tokenizer(
        str(yaml.safe_load((trained_run / "config.yaml").read_text())["model"]["path"])
    )
    tokens = sample["tokens"]
    assert [t["id"] for t in tokens] == record["samples"][0]["input_ids"]
    assert [t["mask"] for t in tokens] == record["samples"][0]["loss_mask"]
    assert [t["logprob"] for t in tokens] == record["samples"][0]["old_logprobs"]
    # The policy version that sampled each trained token (step 2 samples from version 1).
    versions = record["samples"][0]["versions"]
    assert [t["version"] for t in tokens] == [
        v if t["mask"] else None for t, v in zip(tokens, versions)
    ]
    assert {t["version"] for t in tokens if t["mask"]} == {1}
    assert "".join(t["text"] for t in tokens) == tokenizer.decode(record["samples"][0]["input_ids"])
    assert sample["call_ids"] == [record["calls"][0]["call_id"]]


def test_ids_only_when_the_tokenizer_cannot_be_loaded(trained_run, tmp_path):
    copy = tmp_path / "exp" / "run"
    shutil.copytree(trained_run, copy)
    config = yaml.safe_load((copy / "config.yaml").read_text())
    config["model"]["path"] = str(tmp_path / "no-such-model")
    (copy / "config.yaml").write_text(yaml.safe_dump(config))
    client = TestClient(create_app([copy]))
    record = train_records(copy, 1)[0]
    episode = client.get(f"/api/runs/0/steps/train/1/episodes/{record['episode_id']}").json()
    assert episode["decoded"] is False
    assert {t["text"] for t in episode["samples"][0]["tokens"]} == {None}


def test_new_steps_are_picked_up_while_a_run_trains(trained_run, tmp_path):
    copy = tmp_path / "exp" / "run"
    shutil.copytree(trained_run, copy)
    later = copy / "records" / "train_step_000002.jsonl.gz"
    held_back = later.read_bytes()
    later.unlink()
    client = TestClient(create_app([copy]))
    assert [s["step"] for s in client.get("/api/runs/0/steps").json()] == [0, 1]
    later.write_bytes(held_back)  # the trainer writes step 2
    assert [s["step"] for s in client.get("/api/runs/0/steps").json()] == [0, 1, 2]
    assert client.get("/api/runs/0/steps/train/2/episodes").json()["total"] == 6


def test_metrics_of_several_runs_for_overlaid_curves(trained_run, tmp_path):
    copy = tmp_path / "other" / "run"
    shutil.copytree(trained_run, copy)
    client = TestClient(create_app([trained_run, copy]))
    body = client.get("/api/metrics").json()
    assert [r["index"] for r in body["runs"]] == [0, 1]
    assert body["runs"][0]["rows"] == read_metrics(trained_run)
    assert any("rollout/reward_mean" in row for row in body["runs"][1]["rows"])
    assert [r["name"] for r in client.get("/api/runs").json()] == [
        f"{trained_run.parent.name}/{trained_run.name}",
        "other/run",
    ]


def test_bad_requests_name_the_problem(client):
    assert client.get("/api/runs/3/steps").status_code == 404
    missing = client.get("/api/runs/0/steps/train/99/episodes")
    assert missing.status_code == 404 and "step 99" in missing.json()["error"]
    bad_filter = client.get("/api/runs/0/steps/train/1/episodes", params={"filter": "weird"})
    assert (
        bad_filter.status_code == 400
        and "'weird'" in bad_filter.json()["error"]
        and "truncated" in bad_filter.json()["error"]
    )
    bad_limit = client.get("/api/runs/0/steps/train/1/episodes", params={"limit": "lots"})
    assert bad_limit.status_code == 400 and "limit" in bad_limit.json()["error"]
    assert client.get("/api/runs/0/steps/train/1/episodes/nope").status_code == 404


def test_page_and_static_files_are_served(client):
    page = client.get("/")
    assert page.status_code == 200 and "/static/viewer.js" in page.text
    assert client.get("/static/viewer.js").status_code == 200
    assert client.get("/static/viewer.css").status_code == 200


def test_view_rejects_a_folder_that_is_not_a_run(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "ajet_core.cli.main", "view", str(tmp_path), "--no-browser"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert str(tmp_path) in result.stderr and "not a run folder" in result.stderr


def test_view_rejects_a_port_out_of_range(trained_run):
    result = subprocess.run(
        [sys.executable, "-m", "ajet_core.cli.main", "view", str(trained_run), "--port", "70000"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2 and "--port 70000" in result.stderr


def test_ajet_view_serves_on_localhost_and_prints_the_url(trained_run):
    process = subprocess.Popen(
        [sys.executable, "-m", "ajet_core.cli.main", "view", str(trained_run), "--no-browser"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=REPO,
    )
    try:
        url = next(line.split()[1] for line in process.stdout if line.startswith("open "))
        assert url.startswith("http://127.0.0.1:")
        deadline = time.monotonic() + 120  # readiness: room for a loaded machine
        while True:
            try:
                steps = httpx.get(url + "api/runs/0/steps", timeout=5).json()
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the viewer never answered"
                time.sleep(0.2)
        assert len(steps) == 3
    finally:
        process.terminate()
        process.wait(timeout=10)
