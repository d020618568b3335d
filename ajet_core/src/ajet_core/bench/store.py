"""The results store: one JSON object per line, each a ``BenchRow`` with a schema version.

Appending never harms earlier rows (one write of one whole line, fsynced; a torn last line is
closed first so the new row does not glue onto it). Reading never loses good rows: a line that
is not a valid row is reported with its line number and skipped, and every other row is read.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

SCHEMA_VERSION = 1


class GitState(BaseModel):
    model_config = ConfigDict(extra="forbid")

    commit: str | None = Field(description="HEAD of the checkout; None outside a git checkout")
    dirty: bool | None = Field(description="tracked files differed from HEAD when the run began")


class MachineInfo(BaseModel):
    model_config = ConfigDict(extra="forbid")

    hostname: str
    platform: str
    python: str
    cpus: int | None
    memory_gb: float | None
    gpus: list[str] = Field(default_factory=list)
    # The machine may be shared: wall time means little without the load it ran under.
    load_average_1m: float | None = None


class BenchRow(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_version: Literal[1] = SCHEMA_VERSION
    recorded_at: datetime
    suite: str
    task: str
    backbone: str
    model: str = Field(description="model.path the run trained")
    git: GitState
    versions: dict[str, str] = Field(description="distribution -> version (ajet-*, torch, ...)")
    steps: int = Field(ge=0, description="training steps completed")
    steps_planned: int = Field(ge=0, description="trainer.total_steps")
    held_out_before: float = Field(ge=0, le=1, description="eval/pass@1 before training")
    held_out_after: float = Field(ge=0, le=1, description="eval/pass@1 after training")
    wall_seconds: float = Field(ge=0, description="the `ajet train` run, evaluations included")
    train_seconds: float = Field(ge=0, description="the training steps' time/step_seconds")
    machine: MachineInfo
    run_dir: str
    command: list[str]


@dataclass
class StoreProblem:
    line: int
    reason: str


@dataclass
class StoreContents:
    rows: list[BenchRow] = field(default_factory=list)
    problems: list[StoreProblem] = field(default_factory=list)


def append_row(store: Path, row: BenchRow) -> None:
    store.parent.mkdir(parents=True, exist_ok=True)
    line = (row.model_dump_json() + "\n").encode("utf-8")
    with open(store, "a+b") as handle:
        handle.seek(0, os.SEEK_END)
        if handle.tell() > 0:
            handle.seek(-1, os.SEEK_END)
            if handle.read(1) != b"\n":
                line = b"\n" + line  # a torn last line stays broken, alone on its line
        handle.write(line)
        handle.flush()
        os.fsync(handle.fileno())


def read_store(store: Path) -> StoreContents:
    contents = StoreContents()
    text = store.read_bytes().decode("utf-8", errors="replace")
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            contents.problems.append(StoreProblem(number, f"not JSON ({exc.msg})"))
            continue
        if isinstance(data, dict) and data.get("schema_version") not in (None, SCHEMA_VERSION):
            contents.problems.append(
                StoreProblem(
                    number,
                    f"schema_version {data['schema_version']!r} is not {SCHEMA_VERSION}, the one "
                    "this ajet reads (a row from another ajet release; report it with that one)",
                )
            )
            continue
        try:
            contents.rows.append(BenchRow.model_validate(data))
        except ValidationError as exc:
            fields = "; ".join(
                f"{'.'.join(str(p) for p in error['loc']) or 'row'}: {error['msg']}"
                for error in exc.errors()[:3]
            )
            contents.problems.append(StoreProblem(number, f"not a bench row ({fields})"))
    return contents
