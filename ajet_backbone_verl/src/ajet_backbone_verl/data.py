"""Tasks from any ajet task reader, written as the parquet files verl's dataloader reads.

verl's ``RLHFDataset`` wants a chat ``prompt`` column; the agent loop wants the whole ajet task.
Each row carries both: the prompt (the task's first messages, for verl's length filters and
logs) and the task as JSON in ``extra_info.ajet_task``, which the ``ajet`` agent loop rebuilds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ajet_backbone_verl.agent_loop import AGENT_LOOP_NAME, SPLIT_FIELD, TASK_FIELD
from ajet_core.readers import TRAIN_SPLIT, VALIDATION_SPLIT, TaskReader
from ajet_core.schema import Task

FILES = {TRAIN_SPLIT: "train.parquet", VALIDATION_SPLIT: "validation.parquet"}


def verl_row(task: Task, index: int, split: str) -> dict[str, Any]:
    prompt = task.init_messages or [{"role": "user", "content": task.main_query}]
    return {
        "data_source": "ajet",
        "agent_name": AGENT_LOOP_NAME,
        "prompt": [
            {"role": m.get("role", "user"), "content": str(m.get("content", ""))} for m in prompt
        ],
        "extra_info": {"index": index, TASK_FIELD: task.model_dump_json(), SPLIT_FIELD: split},
    }


def write_task_files(reader: TaskReader, folder: Path) -> dict[str, int]:
    """Write train and validation parquet files; returns the number of tasks per split."""
    import pandas as pd

    folder.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    for split, name in FILES.items():
        rows = (
            [verl_row(task, i, split) for i, task in enumerate(reader.iter_tasks(split))]
            if split in reader.splits()
            else []
        )
        if split == TRAIN_SPLIT and not rows:
            raise ValueError(f"the task reader {type(reader).__name__} yields no training tasks")
        # verl always loads a validation file; without validation tasks it gets one training row.
        pd.DataFrame(rows or [verl_row(*_first(reader), split)]).to_parquet(folder / name)
        counts[split] = len(rows)
    return counts


def _first(reader: TaskReader) -> tuple[Task, int]:
    return next(iter(reader.iter_tasks(TRAIN_SPLIT))), 0
