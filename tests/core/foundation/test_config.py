"""Config loading: defaults, overrides, errors that name key/value/fix, AgentJet YAMLs."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from ajet_core.config.loader import config_to_dict, load_config
from ajet_core.config.models import AjetConfig
from ajet_core.config.plugin_sections import validate_plugin_sections
from ajet_core.errors import ConfigError
from ajet_core.hookspecs import hookimpl
from ajet_core.judging import Judger, JudgerConfig

AGENTJET_MATH_YAML = """
ajet:
  project_name: example_math_agent
  task_reader:
    type: huggingface_dat_repo
    huggingface_dat_repo:
      dataset_path: '/data/gsm8k/main'
      training_split: "train"
      validation_split: "test"
  task_judge:
    judge_protocol: ajet.task_judge.math_answer_as_judge->MathAnswerAsJudge
  model:
    path: /models/Qwen2.5-7B-Instruct
  rollout:
    user_workflow: "tutorial.example_math_agent.math_agent->ExampleMathLearn"
    temperature: 0.7
    max_env_worker: 64
    num_repeat: 4
    agent_madness_reward: 0.0
    max_response_length_in_one_turn: 1024
  data:
    train_batch_size: 32
  debug:
    debug_max_parallel: 1
  trainer_common:
    save_freq: 100
    test_freq: 50
    total_epochs: 3
trinity:
  trainer:
    max_token_len_per_gpu: 13000
hydra:
  searchpath:
    - file://ajet/default_config
defaults:
  - ppo_trainer
  - ajet_default
  - _self_
"""


def write(tmp_path: Path, text: str, name: str = "config.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_defaults_live_in_code():
    config = AjetConfig()
    assert config.backbone.name == "debug"
    assert config.tracker.type == "timeline_merge"
    assert config.rollout.num_repeat == 4


def test_dotted_overrides_parse_values_as_yaml(tmp_path):
    path = write(tmp_path, "rollout:\n  num_repeat: 2\n")
    loaded = load_config(
        path, ["rollout.num_repeat=8", "trainer.lr=3e-6", "workflow.trainable_targets=[a, b]"]
    )
    assert loaded.config.rollout.num_repeat == 8
    assert loaded.config.trainer.lr == pytest.approx(3e-6)
    assert loaded.config.workflow.trainable_targets == ["a", "b"]


def test_misspelt_key_names_the_key_and_the_nearest_valid_one(tmp_path):
    path = write(tmp_path, "rollout:\n  num_repat: 8\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert "unknown config key 'rollout.num_repat'" in str(info.value)
    assert "did you mean 'rollout.num_repeat'?" in str(info.value)


def test_misspelt_section_is_reported(tmp_path):
    with pytest.raises(ConfigError, match="unknown config key 'rolout'; did you mean 'rollout'"):
        load_config(write(tmp_path, "rolout:\n  num_repeat: 8\n"))


def test_wrong_type_names_value_and_expected_type(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, "rollout:\n  num_repeat: many\n"))
    message = str(info.value)
    assert "'rollout.num_repeat'" in message and "'many'" in message and "integer" in message


def test_bad_override_syntax_is_explained():
    with pytest.raises(ConfigError, match="section.key=value"):
        load_config(None, ["rollout.num_repeat"])


def test_missing_file_and_bad_yaml_are_clear(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(write(tmp_path, "rollout: [unclosed\n"))


def test_backbone_flag_and_shorthand(tmp_path):
    assert load_config(write(tmp_path, "backbone: verl\n")).config.backbone.name == "verl"
    assert load_config(None, [], backbone="trinity").config.backbone.name == "trinity"


def _alias_bomb(levels: int = 9, width: int = 9) -> str:
    lines = ["a: &a [" + ", ".join(['"lol"'] * width) + "]"]
    previous = "a"
    for level in range(1, levels):
        name = f"l{level}"
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{previous}"] * width) + "]")
        previous = name
    return "\n".join(lines) + f"\nexperiment: {{name: *{previous}}}\n"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (_alias_bomb(), r"expands to [\d,]{11} values through its YAML aliases"),
        ("a: " + "[" * 5000 + "]" * 5000 + "\n", "is nested too deeply to read"),
    ],
    ids=["alias-bomb", "5000-deep"],
)
def test_yaml_that_would_hang_or_crash_the_loader_is_refused_at_once(tmp_path, content, message):
    path = tmp_path / "config.yaml"
    path.write_text(content)
    with pytest.raises(ConfigError, match=message) as caught:
        load_config(path)
    assert str(path) in str(caught.value) and len(str(caught.value)) < 500
    # The same through an override, as one flow mapping.
    flow = "{" + content.strip().replace("\n", ", ") + "}"
    with pytest.raises(ConfigError, match=message.split(" ")[0]):
        load_config(None, [f"workflow.options={flow}"])


def test_a_config_that_is_not_utf8_names_the_byte(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes("experiment: {name: caf\u00e9}\n".encode("latin-1"))
    with pytest.raises(
        ConfigError, match=r"is not UTF-8 text \(byte 22: b'\\xe9'\); save it as UTF-8"
    ):
        load_config(path)


def test_an_output_dir_that_is_a_file_is_a_config_error(tmp_path):
    from ajet_core.training.run_dir import create_run_dir

    occupied = tmp_path / "a-file"
    occupied.write_text("not a folder")
    config = AjetConfig.model_validate({"experiment": {"output_dir": str(occupied)}})
    with pytest.raises(ConfigError, match="experiment.output_dir=.*is a file"):
        create_run_dir(config)


def test_agentjet_yaml_maps_keys_and_reports_the_rest(tmp_path):
    loaded = load_config(write(tmp_path, AGENTJET_MATH_YAML))
    config = loaded.config
    assert config.experiment.project == "example_math_agent"
    assert config.task_reader.type == "huggingface"
    assert config.task_reader.plugin_options() == {
        "path": "/data/gsm8k/main",
        "train_split": "train",
        "validation_split": "test",
        "default_query": "Empty",  # AgentJet keeps rows without 'question'
    }
    # Never swapped for the built-in math_answer by its name (their rewards differ): the YAML's
    # judge is the one used, and a judge the project does not hold is named in a warning.
    assert config.judger.type == "ajet.task_judge.math_answer_as_judge->MathAnswerAsJudge"
    assert "math_answer_as_judge" in "\n".join(loaded.warnings)
    assert config.model.path == "/models/Qwen2.5-7B-Instruct"
    assert config.workflow.name == "tutorial.example_math_agent.math_agent->ExampleMathLearn"
    assert (config.rollout.temperature, config.rollout.max_concurrency) == (0.7, 64)
    assert config.rollout.max_tokens_per_call == 1024
    assert config.rollout.batch_size == 32
    assert (config.checkpoint.every_n_steps, config.eval.every_n_steps) == (100, 50)
    assert config.trainer.total_epochs == 3
    warnings = "\n".join(loaded.warnings)
    # Keys without a counterpart are reported by name, never dropped silently.
    for key in (
        "ajet.rollout.agent_madness_reward",
        "ajet.debug.debug_max_parallel",
        "'trinity'",
        "'defaults'",
        "'hydra'",
    ):
        assert key in warnings, f"{key} not reported in:\n{warnings}"


def test_agentjet_yaml_with_misspelt_our_key_still_errors(tmp_path):
    with pytest.raises(ConfigError, match="did you mean 'rollout.num_repeat'"):
        load_config(write(tmp_path, AGENTJET_MATH_YAML), ["rollout.num_repat=2"])


class _StrictJudgerConfig(JudgerConfig):
    threshold: float = 0.5


class _StrictJudger(Judger):
    config_model = _StrictJudgerConfig


_JUDGER_PLUGIN = SimpleNamespace(
    ajet_register_judgers=hookimpl(lambda registry: registry.add("strict", _StrictJudger))
)


def test_plugin_sections_are_validated_by_the_plugin(ajet_plugins, register_ajet_plugin):
    register_ajet_plugin(_JUDGER_PLUGIN, name="strict_plugin")
    config = load_config(None, ["judger.type=strict", "judger.threshold=0.9"]).config
    resolved = validate_plugin_sections(config, ajet_plugins, ("judger",))
    assert resolved["judger"].implementation is _StrictJudger
    assert resolved["judger"].options.threshold == 0.9

    bad = load_config(None, ["judger.type=strict", "judger.treshold=0.9"]).config
    with pytest.raises(ConfigError) as info:
        validate_plugin_sections(bad, ajet_plugins, ("judger",))
    assert "judger.treshold" in str(info.value) and "judger.threshold" in str(info.value)


def test_unknown_backbone_is_a_config_error(ajet_plugins):
    config = load_config(None, [], backbone="nonexistent").config
    with pytest.raises(ConfigError, match="unknown backbone 'nonexistent'.*backbone.name"):
        validate_plugin_sections(config, ajet_plugins, ("backbone",))


def test_resolved_config_round_trips_with_plugin_options(tmp_path):
    loaded = load_config(None, ["task_reader.type=jsonl", "task_reader.train_path=a.jsonl"])
    data = config_to_dict(loaded.config)
    assert data["task_reader"] == {"type": "jsonl", "train_path": "a.jsonl"}
    again = load_config(write(tmp_path, yaml.safe_dump(data)))
    assert config_to_dict(again.config) == data


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("rollout.num_repeat=1000000000", "less than or equal to 4096"),
        ("experiment.seed=1180591620717411303424", "less than or equal to 9223372036854775807"),
        ("experiment.seed=-1", "greater than or equal to 0"),
        ("experiment.name=../../x", "must be one non-empty folder name"),
        ("experiment.name=''", "must be one non-empty folder name"),
        ("rollout.batch_size=true", "True is a yes/no value; batch_size takes a number"),
        ("rollout.temperature=false", "False is a yes/no value; temperature takes a number"),
    ],
)
def test_counts_seeds_and_names_are_bounded_at_load(override, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(None, [override])


def test_a_nul_byte_in_a_path_is_refused_at_load():
    for field in ("experiment.output_dir", "model.path"):
        data = {field.split(".")[0]: {field.split(".")[1]: "runs\x00x"}}
        with pytest.raises(ValueError, match=re.escape(f"{field} holds a NUL byte")):
            AjetConfig.model_validate(data)


def test_a_key_written_twice_in_one_section_is_an_error_naming_both_lines(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("rollout:\n  batch_size: 8\n  num_repeat: 2\n  batch_size: 64\n")
    with pytest.raises(ConfigError, match=r"key 'batch_size' is written twice .*lines 2 and 4"):
        load_config(path)
    # The same key in two different sections is fine.
    path.write_text("rollout: {batch_size: 8}\neval: {max_tasks: 8}\n")
    assert load_config(path).config.rollout.batch_size == 8
