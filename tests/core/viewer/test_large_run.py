"""A run of 200 steps x 64 episodes stays responsive: pages, bounded memory, timings printed.

The run is built from real FrozenLake records (three calls merged into one sample per episode),
copied with fresh episode ids, so the file sizes are those of a real multi-turn run.
"""

from __future__ import annotations

import gzip
import json
import shutil
import time
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from ajet_core.training.records import read_records
from ajet_core.viewer import create_app
from ajet_core.viewer.run_store import PARSED_FILES_KEPT

STEPS, EPISODES = 200, 64


@pytest.fixture(scope="module")
def large_run(multi_turn_run, tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("large") / "exp" / "run"
    (run / "records").mkdir(parents=True)
    shutil.copy(multi_turn_run / "config.yaml", run / "config.yaml")
    seed = list(read_records(multi_turn_run / "records" / "train_step_000001.jsonl.gz"))
    with (run / "metrics.jsonl").open("w") as metrics:
        for step in range(1, STEPS + 1):
            lines = []
            for index in range(EPISODES):
                episode = dict(
                    seed[index % len(seed)],
                    episode_id=f"s{step}e{index}",
                    step=step,
                    reward=(index % 5) / 4,
                    group_key=f"train/{step}/task-{index // 8}",
                )
                lines.append(json.dumps(episode))
            with gzip.open(run / "records" / f"train_step_{step:06d}.jsonl.gz", "wt") as handle:
                handle.write("\n".join(lines) + "\n")
            metrics.write(json.dumps({"step": step, "rollout/reward_mean": 0.5}) + "\n")
    return run


def seed_sample_ids(run: Path) -> list[int]:
    with gzip.open(run / "records" / "train_step_000001.jsonl.gz", "rt") as handle:
        return json.loads(handle.readline())["samples"][0]["input_ids"]


def timed(client: TestClient, path: str, **params):
    start = time.perf_counter()
    response = client.get(path, params=params)
    assert response.status_code == 200, response.text
    return response.json(), time.perf_counter() - start


def test_200_steps_of_64_episodes(large_run):
    app = create_app([large_run])
    client = TestClient(app)
    steps, first_listing = timed(client, "/api/runs/0/steps")
    assert len(steps) == STEPS and steps[0]["pending"] is False
    rounds = 1
    while any(
        s["pending"] for s in steps
    ):  # what the page does: ask again until all are summarised
        steps = client.get("/api/runs/0/steps").json()
        rounds += 1
    assert all(s["episodes"] == EPISODES for s in steps)
    assert steps[0]["reward_mean"] == pytest.approx(
        sum((i % 5) / 4 for i in range(EPISODES)) / EPISODES
    )
    _, cached_listing = timed(client, "/api/runs/0/steps")

    page_times, episode_times = [], []
    for step in range(1, STEPS + 1, 20):
        page, seconds = timed(
            client, f"/api/runs/0/steps/train/{step}/episodes", sort="reward_asc", limit=50
        )
        page_times.append(seconds)
        assert page["total"] == EPISODES and len(page["episodes"]) == 50
        assert page["episodes"][0]["reward"] == 0.0 and len(page["groups"]) == EPISODES // 8
        full, seconds = timed(client, f"/api/runs/0/steps/train/{step}/episodes/s{step}e0")
        episode_times.append(seconds)  # the first one also loads the tokenizer
        assert len(full["samples"][0]["tokens"]) == len(seed_sample_ids(large_run))
    _, curve_seconds = timed(client, "/api/metrics")

    # Memory stays bounded however many steps were opened: only a few parsed files are kept.
    store = app.state.stores[0]
    assert len(store._parsed) <= PARSED_FILES_KEPT
    print(
        f"\n{STEPS} steps x {EPISODES} episodes: steps list {first_listing:.2f} s first ({rounds} "
        f"requests until all summarised), {cached_listing * 1000:.0f} ms cached; episode page of a "
        f"new step max {max(page_times):.2f} s; one episode with tokens {episode_times[0]:.2f} s "
        "first (loads the tokenizer unless an earlier test did), then max "
        f"{max(episode_times[1:]):.2f} s; metrics {curve_seconds * 1000:.0f} ms"
    )
