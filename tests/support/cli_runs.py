"""``ajet`` run as a user runs it, for the tests that train through a Ray cluster (verl, trinity).

:class:`AjetCommand` starts the CLI in its own process group with a Ray temp-dir prefix only it
uses, so whatever the run leaves behind — its process group, its private Ray head's processes —
is found and ended when the command finishes, fails or runs past its limit.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import psutil
import pytest
import yaml

# Generous: a Ray-based run's start-up alone takes minutes when other work holds the two cores.
RUN_TIMEOUT_S = 1800
# The shape of write_tiny_run_config's runs.
TINY_RUN_TASKS, TINY_RUN_SAMPLES = 2, 4


class AjetCommand:
    """``ajet ...`` in its own process group, with a Ray temp-dir prefix only it uses."""

    def __init__(self, workdir: Path, timeout_s: float = RUN_TIMEOUT_S) -> None:
        self.workdir = workdir
        self.timeout_s = timeout_s
        self.marker = f"ajet-ray-test-{uuid.uuid4().hex[:8]}-"
        self.left_behind: list[str] = []  # processes of its Ray head still alive after a run

    def run(self, *args: str) -> subprocess.CompletedProcess:
        env = {**os.environ, "AJET_RAY_TEMP_PREFIX": self.marker, "PYTHONUNBUFFERED": "1"}
        command = [str(Path(sys.executable).with_name("ajet")), *args]
        process = subprocess.Popen(
            command,
            cwd=self.workdir,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        try:
            output, _ = process.communicate(timeout=self.timeout_s)
        except subprocess.TimeoutExpired:
            # Ctrl-C first: the backbone's own clean-up stops its Ray head.
            os.killpg(process.pid, signal.SIGINT)
            try:
                output, _ = process.communicate(timeout=120)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                output, _ = process.communicate()
            pytest.fail(f"ajet {' '.join(args)} ran past {self.timeout_s:.0f} s:\n{output[-6000:]}")
        finally:
            self.left_behind += [" ".join(p.cmdline()[:3]) for p in self.head_processes()]
            self.clean_up(process.pid)
        print(output[-20000:])
        return subprocess.CompletedProcess(command, process.returncode, output, "")

    def head_processes(self) -> list[psutil.Process]:
        return [
            p
            for p in psutil.process_iter(["cmdline"])
            if self.marker in " ".join(p.info["cmdline"] or [])
        ]

    def clean_up(self, group: int) -> None:
        try:
            os.killpg(group, signal.SIGKILL)
        except ProcessLookupError:
            pass
        left = self.head_processes()
        for process in left:
            process.kill()
        psutil.wait_procs(left, timeout=60)


def jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def newest_file(folder: Path) -> int:
    return max(p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file())


def write_tiny_run_config(
    folder: Path,
    model_dir: Path,
    *,
    name: str,
    plugin_files: list[Path],
    workflow: str,
    judger: str,
    steps: int,
    backbone: dict,
) -> Path:
    """A 2-task x 4-sample run of the tiny model with addition tasks (4 train, 2 validation), its
    workflow and judger files copied next to the config and named relative to it — so neither
    the command's working directory nor the workers' need to be the config's folder."""
    conf = folder / "conf"
    conf.mkdir()
    for path in plugin_files:
        shutil.copy(path, conf / path.name)
    data = folder / "data"
    data.mkdir()
    rows = [
        {"task_id": f"add-{a}-{b}", "main_query": f"What is {a} + {b}?", "metadata": {}}
        for a, b in [(1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12)]
    ]
    (data / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows[:4]))
    (data / "validation.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows[4:]))
    config = {
        "experiment": {"name": name, "output_dir": str(folder / "runs"), "seed": 5},
        "model": {"path": str(model_dir), "max_model_len": 256},
        "task_reader": {
            "type": "jsonl",
            "train_path": str(data / "train.jsonl"),
            "validation_path": str(data / "validation.jsonl"),
        },
        "workflow": {"name": workflow},
        "judger": {"type": judger},
        "rollout": {
            "batch_size": TINY_RUN_TASKS,
            "num_repeat": TINY_RUN_SAMPLES,
            "max_tokens_per_call": 12,
            "equal_reward_groups": "keep",
        },
        # A large step: the actor moves far from its reference, so an engine that kept the old
        # weights would sample with logprobs far from the trainer's.
        "trainer": {"total_steps": steps, "lr": 0.02, "kl_coef": 0.01},
        "checkpoint": {"every_n_steps": 1},
        "logging": {"loggers": ["console", "jsonl"]},
        "backbone": backbone,
    }
    path = conf / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def train_from_elsewhere(folder: Path, config: Path, *overrides: str) -> tuple[AjetCommand, Path]:
    """``ajet train --conf config`` from a working directory that is neither the config's folder
    nor the repository; returns the command (to resume with, and to check what it left behind)
    and the run folder the run made."""
    workdir = folder / "elsewhere"
    workdir.mkdir()
    command = AjetCommand(workdir)
    result = command.run("train", "--conf", str(config), *overrides)
    assert result.returncode == 0, result.stdout[-8000:]
    experiment = yaml.safe_load(config.read_text())["experiment"]
    [run_dir] = (Path(experiment["output_dir"]) / experiment["name"]).iterdir()
    return command, run_dir
