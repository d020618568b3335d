"""The huggingface reader on local files and folders, never touching the Hub."""

from __future__ import annotations

import socket

import datasets
import pytest
from ajet_plugins_std.readers.huggingface import HuggingFaceReaderConfig, HuggingFaceTaskReader

from ajet_core.errors import ConfigError
from ajet_core.testing import TaskReaderConformance

ROWS = [
    {"question": f"What is {i} + {i}?", "answer": str(2 * i), "level": i % 3} for i in range(12)
]


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Any connection attempt fails the test: local paths must not reach for the Hub."""
    attempts = []

    def refuse(self, address):
        attempts.append(address)
        raise OSError(f"network disabled in this test (tried {address})")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    yield attempts
    assert attempts == [], f"the reader tried to connect to {attempts}"


@pytest.fixture(scope="module")
def parquet_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("countdown")
    full = datasets.Dataset.from_list(ROWS)
    full.select(range(8)).to_parquet(str(folder / "train-00000-of-00001.parquet"))
    full.select(range(8, 12)).to_parquet(str(folder / "test-00000-of-00001.parquet"))
    return folder


def reader(**options):
    return HuggingFaceTaskReader(HuggingFaceReaderConfig(**options))


class TestHuggingFaceConformance(TaskReaderConformance):
    registered_name = "huggingface"

    @pytest.fixture
    def reader(self, parquet_folder):
        return HuggingFaceTaskReader(
            HuggingFaceReaderConfig(path=str(parquet_folder), validation_split="test")
        )


def test_parquet_folder_splits_from_file_names(parquet_folder):
    r = reader(path=str(parquet_folder), validation_split="test", metadata_fields=["answer"])
    train = list(r.iter_tasks("train"))
    validation = list(r.iter_tasks("validation"))
    assert [t.main_query for t in train] == [row["question"] for row in ROWS[:8]]
    assert [t.metadata for t in validation] == [{"answer": row["answer"]} for row in ROWS[8:]]


def test_save_to_disk_folder(tmp_path):
    full = datasets.Dataset.from_list(ROWS)
    datasets.DatasetDict(
        {"train": full.select(range(5)), "validation": full.select(range(5, 7))}
    ).save_to_disk(str(tmp_path / "saved"))
    r = reader(path=str(tmp_path / "saved"))
    assert len(list(r.iter_tasks("train"))) == 5
    assert [t.metadata["answer"] for t in r.iter_tasks("validation")] == ["10", "12"]


@pytest.mark.parametrize("kind", ["jsonl", "csv"])
def test_single_files_and_explicit_data_files(tmp_path, kind):
    full = datasets.Dataset.from_list(ROWS)
    train, test = tmp_path / f"train.{kind}", tmp_path / f"held_out.{kind}"
    if kind == "jsonl":
        full.select(range(6)).to_json(str(train))
        full.select(range(6, 9)).to_json(str(test))
    else:
        full.select(range(6)).to_csv(str(train), index=False)
        full.select(range(6, 9)).to_csv(str(test), index=False)
    assert len(list(reader(path=str(train)).iter_tasks("train"))) == 6
    r = reader(path=str(tmp_path), data_files={"train": train.name, "validation": [test.name]})
    validation = list(r.iter_tasks("validation"))
    assert [str(t.metadata["answer"]) for t in validation] == ["12", "14", "16"]


def test_arrow_files(tmp_path):
    datasets.Dataset.from_list(ROWS).save_to_disk(str(tmp_path / "saved"))
    arrow_files = sorted(p.name for p in (tmp_path / "saved").glob("*.arrow"))
    r = reader(path=str(tmp_path / "saved"), format="arrow", data_files={"train": arrow_files})
    # A folder holding dataset_info.json + state.json is opened as a save_to_disk folder.
    assert len(list(r.iter_tasks("train"))) == 12


def test_rows_without_the_query_field(parquet_folder):
    with pytest.raises(ValueError, match=r"no field 'prompt'.*missing_query: empty"):
        list(reader(path=str(parquet_folder), query_field="prompt").iter_tasks("train"))
    tasks = list(
        reader(path=str(parquet_folder), query_field="prompt", missing_query="empty").iter_tasks(
            "train"
        )
    )
    assert tasks[0].main_query == "" and tasks[0].metadata["answer"] == "0"


def test_missing_split_lists_the_available_ones(parquet_folder):
    with pytest.raises(ConfigError, match=r"has no split 'validation' \(it has: train, test\)"):
        reader(path=str(parquet_folder)).iter_tasks("validation")


def test_hub_name_without_network_says_so(monkeypatch):
    with pytest.raises(
        ConfigError,
        match=(
            r"'someone/countdown' is not a local file or folder"
            r".*allow_hub is false.*save_to_disk"
        ),
    ):
        reader(path="someone/countdown").iter_tasks("train")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ConfigError, match=r"HF_HUB_OFFLINE is set \(offline\)"):
        reader(path="someone/countdown", allow_hub=True).iter_tasks("train")
