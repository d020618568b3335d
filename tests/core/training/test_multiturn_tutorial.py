"""The multi-turn self-correction tutorial trains two steps on the tiny model: every episode makes
three dependent calls (answer, verifier feedback, answer again, feedback, final answer) that
merge into one sample without drift, its per-turn diagnostics land in metrics.jsonl and agree
with the episode records, and the report prints the before/after summary next to the best
policy that ignores the question."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ajet_core import metrics as m
from ajet_core.metric_loggers.jsonl import read_metrics
from ajet_core.rollout.summary import rollout_metrics
from ajet_core.schema import EpisodeRecord, LlmCall, Task
from ajet_core.training.records import read_records

REPO = Path(__file__).resolve().parents[3]
TUTORIAL = REPO / "tutorial" / "example_self_correction"


def episode(
    calls: int, *, success: bool, parse_failures: int = 0, malformed: int = 0, turns=None, **kw
):
    call = LlmCall("c", "policy", "policy", True, [1], [2], [0.0], 1.0, "stop", [])
    return EpisodeRecord(
        episode_id=f"e{calls}{success}",
        task=Task(task_id="t"),
        calls=[call] * calls,
        reward=1.0 if success else 0.0,
        is_success=success,
        log_metrics={"parse_failures": parse_failures}
        | ({} if turns is None else {"turn_success": turns}),
        metadata={"gateway": {"malformed_tool_calls": malformed}},
        **kw,
    )


def test_turn_metrics_split_success_by_calls_and_count_parse_failures():
    episodes = [
        episode(1, success=True, turns=1.0),  # a single number is one turn
        episode(3, success=True, parse_failures=1, turns=[0.0, 1.0, 1.0]),
        episode(3, success=False, parse_failures=2, malformed=1, turns=[1.0, 0.0, 0.0]),
        episode(12, success=False),  # long episodes share the last bucket; no turns reported
        episode(2, success=True, parse_failures=5, error="boom", turns=[1.0, 1.0]),  # failed
    ]
    result = rollout_metrics(episodes, seconds=1.0)
    turns = {k: v for k, v in result.items() if k.startswith("turns/")}
    assert turns == {
        m.CALLS_PER_EPISODE: (1 + 3 + 3 + 12) / 4,
        m.PARSE_FAILURES: 1 + 2 + 1,
        m.PARSE_FAILURES_PER_EPISODE: 4 / 4,
        m.success_by_calls_metric("1"): 1.0,
        m.success_by_calls_metric("3"): 0.5,
        m.success_by_calls_metric("8+"): 0.0,
        # Per turn, over the episodes that reported that turn (turn 1: three, turns 2-3: two).
        m.success_at_turn_metric("1"): 2 / 3,
        m.success_at_turn_metric("2"): 0.5,
        m.success_at_turn_metric("3"): 0.5,
    }
    assert rollout_metrics([episodes[-1]], seconds=1.0).keys().isdisjoint(turns)


@pytest.mark.timeout(1200)  # a whole job in a subprocess: the hang detector, sized for load
def test_self_correction_tutorial_two_steps_on_the_tiny_model(tmp_path, tiny_model_dir):
    data = tmp_path / "data"
    subprocess.run(
        [sys.executable, str(TUTORIAL / "make_data.py"), "--out", str(data), "--held-out", "2"],
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
        "rollout.equal_reward_groups=keep",  # the tiny model's rewards are mostly all zero
        "checkpoint.every_n_steps=0",
        "logging.loggers=[jsonl]",
        "logging.records=all",
    ]
    result = subprocess.run(
        [sys.executable, "-m", "ajet_core.cli.main", "train", "--conf"]
        + [str(TUTORIAL / "self_correction.yaml"), *overrides],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    [run_dir] = list((tmp_path / "runs").glob("*/*"))
    rows = [r for r in read_metrics(run_dir) if m.EPISODES in r]
    assert [r["step"] for r in rows] == [1, 2]
    for row in rows:
        records = list(read_records(run_dir / "records" / f"train_step_{row['step']:06d}.jsonl.gz"))
        assert all(r["error"] is None for r in records), [r["error"] for r in records]
        # Every episode makes all three calls, each prompt extending the one before it (the
        # verifier's message is about the previous reply), and they merge into one sample.
        assert [len(r["calls"]) for r in records] == [3] * len(records)
        for r in records:
            prompts = [c["messages"] for c in r["calls"]]
            for before, after in zip(prompts, prompts[1:]):
                assert after[: len(before)] == before and len(after) == len(before) + 2
            for call, turn in zip(r["calls"][:-1], prompts[1:]):
                assert turn[-2]["content"] == (call["reply"]["content"] or "")
        assert row[m.CALLS_PER_EPISODE] == 3.0
        assert row[m.LLM_CALLS] == 3 * len(records)
        assert row[m.DRIFT_FALLBACKS] == 0
        assert row[m.SAMPLES_PER_EPISODE] == 1.0  # the turns merged into one sample
        # The diagnostics agree with what the episodes themselves reported, bucket by bucket.
        reported = sum(r["log_metrics"]["parse_failures"] for r in records)
        assert row[m.PARSE_FAILURES] == reported
        by_calls: dict[str, list[bool]] = {}
        for r in records:
            by_calls.setdefault(m.calls_bucket(len(r["calls"])), []).append(bool(r["is_success"]))
        # Only lengths that occurred are logged: no made-up rates for empty buckets.
        buckets = {k: v for k, v in row.items() if k.startswith("turns/success_by_calls/")}
        assert buckets == {
            m.success_by_calls_metric(b): sum(v) / len(v) for b, v in by_calls.items()
        }
        # Turn by turn: the share of episodes whose k-th answer was right, and the last turn's
        # is the episode's success.
        for k in range(3):
            rights = [r["log_metrics"]["turn_success"][k] for r in records]
            assert row[m.success_at_turn_metric(str(k + 1))] == sum(rights) / len(rights)
        assert all(r["log_metrics"]["turn_success"][-1] == r["is_success"] for r in records)

    report = subprocess.run(
        [sys.executable, str(TUTORIAL / "report.py"), str(run_dir), "--data", str(data)]
        + ["--json", str(tmp_path / "summary.json")],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "held-out success before training" in report.stdout
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["drift_fallbacks"] == 0 and summary["steps"] == 2
    assert summary["calls_per_episode"] == 3.0 and summary["calls_per_sample"] == 3.0
    # Two held-out tasks: a blind binary search over 7 final answers covers both.
    assert summary["best_blind_policy_success"] == 1.0


def test_report_counts_calls_per_sample_over_the_steps_that_trained(tmp_path):
    """A step whose groups were all dropped has no samples (samples/per_episode 0): it says
    nothing about merging and must not lower the samples-per-episode average."""
    run_dir, data = tmp_path / "run", tmp_path / "data"
    run_dir.mkdir()
    data.mkdir()
    (data / "validation.jsonl").write_text(
        "".join(json.dumps({"metadata": {"answer": a}}) + "\n" for a in (3, 4))
    )

    def step(number: int, samples: int) -> dict:
        return {
            "step": number,
            m.EPISODES: 4,
            m.LLM_CALLS: 12,
            m.CALLS_PER_EPISODE: 3.0,
            m.SAMPLES: samples,
            m.SAMPLES_PER_EPISODE: samples / 4,
            m.DRIFT_FALLBACKS: 0,
            m.STEP_SECONDS: 1.0,
        }

    rows = [{"step": 0, m.EVAL_PASS_AT_1: 0.0}, step(1, 0), step(2, 4), step(3, 4)]
    rows.append({"step": 3, m.EVAL_PASS_AT_1: 0.5})
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    subprocess.run(
        [sys.executable, str(TUTORIAL / "report.py"), str(run_dir), "--data", str(data)]
        + ["--json", str(tmp_path / "summary.json")],
        capture_output=True,
        text=True,
        check=True,
    )
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["samples_per_episode"] == 1.0 and summary["calls_per_sample"] == 3.0
    assert summary["steps"] == 3 and summary["samples"] == 8
