"""A config selects every std reader and judger by name; their options are checked at load time."""

from __future__ import annotations

import json

import pytest
import yaml

from ajet_core.config.loader import load_config
from ajet_core.config.plugin_sections import resolve_section
from ajet_core.errors import ConfigError
from ajet_core.judging import Judger
from ajet_core.readers import TaskReader
from ajet_core.testing import isolated_plugin_manager


@pytest.fixture
def plugins():
    with isolated_plugin_manager(["ajet-core", "ajet-plugins-std"]) as manager:
        yield manager


def write_config(tmp_path, data):
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


READERS = {
    "jsonl": {"train_path": "t.jsonl", "query_field": "question", "on_bad_line": "skip"},
    "huggingface": {"path": "data/", "validation_split": "test"},
    "env_service": {"url": "http://127.0.0.1:1", "env_type": "frozenlake"},
    "generated": {"documents": ["docs/"], "base_url": "http://127.0.0.1:1/v1", "model": "m"},
}
JUDGERS = {
    "math_answer": {"timeout": 2.0},
    "countdown": {"format_reward": 0.1},
    "exact_match": {"extract": "boxed"},
    "regex": {"pattern": "yes"},
    "llm_judge": {"base_url": "http://127.0.0.1:1/v1", "model": "judge", "rubric": "be right"},
    "env_service": {"shaping": "agentjet"},
}


@pytest.mark.parametrize("name", sorted(READERS))
def test_each_reader_is_selected_by_name_with_validated_options(tmp_path, plugins, name):
    config = load_config(
        write_config(tmp_path, {"task_reader": {"type": name, **READERS[name]}})
    ).config
    resolved = resolve_section(config, "task_reader", plugins)
    reader = resolved.implementation(resolved.options)
    assert isinstance(reader, TaskReader) and type(reader).__module__.endswith(f"readers.{name}")
    for key, value in READERS[name].items():
        assert getattr(reader.config, key) == value


@pytest.mark.parametrize("name", sorted(JUDGERS))
def test_each_judger_is_selected_by_name_with_validated_options(tmp_path, plugins, name):
    config = load_config(write_config(tmp_path, {"judger": {"type": name, **JUDGERS[name]}})).config
    resolved = resolve_section(config, "judger", plugins)
    judger = resolved.implementation(resolved.options)
    try:
        assert isinstance(judger, Judger) and type(judger).__module__.endswith(f"judgers.{name}")
        for key, value in JUDGERS[name].items():
            assert getattr(judger.config, key) == value
    finally:
        getattr(judger, "close", lambda: None)()


def test_a_misspelt_option_is_an_error_naming_section_key_and_plugin(tmp_path, plugins):
    config = load_config(
        write_config(tmp_path, {"task_reader": {"type": "jsonl", "train_pth": "x"}})
    ).config
    with pytest.raises(ConfigError, match=r"task_reader\.train_pth.*jsonl"):
        resolve_section(config, "task_reader", plugins)
    config = load_config(
        write_config(tmp_path, {"judger": {"type": "countdown", "format_reward": -1}})
    ).config
    with pytest.raises(ConfigError, match=r"judger\.format_reward"):
        resolve_section(config, "judger", plugins)


def test_agentjet_reader_and_judge_sections_translate_to_std_plugins(tmp_path, plugins):
    data_file = tmp_path / "train.jsonl"
    data_file.write_text(
        json.dumps({"main_query": "2+2?", "metadata": {"answer": "4"}}) + "\n", encoding="utf-8"
    )
    agentjet = {
        "ajet": {
            "task_reader": {
                "type": "jsonl_dataset_file",
                "jsonl_dataset_file": {
                    "training": {"file_path": str(data_file)},
                    "validation": {"file_path": str(data_file)},
                },
            },
            "task_judge": {
                # A judge of AgentJet's own package maps to ours, with AgentJet's reward formula
                # (tutorial judges are not mapped: the project's file runs).
                "judge_protocol": "ajet.task_judge.env_service_as_judge->EnvServiceJudge"
            },
        }
    }
    config = load_config(write_config(tmp_path, agentjet)).config
    reader_plugin = resolve_section(config, "task_reader", plugins)
    (task,) = reader_plugin.implementation(reader_plugin.options).iter_tasks("train")
    assert task.metadata == {"answer": "4"}
    judger_plugin = resolve_section(config, "judger", plugins)
    assert judger_plugin.name == "env_service"
    assert judger_plugin.options.shaping == "agentjet"
