"""Our task readers feed Trinity-RFT: tasks materialised as a JSONL taskset trinity reads itself.

Any AgentJet task reader (JSONL, Hugging Face files, an environment service, generated tasks)
streams its split once into ``<dir>/<split>.jsonl``; trinity's own file reader loads that folder
with ``datasets.load_dataset`` and its task formatter builds one trinity ``Task`` per row, with
our workflow class resolved by dotted path. Each row holds the AgentJet task as one JSON string
column, so tasks whose ``metadata`` differ in shape never fight over a column schema.

Shuffling, epochs and the position in the taskset are trinity's (``buffer.explorer_input``), as
every other part of the explorer loop is. A reader backed by an environment service still gives
each episode its instance: the workflow rebuilds the reader inside trinity's worker and enters
``reader.episode_env`` around every episode.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ajet_core.errors import ConfigError
from ajet_core.readers import TaskReader
from ajet_core.schema import Task

# The column of a materialised row that holds the AgentJet task (as JSON).
TASK_COLUMN = "ajet_task"


def task_row(task: Task) -> dict[str, str]:
    return {TASK_COLUMN: json.dumps(task.model_dump(mode="json"), ensure_ascii=False)}


def task_from_row(row: Mapping[str, Any] | None) -> Task:
    """The AgentJet task of one taskset row (trinity's ``Task.raw_task``)."""
    if not row or TASK_COLUMN not in row:
        keys = ", ".join(sorted(row or {})) or "none"
        raise ValueError(
            f"a trinity task without an {TASK_COLUMN!r} column reached the AgentJet workflow "
            f"(columns: {keys}); point buffer.explorer_input at a taskset written by "
            "ajet_backbone_trinity.tasks.write_taskset"
        )
    value = row[TASK_COLUMN]
    return Task.model_validate(json.loads(value) if isinstance(value, str) else value)


def write_taskset(
    reader: TaskReader, split: str, directory: Path, *, limit: int | None = None
) -> Path:
    """Stream ``split`` of ``reader`` into ``directory/<split>.jsonl``; returns the file.

    The file name is the split name, which is how ``datasets.load_dataset(directory,
    split=split)`` — trinity's taskset loader — finds it.
    """
    if split not in reader.splits():
        raise ConfigError(
            f"task reader {type(reader).__name__} has no {split!r} split (it has "
            f"{', '.join(reader.splits())}); give it that split or turn off what needs it"
        )
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{split}.jsonl"
    count = 0
    partial = path.with_suffix(".jsonl.partial")
    with partial.open("w", encoding="utf-8") as handle:
        for task in reader.iter_tasks(split):
            handle.write(json.dumps(task_row(task), ensure_ascii=False) + "\n")
            count += 1
            if limit is not None and count >= limit:
                break
    if count == 0:
        partial.unlink()
        raise ConfigError(
            f"task reader {type(reader).__name__} yielded no task for split {split!r}; "
            "check the reader's paths and options"
        )
    partial.replace(path)
    return path
