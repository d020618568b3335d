"""Turning one data row (a dict from JSONL, Parquet, CSV ...) into a :class:`Task`.

Shared by the ``jsonl`` and ``huggingface`` readers so both map fields the same way.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field

from ajet_core.errors import DataError
from ajet_core.readers import TaskReaderConfig
from ajet_core.schema import Task


class BadRowError(DataError):
    """A row cannot become a task; the message names where the row is and how to fix it."""


def _first_undecodable_line(path: Path) -> int | str:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as raw:
            for number, line in enumerate(raw, start=1):
                try:
                    line.decode("utf-8")
                except UnicodeDecodeError:
                    return number
    except (OSError, EOFError, zlib.error):
        pass
    return "?"


def numbered_lines(path: Path, lines: Iterable[str]) -> Iterator[tuple[int, str]]:
    """``enumerate(lines, 1)``, where a file that is not UTF-8 text or a corrupt ``.gz`` is a
    :class:`BadRowError` naming ``file:line`` (not a bare ``UnicodeDecodeError``/``zlib.error``)."""
    number = 0
    iterator = iter(lines)
    while True:
        try:
            line = next(iterator)
        except StopIteration:
            return
        except UnicodeDecodeError as exc:
            # Text streams decode in chunks, ahead of the lines handed out: find the line.
            raise BadRowError(
                f"{path}:{_first_undecodable_line(path)}: not UTF-8 text ({exc.reason}); "
                "convert the file to UTF-8"
            ) from None
        except (OSError, EOFError, zlib.error) as exc:
            raise BadRowError(
                f"{path}:{number + 1}: the file is corrupt or truncated ({type(exc).__name__}: "
                f"{exc}); re-create or re-download it"
            ) from None
        number += 1
        yield number, line


class RowMappingConfig(TaskReaderConfig):
    """Which fields of a row become which parts of a task."""

    # The field holding the task's query (Task.main_query).
    query_field: str = "main_query"
    # A row without the query field: an error, or an empty main_query (for workflows that build
    # their prompt from metadata, e.g. Countdown's target and numbers).
    missing_query: Literal["error", "empty"] = "error"
    # The main_query of rows without the query field, taking precedence over missing_query
    # (AgentJet's readers use 'Empty' for Hugging Face rows and '[not defined]' for JSONL rows).
    default_query: str | None = None
    # The field holding the task id; rows without one get an id derived from their content.
    id_field: str = "task_id"
    init_messages_field: str = "init_messages"
    env_type_field: str = "env_type"
    # env_type of rows that have no env_type field.
    env_type: str = ""
    # Fields copied into Task.metadata. None: the row's 'metadata' object when it has one (as in
    # AgentJet's files), else the whole row.
    metadata_fields: list[str] | None = Field(default=None)


def content_id(row: dict[str, Any]) -> str:
    """A stable id from a row's content: the same row gives the same id on every run."""
    canonical = json.dumps(
        row, sort_keys=True, ensure_ascii=False, default=str, separators=(",", ":")
    )
    return hashlib.blake2b(canonical.encode("utf-8"), digest_size=8).hexdigest()


class SeenKeys:
    """Exact membership of 64-bit keys at ~8 bytes per key (a Python set costs ~80).

    New keys collect in a small set; when it fills, it is merged into one sorted numpy array that
    membership checks binary-search. Keeps a million-row file's id check to a few megabytes.
    """

    def __init__(self, chunk: int = 65_536) -> None:
        self._recent: set[int] = set()
        self._sorted = np.empty(0, dtype=np.uint64)
        self._chunk = chunk

    def add(self, key: int) -> bool:
        """Add ``key``; False when it was already present."""
        if key in self._recent:
            return False
        if self._sorted.size:
            at = int(np.searchsorted(self._sorted, np.uint64(key)))
            if at < self._sorted.size and int(self._sorted[at]) == key:
                return False
        self._recent.add(key)
        if len(self._recent) >= self._chunk:
            merged = np.concatenate([self._sorted, np.fromiter(self._recent, dtype=np.uint64)])
            merged.sort()
            self._sorted = merged
            self._recent.clear()
        return True


def _key(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "little")


class RowMapper:
    """Maps the rows of one split to tasks and keeps their ids unique within the split."""

    def __init__(self, config: RowMappingConfig) -> None:
        self.config = config
        self._seen = SeenKeys()

    def to_task(self, row: Any, where: str) -> Task:
        c = self.config
        if not isinstance(row, dict):
            raise BadRowError(f"{where}: a row must be a JSON object, got {type(row).__name__}")
        if c.query_field in row and row[c.query_field] is not None:
            query = row[c.query_field]
            if not isinstance(query, str):
                query = (
                    json.dumps(query, ensure_ascii=False)
                    if isinstance(query, (dict, list))
                    else str(query)
                )
        elif c.default_query is not None:
            query = c.default_query
        elif c.missing_query == "empty":
            query = ""
        else:
            raise BadRowError(
                f"{where}: no field {c.query_field!r} (the row has: "
                f"{', '.join(sorted(map(str, row))) or 'nothing'}); set task_reader.query_field to "
                "the field holding the query, or task_reader.missing_query: empty when the "
                "workflow builds its prompt from metadata"
            )
        init_messages = row.get(c.init_messages_field) or []
        if not isinstance(init_messages, list) or not all(
            isinstance(m, dict) for m in init_messages
        ):
            raise BadRowError(
                f"{where}: {c.init_messages_field!r} must be a list of message objects"
            )
        if c.metadata_fields is None:
            nested = row.get("metadata")
            metadata = dict(nested) if isinstance(nested, dict) else dict(row)
        else:
            missing = [f for f in c.metadata_fields if f not in row]
            if missing:
                raise BadRowError(
                    f"{where}: metadata field(s) {missing} missing (the row has: "
                    f"{', '.join(sorted(row))}); fix task_reader.metadata_fields"
                )
            metadata = {f: row[f] for f in c.metadata_fields}
        env_type = row.get(c.env_type_field) or c.env_type
        return Task(
            main_query=query,
            init_messages=init_messages,
            task_id=self._task_id(row, where),
            env_type=str(env_type),
            metadata=metadata,
        )

    def _task_id(self, row: dict[str, Any], where: str) -> str:
        given = row.get(self.config.id_field)
        if given is not None and given != "":
            task_id = str(given)
            if not self._seen.add(_key("id:" + task_id)):
                raise BadRowError(
                    f"{where}: task id {task_id!r} was already used by an earlier row; ids must be "
                    "unique (each task is its own GRPO group): remove the duplicate row, or set "
                    "task_reader.id_field to a field that does not exist so ids come from content"
                )
            return task_id
        # AgentJet gave id-less rows one shared id, collapsing them into one GRPO group. Here the
        # id is the content's hash; an identical repeated row gets an occurrence suffix.
        base = content_id(row)
        occurrence = 1
        task_id = base
        while not self._seen.add(_key("id:" + task_id)):
            occurrence += 1
            task_id = f"{base}~{occurrence}"
        return task_id
