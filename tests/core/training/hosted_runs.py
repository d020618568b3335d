"""Read back what the W&B and SwanLab loggers wrote in offline mode, from their own run files.

Both services store a run as a LevelDB-style log of protobuf records; the readers are the ones
SwanLab ships (its W&B converter reads W&B's files), so these tests parse no format by hand.
"""

from __future__ import annotations

import json
from pathlib import Path


def wandb_history(run_dir: Path) -> dict[int, dict[str, float]]:
    from swanlab.converter.wb.wbdatastore import WBDataStoreReader
    from wandb.proto import wandb_internal_pb2

    history: dict[int, dict[str, float]] = {}
    for path in sorted(run_dir.glob("wandb/offline-run-*/run-*.wandb")):
        reader = WBDataStoreReader()
        reader.open(path)
        while (data := reader.scan()) is not None:
            record = wandb_internal_pb2.Record()
            record.ParseFromString(data)
            if record.WhichOneof("record_type") != "history":
                continue
            row = {
                item.key or "/".join(item.nested_key): json.loads(item.value_json)
                for item in record.history.item
            }
            step = int(row.pop("_step"))
            history.setdefault(step, {}).update(
                {k: v for k, v in row.items() if not k.startswith("_")}
            )
        reader.close()
    return history


def swanlab_history(run_dir: Path) -> dict[int, dict[str, float]]:
    from swanlab.proto.swanlab.record.v1.record_pb2 import Record
    from swanlab.sdk.internal.core_python.store import DataStoreReader

    history: dict[int, dict[str, float]] = {}
    for path in sorted(run_dir.glob("swanlog/run-*/run-*.swanlab")):
        reader = DataStoreReader()
        reader.open(path)
        for data in reader:
            record = Record()
            record.ParseFromString(data)
            if record.HasField("scalar"):
                history.setdefault(record.scalar.step, {})[record.scalar.key] = (
                    record.scalar.value.number
                )
        reader.close()
    return history
