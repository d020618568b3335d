"""``ajet bench``: a suite entry (the quickstart on the tiny model, one step) runs through the
real ``ajet train`` and appends a row whose numbers are the run's own metrics; two commits of a
project give two rows the report and its HTML page compare; bad input is a named error, and a
broken store line costs only itself."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from ajet_core import metrics as m
from ajet_core.bench.store import BenchRow, append_row, read_store
from ajet_core.metric_loggers.jsonl import read_metrics

REPO = Path(__file__).resolve().parents[3]
QUICKSTART = REPO / "tutorial" / "quickstart"

TINY_SUITE = {
    "task": "two-number addition (tiny model)",
    "config": "tutorial/quickstart/quickstart.yaml",
    "data_script": "tutorial/quickstart/make_data.py",
    "data_args": ["--held-out", "4"],
    "steps": 1,
    "overrides": [
        "rollout.batch_size=2",
        "rollout.num_repeat=2",
        "rollout.equal_reward_groups=keep",
        "checkpoint.every_n_steps=0",
        "logging.loggers=[jsonl]",
        "logging.records=none",
    ],
}

GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "bench test",
    "GIT_AUTHOR_EMAIL": "bench@example.invalid",
    "GIT_COMMITTER_NAME": "bench test",
    "GIT_COMMITTER_EMAIL": "bench@example.invalid",
}


def git(project: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", *args],
        cwd=project,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **GIT_IDENTITY},
    )
    return result.stdout.strip()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A git checkout holding the quickstart tutorial and a suites file with one tiny entry."""
    root = tmp_path / "project"
    shutil.copytree(
        QUICKSTART,
        root / "tutorial" / "quickstart",
        ignore=shutil.ignore_patterns("data", "__pycache__"),
    )
    (root / "suites.yaml").write_text(
        yaml.safe_dump({"schema_version": 1, "suites": {"tiny": TINY_SUITE}})
    )
    (root / "NOTES.md").write_text("first version\n")
    git(root, "init", "-q")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "first")
    return root


def ajet(project: Path, *args: str, timeout: int = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ajet_core.cli.main", *args],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def bench_run(project: Path, model: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return ajet(
        project,
        "bench",
        "run",
        "tiny",
        "--suites",
        "suites.yaml",
        "--store",
        "store.jsonl",
        "--model",
        str(model),
        "--quiet",
        *extra,
        timeout=900,
    )


@pytest.mark.timeout(1200)  # two whole jobs in subprocesses: the hang detector, sized for load
def test_bench_rows_from_two_commits_hold_the_runs_numbers_and_the_report_compares_them(
    project, tiny_model_dir
):
    first = bench_run(project, tiny_model_dir)
    assert first.returncode == 0, first.stderr[-3000:] + first.stdout[-3000:]
    store = project / "store.jsonl"
    [row] = read_store(store).rows
    first_line = store.read_text().splitlines()[0]

    # The row is the run: its numbers are the run folder's own metrics, its code the checkout's.
    commit_1 = git(project, "rev-parse", "HEAD")
    assert row.git.commit == commit_1 and row.git.dirty is False
    assert (row.suite, row.task, row.backbone) == ("tiny", TINY_SUITE["task"], "debug")
    assert row.model == str(tiny_model_dir)
    run_dir = project / row.run_dir
    metrics = read_metrics(run_dir)
    evals = [r for r in metrics if m.EVAL_PASS_AT_1 in r]
    assert [r["step"] for r in evals] == [0, 1]  # before and after the one step
    assert row.held_out_before == evals[0][m.EVAL_PASS_AT_1]
    assert row.held_out_after == evals[-1][m.EVAL_PASS_AT_1]
    [step] = [r for r in metrics if m.EPISODES in r]
    assert step[m.EPISODES] == 4  # the suite's batch_size x num_repeat reached the run
    assert (row.steps, row.steps_planned) == (1, 1)
    assert row.train_seconds == round(step[m.STEP_SECONDS], 1)
    assert row.wall_seconds > 0
    assert {"ajet-core", "ajet-backbone-debug", "torch", "transformers"} <= row.versions.keys()
    assert row.machine.cpus == os.cpu_count()
    effective = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert effective["eval"]["before_train"] and effective["eval"]["after_train"]
    assert row.command[:2] == ["ajet", "train"]

    # A second commit, with a tracked file edited: a second row, the first left as it was.
    (project / "NOTES.md").write_text("second version\n")
    git(project, "commit", "-q", "-am", "second")
    (project / "NOTES.md").write_text("second version, edited\n")
    second = bench_run(project, tiny_model_dir)
    assert second.returncode == 0, second.stderr[-3000:] + second.stdout[-3000:]
    rows = read_store(store).rows
    assert store.read_text().splitlines()[0] == first_line
    commit_2 = git(project, "rev-parse", "HEAD")
    assert [(r.git.commit, r.git.dirty) for r in rows] == [(commit_1, False), (commit_2, True)]
    assert rows[1].run_dir != rows[0].run_dir

    # A line broken in the middle of the store costs only that line.
    lines = store.read_text().splitlines()
    store.write_text(
        "\n".join([lines[0], '{"schema_version": 1, "suite": "tiny"', lines[1]]) + "\n"
    )
    report = ajet(project, "bench", "report", "--store", "store.jsonl", "--html", "page.html")
    assert report.returncode == 0, report.stderr
    assert "store.jsonl:2: not JSON" in report.stderr and "fix or delete line 2" in report.stderr
    for r in rows:
        assert r.git.commit[:9] in report.stdout
        assert f"{r.held_out_before:.3f}" in report.stdout
        assert f"{r.held_out_after:.3f}" in report.stdout
    assert f"{commit_2[:9]}+dirty" in report.stdout

    page = (project / "page.html").read_text()
    assert "<script" not in page and "http://" not in page.replace("http://www.w3.org", "")
    [svg_text] = [p for p in page.split("\n") if p.startswith("<svg")]
    svg = ET.fromstring(svg_text)
    labels = [t.text for t in svg.iter("{http://www.w3.org/2000/svg}text")]
    assert commit_1[:9] in labels and f"{commit_2[:9]}+dirty" in labels
    titles = [t.text for t in svg.iter("{http://www.w3.org/2000/svg}title")]
    assert sum(t.startswith("after 1 steps") for t in titles) == 2


def test_appending_after_a_torn_last_line_keeps_every_row(tmp_path):
    # Storage only: the row's values are placeholders, nothing here is about results.
    row = BenchRow.model_validate(
        {
            "recorded_at": "2026-12-02T00:00:00Z",
            "suite": "s",
            "task": "t",
            "backbone": "debug",
            "model": "m",
            "git": {"commit": None, "dirty": None},
            "versions": {},
            "steps": 0,
            "steps_planned": 0,
            "held_out_before": 0,
            "held_out_after": 0,
            "wall_seconds": 0,
            "train_seconds": 0,
            "machine": {"hostname": "h", "platform": "p", "python": "3", "cpus": 1, "memory_gb": 1},
            "run_dir": "r",
            "command": [],
        }
    )
    store = tmp_path / "store.jsonl"
    store.write_text(row.model_dump_json() + '\n{"schema_version": 1, "suite": "torn')
    append_row(store, row)
    contents = read_store(store)
    assert contents.rows == [row, row]
    assert [p.line for p in contents.problems] == [2]


def test_unknown_suite_names_the_suite_the_file_and_the_known_ones(project):
    result = ajet(project, "bench", "run", "tinny", "--suites", "suites.yaml")
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert "unknown bench suite 'tinny'" in line and "did you mean 'tiny'" in line
    assert "'suites.yaml' defines tiny" in line and "ajet bench list" in line
    listing = ajet(project, "bench", "list", "--suites", "suites.yaml")
    assert listing.returncode == 0
    assert listing.stdout.startswith(f"tiny: {TINY_SUITE['task']}, 1 steps")


def test_bad_suites_files_and_overrides_are_named_errors_before_any_training(project):
    suites = project / "suites.yaml"
    bad = {**TINY_SUITE, "step": 2}
    suites.write_text(yaml.safe_dump({"suites": {"tiny": bad}}))
    result = ajet(project, "bench", "run", "tiny", "--suites", "suites.yaml")
    assert result.returncode == 2
    assert "suites.tiny.step: Extra inputs are not permitted" in result.stderr
    assert "docs/bench.md" in result.stderr

    missing = ajet(project, "bench", "list", "--suites", "nowhere.yaml")
    assert missing.returncode == 2 and "suites file 'nowhere.yaml' does not exist" in missing.stderr

    suites.write_text(
        yaml.safe_dump({"suites": {"tiny": {**TINY_SUITE, "config": "tutorial/nope.yaml"}}})
    )
    result = ajet(project, "bench", "run", "tiny", "--suites", "suites.yaml")
    assert result.returncode == 2
    assert "config 'tutorial/nope.yaml' does not exist" in result.stderr

    suites.write_text(yaml.safe_dump({"suites": {"tiny": TINY_SUITE}}))
    result = ajet(
        project, "bench", "run", "--suites", "suites.yaml", "tiny", "trainer.total_steps=5"
    )
    assert result.returncode == 2
    assert "ajet bench sets trainer.total_steps itself; use --steps N" in result.stderr
    assert not (project / "runs").exists()  # nothing ran


def test_a_failed_run_writes_no_row(project, tmp_path):
    result = bench_run(project, tmp_path / "no-such-model")
    assert result.returncode == 1
    assert "`ajet train` exited with" in result.stderr and "no row was written" in result.stderr
    assert not (project / "store.jsonl").exists()


def test_report_names_a_missing_store_and_rows_of_another_schema(project):
    result = ajet(project, "bench", "report", "--store", "none.jsonl")
    assert result.returncode == 2
    assert "results store 'none.jsonl' does not exist" in result.stderr
    assert "ajet bench run SUITE" in result.stderr

    (project / "future.jsonl").write_text(json.dumps({"schema_version": 2, "suite": "x"}) + "\n")
    result = ajet(project, "bench", "report", "--store", "future.jsonl")
    assert result.returncode == 0
    assert "future.jsonl:1: schema_version 2 is not 1" in result.stderr
    assert "no bench rows in future.jsonl" in result.stderr
