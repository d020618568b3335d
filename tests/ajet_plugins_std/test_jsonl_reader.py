"""The jsonl reader: field mapping, content ids, bad lines, streaming, and the conformance kit."""

from __future__ import annotations

import gzip
import json

import pytest
from ajet_plugins_std.readers.jsonl import JsonlReaderConfig, JsonlTaskReader
from ajet_plugins_std.readers.rows import BadRowError

from ajet_core.errors import ConfigError
from ajet_core.testing import TaskReaderConformance


def write_jsonl(path, rows):
    path.write_text(
        "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8"
    )
    return path


def reader(**options):
    return JsonlTaskReader(JsonlReaderConfig(**options))


class TestJsonlConformance(TaskReaderConformance):
    registered_name = "jsonl"

    @pytest.fixture
    def reader(self, tmp_path):
        rows = [{"main_query": f"q{i}", "answer": i} for i in range(5)] + [
            {"main_query": "q0", "answer": 0}
        ]
        return JsonlTaskReader(
            JsonlReaderConfig(train_path=str(write_jsonl(tmp_path / "t.jsonl", rows)))
        )


def test_field_mapping_query_metadata_and_explicit_ids(tmp_path):
    path = write_jsonl(
        tmp_path / "t.jsonl",
        [
            {"question": "2+2?", "answer": "4", "source": "x", "id": "a"},
            {"question": "3+3?", "answer": "6", "source": "y", "id": "b", "env_type": "math"},
        ],
    )
    tasks = list(
        reader(
            train_path=str(path),
            query_field="question",
            id_field="id",
            metadata_fields=["answer"],
            env_type="default_env",
        ).iter_tasks("train")
    )
    assert [(t.task_id, t.main_query, t.metadata, t.env_type) for t in tasks] == [
        ("a", "2+2?", {"answer": "4"}, "default_env"),
        ("b", "3+3?", {"answer": "6"}, "math"),
    ]


def test_agentjet_row_format_uses_the_nested_metadata_object(tmp_path):
    row = {
        "main_query": "hi",
        "init_messages": [{"role": "system", "content": "be brief"}],
        "task_id": "t1",
        "env_type": "chat",
        "metadata": {"answer": "hello"},
    }
    (task,) = reader(train_path=str(write_jsonl(tmp_path / "t.jsonl", [row]))).iter_tasks("train")
    assert task.model_dump() == {
        "main_query": "hi",
        "init_messages": row["init_messages"],
        "task_id": "t1",
        "env_type": "chat",
        "metadata": {"answer": "hello"},
    }


def test_content_ids_are_stable_distinct_and_repeated_rows_stay_separate(tmp_path):
    rows = [{"main_query": "a"}, {"main_query": "b"}, {"main_query": "a"}]
    path = write_jsonl(tmp_path / "t.jsonl", rows)
    ids = [t.task_id for t in reader(train_path=str(path)).iter_tasks("train")]
    assert len(set(ids)) == 3 and ids[2] == ids[0] + "~2"
    # The id depends on the row's content, not on its position or the run.
    moved = write_jsonl(tmp_path / "moved.jsonl", [{"main_query": "z"}, {"main_query": "b"}])
    assert [t.task_id for t in reader(train_path=str(moved)).iter_tasks("train")][1] == ids[1]


def test_duplicate_explicit_id_is_an_error_naming_the_line(tmp_path):
    path = write_jsonl(
        tmp_path / "t.jsonl", [{"main_query": "a", "task_id": 7}, {"main_query": "b", "task_id": 7}]
    )
    with pytest.raises(BadRowError, match=r"t\.jsonl:2: task id '7' was already used"):
        list(reader(train_path=str(path)).iter_tasks("train"))


def test_bad_line_is_an_error_naming_file_and_line(tmp_path):
    path = write_jsonl(
        tmp_path / "bad.jsonl", [{"main_query": "ok"}, "{not json", {"main_query": "ok2"}]
    )
    with pytest.raises(BadRowError, match=r"bad\.jsonl:2: invalid JSON .*on_bad_line: skip"):
        list(reader(train_path=str(path)).iter_tasks("train"))


def test_bad_lines_are_skipped_and_counted_when_configured(tmp_path):
    path = write_jsonl(
        tmp_path / "bad.jsonl",
        [
            {"main_query": "ok"},
            "{not json",
            "[1, 2]",
            {"no_query": 1},
            "",
            {"main_query": "ok2"},
        ],
    )
    r = reader(train_path=str(path), on_bad_line="skip")
    assert [t.main_query for t in r.iter_tasks("train")] == ["ok", "ok2"]
    assert r.skipped_lines == {"train": 3}


def test_missing_query_names_the_fields_and_the_options(tmp_path):
    path = write_jsonl(tmp_path / "t.jsonl", [{"target": 24, "nums": [1, 2, 3]}])
    with pytest.raises(
        BadRowError, match=r"no field 'main_query' \(the row has: nums, target\).*query_field"
    ):
        list(reader(train_path=str(path)).iter_tasks("train"))
    (task,) = reader(train_path=str(path), missing_query="empty").iter_tasks("train")
    assert task.main_query == "" and task.metadata == {"target": 24, "nums": [1, 2, 3]}


def test_several_files_and_gzip(tmp_path):
    first = write_jsonl(tmp_path / "a.jsonl", [{"main_query": "a"}])
    second = tmp_path / "b.jsonl.gz"
    with gzip.open(second, "wt", encoding="utf-8") as f:
        f.write(json.dumps({"main_query": "b"}) + "\n")
    r = reader(train_path=[str(first), str(second)], validation_path=str(first))
    assert [t.main_query for t in r.iter_tasks("train")] == ["a", "b"]
    assert [t.main_query for t in r.iter_tasks("validation")] == ["a"]
    assert r.splits() == ["train", "validation"]


def test_missing_file_and_unknown_split_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match=r"train file '.*nope\.jsonl' does not exist"):
        reader(train_path=str(tmp_path / "nope.jsonl")).iter_tasks("train")
    with pytest.raises(ConfigError, match=r"no file for split 'validation'.*validation_path"):
        reader(train_path=str(tmp_path / "x")).iter_tasks("validation")
    with pytest.raises(ConfigError, match="no split 'test'"):
        reader(train_path=str(tmp_path / "x")).iter_tasks("test")


def test_streams_lazily(tmp_path):
    # A bad line far down the file does not stop the first tasks from arriving.
    path = write_jsonl(tmp_path / "t.jsonl", [{"main_query": "first"}] + ["{broken"])
    stream = reader(train_path=str(path)).iter_tasks("train")
    assert next(stream).main_query == "first"
    with pytest.raises(BadRowError):
        next(stream)


def test_unknown_option_is_rejected_with_its_name():
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="trian_path"):
        JsonlReaderConfig(trian_path="x")
