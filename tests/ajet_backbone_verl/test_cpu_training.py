"""verl's own trainer, end to end on the CPU: ``ajet train --backbone verl`` with
``backbone.rollout_engine=cpu`` (the tiny model, 2 steps x 2 tasks x 4 samples), then
``--resume`` from step 1.

Real: everything — verl's ``run_ppo`` -> ``TaskRunnerV1`` -> ``PPOTrainerSync``, its FSDP2 actor
and reference workers, its agent-loop workers running our agent loop, its weight sync into our
CPU rollout server, its checkpoints; our CLI, gateway, workflow, judger, metrics bridge, viewer
API. Nothing is stood in. The workflow and the judger are named relative to the config file,
which is not the working directory the command (and verl's workers) run in.

Heavy (~4 GB, ~15 processes, minutes): run it alone, e.g. ``flock /tmp/ajet-heavy.lock nice -n 5
.venvs/verl/bin/python -m pytest tests/ajet_backbone_verl/test_cpu_training.py``.
Every process it starts is ended when it finishes or fails: the CLI's own process group, and any
process naming this test's Ray temp-dir prefix.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ..support.cli_runs import (
    RUN_TIMEOUT_S,
    TINY_RUN_SAMPLES,
    TINY_RUN_TASKS,
    jsonl,
    newest_file,
    train_from_elsewhere,
    write_tiny_run_config,
)
from .helpers import REPO

# pytest-timeout's default (300 s) counts the module fixture's whole training run.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(RUN_TIMEOUT_S + 300)]
STEPS, TASKS, SAMPLES = 2, TINY_RUN_TASKS, TINY_RUN_SAMPLES


def write_run_config(folder: Path, model_dir: Path) -> Path:
    return write_tiny_run_config(
        folder,
        model_dir,
        name="verlcpu",
        plugin_files=[
            REPO / "tutorial/quickstart/addition_agent.py",
            Path(__file__).with_name("digit_share_judger.py"),
        ],
        workflow="addition_agent.py:AdditionAgent",
        judger="digit_share_judger.py:DigitShareJudger",
        steps=STEPS,
        backbone={"name": "verl", "rollout_engine": "cpu"},
    )


def verl_metrics(run_dir: Path, launch: int) -> dict[int, dict]:
    """verl's own trainer metrics of one launch, by step (its file logger's lines)."""
    path = run_dir / "verl" / "trainer_metrics" / f"launch-{launch:02d}.jsonl"
    return {row["step"]: row["data"] for row in jsonl(path) if "actor/grad_norm" in row["data"]}


def weight_syncs(run_dir: Path) -> list[dict]:
    return [e for e in jsonl(run_dir / "verl" / "cpu_engine.jsonl") if e["event"] == "weights"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_model_dir):
    folder = tmp_path_factory.mktemp("verl_cpu")
    config = write_run_config(folder, tiny_model_dir)
    command, run_dir = train_from_elsewhere(folder, config)
    return command, config, run_dir


def test_verl_trains_two_steps_and_checkpoints(trained):
    _, _, run_dir = trained
    for step in (1, 2):
        assert (run_dir / "checkpoints" / f"global_step_{step}" / "actor").is_dir()
    assert trained[0].left_behind == []  # the backbone stopped its own Ray head
    steps = verl_metrics(run_dir, 1)
    assert sorted(steps) == [1, 2]
    print({s: {k: v for k, v in m.items() if k.startswith("actor/")} for s, m in steps.items()})
    assert any(m["actor/grad_norm"] > 0 for m in steps.values())


def test_rollout_server_serves_each_update(trained):
    _, _, run_dir = trained
    syncs = weight_syncs(run_dir)
    # Before the first rollout, then after each update.
    assert [e["global_steps"] for e in syncs][-STEPS:] == [1, 2]
    assert len({e["tensors"] for e in syncs}) == 1 and syncs[0]["tensors"] > 0
    # Step 2 samples from the weights of step 1's large update. verl's ppo_kl compares the
    # server's logprobs with the trainer's on those samples: small, although the actor moved far
    # from its reference (kl_loss) — the server had the new weights.
    second = verl_metrics(run_dir, 1)[2]
    assert second["actor/kl_loss"] > 0.05
    assert abs(second["actor/ppo_kl"]) < 0.1 * second["actor/kl_loss"]


def test_our_metrics_and_records_for_both_steps(trained):
    from starlette.testclient import TestClient

    from ajet_core import metrics as m
    from ajet_core.viewer.app import create_app

    _, _, run_dir = trained
    rows = [r for r in jsonl(run_dir / "metrics.jsonl") if m.EPISODES in r]
    print({r["step"]: {k: r[k] for k in (m.EPISODES, m.REWARD_MEAN, m.SAMPLES)} for r in rows})
    assert [r["step"] for r in rows] == [1, 2]
    assert all(r[m.EPISODES] == TASKS * SAMPLES for r in rows)
    assert all(r[m.REWARD_MEAN] > 0 for r in rows)  # the judger's mixed rewards
    with TestClient(create_app([run_dir])) as viewer:
        [run] = viewer.get("/api/runs").json()
        steps = viewer.get(f"/api/runs/{run['index']}/steps").json()
        train = sorted(s["step"] for s in steps if s["mode"] == "train")
        assert train == [1, 2]
        episodes = viewer.get(f"/api/runs/{run['index']}/steps/train/1/episodes").json()
        assert len(episodes["episodes"]) == TASKS * SAMPLES


def test_resume_from_step_one_continues_to_step_two(trained):
    command, config, run_dir = trained
    before = weight_syncs(run_dir)
    step_two = run_dir / "checkpoints" / "global_step_2"
    saved_before = newest_file(step_two)
    result = command.run(
        "train", "--conf", str(config), "--resume", str(run_dir / "checkpoints/global_step_1")
    )
    assert result.returncode == 0, result.stdout[-8000:]
    resumed = verl_metrics(run_dir, 2)
    assert sorted(resumed) == [2]  # this launch ran step 2 only
    # From step 1's weights: far from the reference already (a fresh start's first step has 0).
    assert resumed[2]["actor/kl_loss"] > 0.05
    assert newest_file(step_two) > saved_before  # and saved step 2 again
    after = weight_syncs(run_dir)[len(before) :]
    assert [e["global_steps"] for e in after][-2:] == [1, 2]  # step 1's weights, then step 2's
    from ajet_core import metrics as m

    rows = [r for r in jsonl(run_dir / "metrics.jsonl") if m.EPISODES in r]
    assert [r["step"] for r in rows] == [1, 2]  # step 2 once: its first lines were dropped
