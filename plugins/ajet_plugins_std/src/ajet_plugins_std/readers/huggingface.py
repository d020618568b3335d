"""``huggingface`` task reader: data sets from local files and folders through ``datasets``.

    task_reader:
      type: huggingface
      path: data/countdown               # a file, a folder of data files, or a save_to_disk folder
      train_split: train
      validation_split: test
      query_field: question              # default 'question', as in AgentJet
      missing_query: empty               # rows without a query (the workflow reads metadata)

Local paths never touch the Hugging Face Hub. A folder written by ``save_to_disk`` is opened
memory-mapped; data files (parquet, json/jsonl, csv, arrow) are streamed, so memory stays flat
however large they are. Split names inside a folder come from the file names, as ``datasets``
infers them (``train-00000-of-00001.parquet`` -> ``train``); a single file is the ``train``
split unless ``data_files`` says otherwise.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from ajet_core.errors import ConfigError
from ajet_core.readers import TRAIN_SPLIT, VALIDATION_SPLIT, TaskReader
from ajet_core.schema import Task
from ajet_plugins_std.readers.rows import RowMapper, RowMappingConfig

FORMATS = {
    ".parquet": "parquet",
    ".json": "json",
    ".jsonl": "json",
    ".csv": "csv",
    ".arrow": "arrow",
}
HUB_OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")


class HuggingFaceReaderConfig(RowMappingConfig):
    path: str
    train_split: str = "train"
    validation_split: str = "validation"
    query_field: str = "question"
    # File format; 'auto' infers it from the file extensions.
    format: Literal["auto", "parquet", "json", "csv", "arrow"] = "auto"
    # Explicit files per split name, relative to 'path' when it is a folder:
    # {"train": "a.parquet", "test": ["b.parquet", "c.parquet"]}.
    data_files: dict[str, str | list[str]] | None = None
    # Allow a Hub dataset name when 'path' is not a local file or folder (needs network).
    allow_hub: bool = False
    # datasets' cache for Hub downloads (local files are streamed and need none).
    cache_dir: str | None = Field(default=None)


def _is_save_to_disk_folder(path: Path) -> bool:
    return path.is_dir() and (
        (path / "dataset_dict.json").is_file()
        or (path / "dataset_info.json").is_file()
        and (path / "state.json").is_file()
    )


class HuggingFaceTaskReader(TaskReader):
    options_model = HuggingFaceReaderConfig
    options: HuggingFaceReaderConfig

    def __init__(self, config: HuggingFaceReaderConfig | None = None) -> None:
        if config is None:
            raise ConfigError("the huggingface reader needs task_reader.path")
        super().__init__(config)

    def _split_name(self, split: str) -> str:
        mapping = {
            TRAIN_SPLIT: self.options.train_split,
            VALIDATION_SPLIT: self.options.validation_split,
        }
        if split not in mapping:
            raise ConfigError(
                f"huggingface reader has no split {split!r}; it serves {', '.join(mapping)}"
            )
        return mapping[split]

    # -- opening the data ---------------------------------------------------------------------
    def _format(self, files: list[str]) -> str:
        if self.options.format != "auto":
            return self.options.format
        suffixes = {Path(f.removesuffix(".gz")).suffix.lower() for f in files}
        formats = {FORMATS.get(s) for s in suffixes}
        if len(formats) != 1 or None in formats:
            raise ConfigError(
                f"huggingface reader: cannot tell the format of {files[:5]} (extensions "
                f"{sorted(suffixes)}); set task_reader.format to one of parquet, json, csv, arrow"
            )
        return formats.pop()  # type: ignore[return-value]

    def _local_files(self, root: Path) -> dict[str, list[str]]:
        if self.options.data_files is not None:
            base = root if root.is_dir() else root.parent
            return {
                name: [str(base / f) for f in ([files] if isinstance(files, str) else files)]
                for name, files in self.options.data_files.items()
            }
        if root.is_file():
            return {"train": [str(root)]}
        from datasets.data_files import DataFilesDict, get_data_patterns

        patterns = get_data_patterns(str(root))
        resolved = DataFilesDict.from_patterns(patterns, base_path=str(root))
        return {str(name): list(files) for name, files in resolved.items()}

    def _open(self, split_name: str) -> Any:
        import datasets

        root = Path(self.options.path).expanduser()
        if _is_save_to_disk_folder(root):
            loaded = datasets.load_from_disk(str(root))
            if isinstance(loaded, datasets.DatasetDict):
                if split_name not in loaded:
                    raise ConfigError(self._no_split(split_name, list(loaded)))
                return loaded[split_name]
            if split_name != "train":
                raise ConfigError(self._no_split(split_name, ["train (a single saved Dataset)"]))
            return loaded
        if root.exists():
            files = self._local_files(root)
            if split_name not in files:
                raise ConfigError(self._no_split(split_name, list(files)))
            builder = self._format(files[split_name])
            return datasets.load_dataset(
                builder,
                data_files={split_name: files[split_name]},
                split=split_name,
                streaming=True,
            )
        return self._open_hub(split_name)

    def _open_hub(self, split_name: str) -> Any:
        path = self.options.path
        offline = [
            v
            for v in HUB_OFFLINE_VARIABLES
            if os.environ.get(v, "").lower() in ("1", "true", "yes")
        ]
        if not self.options.allow_hub or offline:
            why = (
                f"{' and '.join(offline)} is set (offline)"
                if offline
                else "task_reader.allow_hub is false"
            )
            raise ConfigError(
                f"huggingface reader: {path!r} is not a local file or folder (looked at "
                f"{Path(path).expanduser().resolve()}), and the Hub is not used because {why}. "
                "Point task_reader.path at local files or a save_to_disk folder; to fetch a Hub "
                "data set, run datasets.load_dataset(name).save_to_disk(folder) on a machine with "
                "network" + ("" if offline else ", or set task_reader.allow_hub: true")
            )
        import datasets

        try:
            return datasets.load_dataset(
                path, split=split_name, streaming=True, cache_dir=self.options.cache_dir
            )
        except Exception as exc:  # noqa: BLE001 - network, auth and missing-name errors all mean the same here
            raise ConfigError(
                f"huggingface reader: could not load {path!r} from the Hugging Face Hub "
                f"({type(exc).__name__}: {str(exc)[:300]}); without network, use local files or a "
                "save_to_disk folder"
            ) from None

    def _no_split(self, split_name: str, available: list[str]) -> str:
        return (
            f"huggingface reader: {self.options.path!r} has no split {split_name!r} (it has: "
            f"{', '.join(available) or 'none'}); set task_reader.train_split / validation_split, "
            "or task_reader.data_files"
        )

    # -- the reader interface -----------------------------------------------------------------
    def splits(self) -> list[str]:
        return [TRAIN_SPLIT, VALIDATION_SPLIT]

    def iter_tasks(self, split: str) -> Iterator[Task]:
        split_name = self._split_name(split)
        dataset = self._open(split_name)  # errors now, not on the first next()
        return self._stream(dataset, split_name)

    def _stream(self, dataset: Any, split_name: str) -> Iterator[Task]:
        mapper = RowMapper(self.options)
        for index, row in enumerate(dataset):
            yield mapper.to_task(dict(row), f"{self.options.path} [{split_name} row {index}]")
