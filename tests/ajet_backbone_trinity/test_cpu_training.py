"""Trinity-RFT's own explorer, buffer, synchronizer and verl trainer, end to end on the CPU:
``ajet train --backbone trinity`` with ``backbone.rollout_engine=cpu`` on the tiny model, 2 tasks x
4 samples per step, through our gateway and episode workflow.

Real: trinity's launcher stage, Synchronizer, Explorer (allocator and placement group on logical
Ray GPUs, rollout coordinator, workflow runners, experience pipeline), queue buffer, Trainer with
verl's FSDP2 actor and reference workers on gloo, checkpoint weight sync into our CPU rollout
actor, checkpoints and resume; our CLI, gateway, workflow, judger, monitor bridge, viewer API. Only
vLLM is replaced, by the debug backbone's engine behind trinity's ``BaseInferenceModel``.

Two runs:

* ``sync`` (explorer and trainer take turns), launched twice as a user would after a stop: a first
  launch trains step 1 and stops (``trainer.total_steps=1``); ``--resume`` with
  ``trainer.total_steps=2`` runs step 2 only;
* ``one_step_off`` (trinity's asynchronous mode, ``sync_offset: 1``): 2 steps in one launch; the
  explorer samples step 2 with the weights from before step 1's update, and the trainer's
  staleness metrics say so from the versions trinity stamped on the experiences.

In both, the second draw of every group raises (``FlakyAgent``): trinity's trainer still gets full
batches (a zero-weight placeholder per failed episode).

Heavy (~3 GB, ~15 processes, minutes per launch): run it alone, e.g. ``flock /tmp/ajet-heavy.lock
nice -n 5 .venvs/trinity/bin/python -m pytest tests/ajet_backbone_trinity/test_cpu_training.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ajet_core import metrics as m

from ..support.cli_runs import (
    RUN_TIMEOUT_S,
    TINY_RUN_SAMPLES,
    TINY_RUN_TASKS,
    jsonl,
    train_from_elsewhere,
    write_tiny_run_config,
)
from .helpers import JUDGERS

# pytest-timeout's default (300 s) counts a module fixture's whole training runs.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(3 * RUN_TIMEOUT_S)]
TASKS, SAMPLES = TINY_RUN_TASKS, TINY_RUN_SAMPLES
WORKFLOWS = Path(__file__).with_name("workflows.py")


def write_run_config(folder: Path, model_dir: Path, *, name: str, mode: str, steps: int) -> Path:
    return write_tiny_run_config(
        folder,
        model_dir,
        name=name,
        plugin_files=[WORKFLOWS, JUDGERS],
        workflow="workflows.py:FlakyAgent",
        judger="judgers.py:ReplyLengthJudger",
        steps=steps,
        backbone={"name": "trinity", "rollout_engine": "cpu", "mode": mode},
    )


def trainer_steps(run_dir: Path, lines: slice = slice(None)) -> dict[int, dict]:
    """Trinity's trainer metrics by step (of the launches whose lines ``lines`` selects)."""
    rows = jsonl(run_dir / "trinity_metrics.jsonl")[lines]
    return {r["step"]: r for r in rows if r["role"] == "trainer" and "actor/pg_loss" in r}


def engine_events(run_dir: Path, event: str) -> list[dict]:
    return [e for e in jsonl(run_dir / "trinity_cpu_engine.jsonl") if e["event"] == event]


def checkpoints(run_dir: Path) -> Path:
    [job_dir] = (run_dir / "trinity").glob("*/*")  # <project>/<name>
    return job_dir


@pytest.fixture(scope="module")
def sync_run(tmp_path_factory, tiny_model_dir):
    """Step 1, a stop, then ``--resume`` to step 2."""
    folder = tmp_path_factory.mktemp("trinity_cpu_sync")
    config = write_run_config(folder, tiny_model_dir, name="sync", mode="sync", steps=1)
    command, run_dir = train_from_elsewhere(folder, config)
    launched = {
        "metric_lines": len(jsonl(run_dir / "trinity_metrics.jsonl")),
        "engine_lines": len(jsonl(run_dir / "trinity_cpu_engine.jsonl")),
    }
    second = command.run(
        "train", "--conf", str(config), "--resume", str(run_dir), "trainer.total_steps=2"
    )
    assert second.returncode == 0, second.stdout[-8000:]
    return command, run_dir, launched


@pytest.fixture(scope="module")
def async_run(tmp_path_factory, tiny_model_dir, sync_run):  # after sync_run: one heavy run at once
    folder = tmp_path_factory.mktemp("trinity_cpu_async")
    config = write_run_config(folder, tiny_model_dir, name="async", mode="one_step_off", steps=2)
    return train_from_elsewhere(folder, config)


def test_trinity_trains_both_steps_and_checkpoints(sync_run):
    command, run_dir, _ = sync_run
    steps = trainer_steps(run_dir)
    print({s: {k: v for k, v in r.items() if k.startswith("actor/")} for s, r in steps.items()})
    assert sorted(steps) == [1, 2]
    for row in steps.values():
        assert row["actor/grad_norm"] > 0 and row["actor/pg_loss"] != 0
    # Step 2 trains weights step 1 moved away from the reference model.
    assert steps[1]["actor/kl_loss"] == 0 and steps[2]["actor/kl_loss"] > 0.05
    for step in (1, 2):
        assert (checkpoints(run_dir) / f"global_step_{step}" / "actor").is_dir()
    assert command.left_behind == []  # the backbone stopped its own Ray head both times


def test_the_resumed_launch_runs_step_two_only(sync_run):
    _, run_dir, launched = sync_run
    assert sorted(trainer_steps(run_dir, slice(None, launched["metric_lines"]))) == [1]
    assert sorted(trainer_steps(run_dir, slice(launched["metric_lines"], None))) == [2]
    rows = [r for r in jsonl(run_dir / "metrics.jsonl") if m.EPISODES in r]
    assert [r["step"] for r in rows] == [1, 2]


def test_the_cpu_engine_serves_each_new_weight_version(sync_run):
    _, run_dir, launched = sync_run
    events = jsonl(run_dir / "trinity_cpu_engine.jsonl")
    first, resumed = events[: launched["engine_lines"]], events[launched["engine_lines"] :]
    generated = [e["version"] for e in first if e["event"] == "generate"]
    assert generated and set(generated) == {0}  # step 1 samples the base model
    # The resumed launch serves step 1's weights before it samples step 2 with them.
    loads = [e for e in resumed if e["event"] == "weights"]
    assert [e["version"] for e in loads][:1] == [1] and loads[0]["tensors"] > 0
    generated = [e["version"] for e in resumed if e["event"] == "generate"]
    assert generated and set(generated) == {1}
    # verl's ppo_kl compares the engine's logprobs with the trainer's on step 2's samples: tiny,
    # although step 1 moved the actor far from its reference (kl_loss) — the engine sampled with
    # step 1's weights, not the base model's.
    step_two = trainer_steps(run_dir)[2]
    assert abs(step_two["actor/ppo_kl"]) < 0.01 * step_two["actor/kl_loss"]


def test_full_batches_although_an_episode_fails_every_group(sync_run):
    _, run_dir, _ = sync_run
    rows = [r for r in jsonl(run_dir / "metrics.jsonl") if m.EPISODES in r]
    print({r["step"]: {k: r[k] for k in (m.EPISODES, m.REWARD_MEAN, m.PLACEHOLDERS)} for r in rows})
    for row in rows:
        assert row[m.EPISODES] == TASKS * SAMPLES
        assert row["rollout/episodes_failed/workflow_error"] == TASKS  # draw 1 of each group
        assert row[m.PLACEHOLDERS] == TASKS
    # The explorer sent trinity's trainer a whole batch each step: one experience per episode,
    # the failed ones' placeholders included.
    counts = {
        r["step"]: r["experience_pipeline/experience_count"]
        for r in jsonl(run_dir / "trinity_metrics.jsonl")
        if r["role"] == "explorer" and "experience_pipeline/experience_count" in r
    }
    assert counts == {1: TASKS * SAMPLES, 2: TASKS * SAMPLES}


def test_the_viewer_lists_the_run_and_its_episodes(sync_run):
    from starlette.testclient import TestClient

    from ajet_core.viewer.app import create_app

    _, run_dir, _ = sync_run
    with TestClient(create_app([run_dir])) as viewer:
        [run] = viewer.get("/api/runs").json()
        steps = viewer.get(f"/api/runs/{run['index']}/steps").json()
        assert sorted(s["step"] for s in steps if s["mode"] == "train") == [1, 2]
        episodes = viewer.get(f"/api/runs/{run['index']}/steps/train/2/episodes").json()
        assert len(episodes["episodes"]) == TASKS * SAMPLES


def test_one_step_off_trains_on_experiences_one_version_old(async_run):
    command, run_dir = async_run
    steps = trainer_steps(run_dir)
    print(
        {
            s: {k: v for k, v in r.items() if k.startswith(("actor/", "samples/staleness"))}
            for s, r in steps.items()
        }
    )
    assert sorted(steps) == [1, 2]
    # The explorer ran one step ahead: step 2's rollouts came from the base weights (version 0)
    # while the trainer already held step 1's update.
    assert steps[1][m.STALENESS_MAX] == 0 and steps[2][m.STALENESS_MAX] == 1
    assert steps[2][m.STALENESS_MEAN] == 1
    assert all(r["actor/grad_norm"] > 0 for r in steps.values())
    generated = {e["version"] for e in engine_events(run_dir, "generate")}
    assert generated == {0}
    rows = [r for r in jsonl(run_dir / "metrics.jsonl") if m.EPISODES in r]
    assert [r["step"] for r in rows] == [1, 2]
    assert command.left_behind == []
