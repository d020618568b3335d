"""``jsonl`` task reader: JSON Lines files streamed line by line.

Example config::

    task_reader:
      type: jsonl
      train_path: data/train.jsonl          # one file, or a list of files (.jsonl or .jsonl.gz)
      validation_path: data/val.jsonl
      query_field: question                 # default main_query
      metadata_fields: [answer]             # default: the row's 'metadata' object, else the row
      on_bad_line: skip                     # default error
"""

from __future__ import annotations

import gzip
import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Literal

from pydantic import field_validator

from ajet_core.errors import ConfigError
from ajet_core.readers import TRAIN_SPLIT, VALIDATION_SPLIT, TaskReader
from ajet_core.schema import Task
from ajet_plugins_std.readers.rows import BadRowError, RowMapper, RowMappingConfig, numbered_lines

log = logging.getLogger(__name__)


class JsonlReaderConfig(RowMappingConfig):
    train_path: str | list[str] | None = None
    validation_path: str | list[str] | None = None
    # A bad line (invalid JSON, not an object, no query ...): stop with an error naming the file
    # and line, or skip it and count it (``skipped_lines``).
    on_bad_line: Literal["error", "skip"] = "error"

    def required_files(self) -> list[tuple[str, str]]:
        files = []
        for key in ("train_path", "validation_path"):
            value = getattr(self, key)
            files += [(key, path) for path in ([value] if isinstance(value, str) else value or [])]
        return files

    @field_validator("train_path", "validation_path")
    @classmethod
    def _non_empty(cls, value: str | list[str] | None) -> str | list[str] | None:
        if isinstance(value, list) and not value:
            raise ValueError("give at least one file, or leave the option out")
        return value


def _open_text(path: Path) -> IO[str]:
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8")
    return path.open("r", encoding="utf-8")


class JsonlTaskReader(TaskReader):
    # The training loop reads every row once before step 1, so a bad line fails the run at the
    # start rather than after hours of training (local files: one pass is cheap).
    validate_before_run = True
    options_model = JsonlReaderConfig
    options: JsonlReaderConfig

    def __init__(self, config: JsonlReaderConfig | None = None) -> None:
        super().__init__(config)
        # Lines skipped per split during the latest pass over it (on_bad_line: skip).
        self.skipped_lines: dict[str, int] = {}

    def _paths(self, split: str) -> list[Path]:
        configured = {
            TRAIN_SPLIT: self.options.train_path,
            VALIDATION_SPLIT: self.options.validation_path,
        }
        if split not in configured:
            raise ConfigError(
                f"jsonl reader has no split {split!r}; it serves {', '.join(configured)}"
            )
        value = configured[split]
        if value is None:
            raise ConfigError(
                f"jsonl reader: no file for split {split!r}; set task_reader.{split}_path"
            )
        paths = [Path(p) for p in ([value] if isinstance(value, str) else value)]
        for path in paths:
            if not path.is_file():
                raise ConfigError(
                    f"jsonl reader: {split} file {str(path)!r} does not exist (resolved to "
                    f"{path.resolve()}); relative paths start from the working directory"
                )
        return paths

    def splits(self) -> list[str]:
        return [
            s
            for s, p in (
                (TRAIN_SPLIT, self.options.train_path),
                (VALIDATION_SPLIT, self.options.validation_path),
            )
            if p
        ]

    def iter_tasks(self, split: str) -> Iterator[Task]:
        paths = self._paths(split)  # fail on a bad path now, not on the first next()
        return self._stream(split, paths)

    def _stream(self, split: str, paths: list[Path]) -> Iterator[Task]:
        mapper = RowMapper(self.options)
        skipped = 0
        self.skipped_lines[split] = 0
        for path in paths:
            with _open_text(path) as lines:
                for number, line in numbered_lines(path, lines):
                    if not line.strip():
                        continue
                    where = f"{path}:{number}"
                    try:
                        try:
                            row = json.loads(line)
                        except json.JSONDecodeError as exc:
                            raise BadRowError(
                                f"{where}: invalid JSON ({exc.msg} at column {exc.colno})"
                            ) from None
                        task = mapper.to_task(row, where)
                    except (BadRowError, ValueError) as exc:
                        if self.options.on_bad_line == "error":
                            raise BadRowError(
                                f"{exc} (set task_reader.on_bad_line: skip to skip and count such "
                                "lines)"
                            ) from None
                        skipped += 1
                        self.skipped_lines[split] = skipped
                        log.warning("skipping bad line: %s", exc)
                        continue
                    yield task
        if skipped:
            log.warning("jsonl reader skipped %d bad line(s) in split %r", skipped, split)
