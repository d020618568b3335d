"""Run one suite entry: make its data with the tutorial's own script, train and evaluate with
``ajet train`` (held-out evaluation before and after), and turn the run folder into a row.

The training run is the real ``ajet train`` command in a fresh process, not a re-implementation:
the benchmark measures exactly what a user runs, every backbone (verl and trinity start Ray and
keep process-wide state) gets a clean process, and the wall time includes start-up.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml

from ajet_core import metrics as m
from ajet_core.bench import DEFAULT_WORK_DIR
from ajet_core.bench.provenance import git_state, machine_info, package_versions
from ajet_core.bench.store import BenchRow
from ajet_core.bench.suites import SuiteEntry
from ajet_core.errors import AjetError, ConfigError
from ajet_core.metric_loggers.jsonl import read_metrics

# Keys the benchmark sets itself; an override of one would make the row lie about what ran.
OWNED_KEYS = {
    "trainer.total_steps": "--steps N",
    "eval.before_train": "nothing (a benchmark always evaluates before and after)",
    "eval.after_train": "nothing (a benchmark always evaluates before and after)",
    "experiment.output_dir": "--work-dir DIR",
    "task_reader.train_path": "the suite's data_script",
    "task_reader.validation_path": "the suite's data_script",
    "model.path": "--model PATH",
}


class BenchRunFailed(AjetError):
    """The suite's data script or training run exited non-zero: no row is written."""


@dataclass
class BenchRequest:
    suite: str
    entry: SuiteEntry
    backbone: str | None = None
    model: str | None = None
    steps: int | None = None
    overrides: Sequence[str] = ()
    work_root: Path = DEFAULT_WORK_DIR
    checkout: Path = Path(".")
    quiet: bool = False


def check_request(request: BenchRequest) -> None:
    """Every problem that can be found before minutes of training, found now."""
    entry = request.entry
    if not entry.config.is_file():
        raise ConfigError(
            f"suite {request.suite!r}: config {str(entry.config)!r} does not exist here "
            f"({Path.cwd()}); run `ajet bench` from the repository root or fix the suite entry"
        )
    if entry.data_script is not None and not entry.data_script.is_file():
        raise ConfigError(
            f"suite {request.suite!r}: data_script {str(entry.data_script)!r} does not exist "
            "here; run `ajet bench` from the repository root or fix the suite entry"
        )
    for override in [*entry.overrides, *request.overrides]:
        key = override.partition("=")[0].strip()
        if key in OWNED_KEYS:
            raise ConfigError(
                f"override {override!r}: ajet bench sets {key} itself; use {OWNED_KEYS[key]}"
            )
    if request.steps is not None and request.steps <= 0:
        raise ConfigError(f"--steps {request.steps} must be a positive number of steps")


def run_suite(request: BenchRequest) -> BenchRow:
    check_request(request)
    entry = request.entry
    suite_root = request.work_root / request.suite
    suite_root.mkdir(parents=True, exist_ok=True)
    work = Path(
        tempfile.mkdtemp(prefix=time.strftime("%Y%m%d-%H%M%S-", time.gmtime()), dir=suite_root)
    )
    git = git_state(request.checkout)  # the code as it was when the run began
    recorded_at = datetime.now(timezone.utc)
    machine = machine_info()

    data = work / "data"
    overrides: list[str] = []
    if entry.data_script is not None:
        _run_logged(
            [sys.executable, str(entry.data_script), "--out", str(data), *entry.data_args],
            work / "data.log",
            what=f"suite {request.suite!r}: data script {str(entry.data_script)!r}",
            quiet=True,
        )
        overrides += [
            f"task_reader.train_path={data / 'train.jsonl'}",
            f"task_reader.validation_path={data / 'validation.jsonl'}",
        ]
    if request.model is not None:
        overrides.append(f"model.path={request.model}")
    overrides += [
        f"experiment.output_dir={work / 'runs'}",
        f"trainer.total_steps={request.steps or entry.steps}",
        "eval.before_train=true",
        "eval.after_train=true",
    ]
    if entry.held_out_tasks is not None:
        overrides.append(f"eval.max_tasks={entry.held_out_tasks}")
    command = [sys.executable, "-m", "ajet_core.cli.main", "train", "--conf", str(entry.config)]
    if request.backbone:
        command += ["--backbone", request.backbone]
    command += [*entry.overrides, *request.overrides, *overrides]

    started = time.monotonic()
    _run_logged(
        command,
        work / "train.log",
        what=f"suite {request.suite!r}: `ajet train`",
        quiet=request.quiet,
    )
    wall = time.monotonic() - started

    run_dir = _the_run_dir(work / "runs", request.suite)
    config = yaml.safe_load((run_dir / "config.yaml").read_text(encoding="utf-8"))
    results = held_out_results(run_dir, request.suite)
    return BenchRow(
        recorded_at=recorded_at,
        suite=request.suite,
        task=entry.task,
        backbone=str(config["backbone"]["name"]),
        model=str(config["model"]["path"]),
        git=git,
        versions=package_versions(),
        steps_planned=int(config["trainer"]["total_steps"]),
        wall_seconds=round(wall, 1),
        machine=machine,
        run_dir=str(run_dir),
        command=["ajet", *command[3:]],
        **results,
    )


def held_out_results(run_dir: Path, suite: str) -> dict[str, Any]:
    """Held-out success before and after training, and the steps done, from metrics.jsonl: the
    baseline evaluation is logged at step 0, the closing one last."""
    rows = read_metrics(run_dir)
    evals = [r for r in rows if m.EVAL_PASS_AT_1 in r]
    before = [r for r in evals if r.get("step") == 0]
    train = [r for r in rows if m.EPISODES in r]
    if not before or len(evals) < 2:
        raise BenchRunFailed(
            f"suite {suite!r}: {run_dir / 'metrics.jsonl'} lacks the held-out evaluations "
            f"before and after training (found {len(evals)} evaluation rows); does the config's "
            "task_reader have a validation split? No row was written"
        )
    return {
        "held_out_before": float(before[0][m.EVAL_PASS_AT_1]),
        "held_out_after": float(evals[-1][m.EVAL_PASS_AT_1]),
        "steps": len({r["step"] for r in train}),
        "train_seconds": round(sum(float(r.get(m.STEP_SECONDS, 0.0)) for r in train), 1),
    }


def _the_run_dir(runs: Path, suite: str) -> Path:
    found = sorted(p.parent for p in runs.glob("*/*/config.yaml"))
    if len(found) != 1:
        raise BenchRunFailed(
            f"suite {suite!r}: expected one run folder under {str(runs)!r}, found {len(found)}; "
            "the backbone did not write its run where experiment.output_dir points"
        )
    return found[0]


def _run_logged(command: list[str], log: Path, *, what: str, quiet: bool) -> None:
    """Run a command, its output into ``log`` (and onto stdout unless quiet)."""
    with open(log, "w", encoding="utf-8") as sink:
        process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
            # A child writing into a pipe would buffer its progress for minutes otherwise.
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        assert process.stdout is not None
        tail: list[str] = []
        for line in process.stdout:
            sink.write(line)
            tail = [*tail[-19:], line]
            if not quiet:
                sys.stdout.write(line)
                sys.stdout.flush()
        code = process.wait()
    if code != 0:
        raise BenchRunFailed(
            f"{what} exited with {code}; no row was written. Its output: {log}\n"
            + "".join(tail).rstrip()
        )
