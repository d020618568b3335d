"""The suites file: each named entry is one tutorial run as a benchmark (its config, the script
that makes its data, its step count and its held-out evaluation).

Suites are data, not code: adding one is an edit to ``benchmarks/suites.yaml`` (or a file of
your own passed with ``--suites``), and a test can write a tiny-model entry of its own. Paths in
an entry are relative to the directory ``ajet bench`` runs in (the repository root), exactly as
the tutorials' own configs name their workflow and data files.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ajet_core.bench import DEFAULT_SUITES_FILE
from ajet_core.errors import ConfigError

SUITES_SCHEMA_VERSION = 1


class SuiteEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    task: str = Field(description="what is learned, short (the report's task column)")
    description: str = ""
    config: Path = Field(description="the tutorial's run config")
    data_script: Path | None = Field(
        default=None,
        description="the tutorial's make_data.py; run with --out <work dir>/data, and the run "
        "reads train.jsonl / validation.jsonl from there",
    )
    data_args: list[str] = Field(default_factory=list)
    steps: int = Field(gt=0, description="trainer.total_steps of the benchmark run")
    held_out_tasks: int | None = Field(
        default=None, gt=0, description="eval.max_tasks (default: the whole validation split)"
    )
    overrides: list[str] = Field(
        default_factory=list, description="dotted KEY=VALUE overrides applied after the config"
    )


class SuitesFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_version: Literal[1] = SUITES_SCHEMA_VERSION
    suites: dict[str, SuiteEntry]


def load_suites(path: Path) -> SuitesFile:
    if not path.is_file():
        raise ConfigError(
            f"suites file {str(path)!r} does not exist; run `ajet bench` from the repository "
            f"root (it reads {DEFAULT_SUITES_FILE}) or pass --suites FILE"
        )
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"suites file {str(path)!r} is not valid YAML: {exc}") from None
    try:
        return SuitesFile.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc']) or 'the file'}: {error['msg']}"
            for error in exc.errors()
        )
        raise ConfigError(
            f"suites file {str(path)!r} is not a valid suites file ({problems}); see "
            "docs/bench.md for the format"
        ) from None


def get_suite(suites: SuitesFile, name: str, path: Path) -> SuiteEntry:
    if name in suites.suites:
        return suites.suites[name]
    known = sorted(suites.suites)
    close = difflib.get_close_matches(name, known, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    raise ConfigError(
        f"unknown bench suite {name!r}; {hint}{str(path)!r} defines {', '.join(known)} "
        "(`ajet bench list` shows them; add an entry there or pass --suites FILE)"
    )
